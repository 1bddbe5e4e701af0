"""Item serials and hidden claim PINs.

Serials are 20 characters of Crockford's base32 alphabet (``0-9`` and ``A-Z`` without
``I L O U``): 100 bits from the operating system's CSPRNG, inside GS1's AI 21 character set
and its 20-character limit, and easy to read aloud or type from a label.

A PIN is never stored. Each batch has a random 32-byte *PIN seed* (kept encrypted until the
batch's codes are activated, then destroyed); an item's PIN is derived from the seed and its
serial, so the one print file can be produced without a table of PINs. What the database keeps
is a keyed hash of serial and PIN, which is enough to check a claim and useless to a thief
without the key.

Both the derivation and the stored hash are keyed BLAKE2s (RFC 7693: keyed BLAKE2 is a PRF
and a MAC), three times faster here than HMAC-SHA256, which matters at a million codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable

#: Crockford's base32 alphabet, and the RFC 4648 one that ``base64.b32encode`` speaks.
CROCKFORD = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RFC4648 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = bytes.maketrans(_RFC4648, CROCKFORD)

SERIAL_LENGTH = 20  # 100 bits
PIN_LENGTH = 8  # 40 bits; guessing is stopped by per-item and per-account lockouts
PIN_SEED_BYTES = 32

# Typing mistakes Crockford's alphabet forgives: O is 0, I and L are 1; separators are ignored.
_PIN_INPUT = bytes.maketrans(b"OIL", b"011")


def new_serials(count: int, randbytes: Callable[[int], bytes] = os.urandom) -> list[str]:
    """Return ``count`` fresh random serials (uniqueness is enforced by the database).

    Two serials are exactly 25 random bytes, so the whole run is one ``randbytes`` call and
    one C-level base32 pass: about 0.3 us per serial.
    """
    if count <= 0:
        return []
    pairs = (count + 1) // 2
    raw = randbytes(25 * pairs)
    text = base64.b32encode(raw).translate(_TO_CROCKFORD).decode("ascii")
    return [text[i : i + SERIAL_LENGTH] for i in range(0, SERIAL_LENGTH * count, SERIAL_LENGTH)]


def is_serial(value: str) -> bool:
    """Return whether ``value`` has the shape of a generated serial."""
    return (
        isinstance(value, str)
        and len(value) == SERIAL_LENGTH
        and all(ord(c) < 128 and c.encode() in CROCKFORD for c in value)
    )


def new_pin_seed() -> bytes:
    """Return a fresh batch PIN seed."""
    return secrets.token_bytes(PIN_SEED_BYTES)


def derive_pin(seed: bytes, serial: str) -> str:
    """Return the PIN of ``serial`` in the batch whose PIN seed is ``seed``."""
    mac = hashlib.blake2s(serial.encode("ascii"), key=seed, digest_size=5).digest()
    return base64.b32encode(mac).translate(_TO_CROCKFORD).decode("ascii")


def derive_pins(seed: bytes, serials: list[str]) -> list[str]:
    """Return :func:`derive_pin` for many serials, with one base32 pass for all of them."""
    b2s = hashlib.blake2s
    raw = b"".join(b2s(s.encode("ascii"), key=seed, digest_size=5).digest() for s in serials)
    text = base64.b32encode(raw).translate(_TO_CROCKFORD).decode("ascii")
    return [text[i : i + PIN_LENGTH] for i in range(0, PIN_LENGTH * len(serials), PIN_LENGTH)]


def pin_hashes(seed: bytes, key: bytes, serials: list[str]) -> list[bytes]:
    """Return the keyed PIN hashes of many serials of one batch (generation's hot loop).

    Same result as ``pin_hash(key, s, derive_pin(seed, s))`` for each serial, with one
    base32 pass over all the PINs instead of one per serial.
    """
    b2s = hashlib.blake2s
    raw = b"".join(b2s(s.encode("ascii"), key=seed, digest_size=5).digest() for s in serials)
    text = base64.b32encode(raw).translate(_TO_CROCKFORD)
    return [
        b2s(
            b"tracecert:pin:" + s.encode("ascii") + b":" + text[8 * n : 8 * n + 8], key=key
        ).digest()
        for n, s in enumerate(serials)
    ]


def format_pin(pin: str) -> str:
    """Return a PIN as printed under the cap: two groups of four, ``7K3M-Q9XD``."""
    return f"{pin[:4]}-{pin[4:]}"


def normalise_pin(text: str) -> str | None:
    """Return the canonical PIN for what a person typed, or None if it cannot be one.

    Case, spaces and hyphens are ignored; ``O`` reads as ``0`` and ``I``/``L`` as ``1``.
    """
    # ASCII first: some letters upper-case into ASCII (dotless i -> "I", long s -> "S").
    if not isinstance(text, str) or len(text) > 32 or not text.isascii():
        return None
    cleaned = text.upper().replace("-", "").replace(" ", "")
    if len(cleaned) != PIN_LENGTH:
        return None
    canonical = cleaned.encode("ascii").translate(_PIN_INPUT)
    if any(c not in CROCKFORD for c in canonical):
        return None
    return canonical.decode("ascii")


def pin_hash(key: bytes, serial: str, pin: str) -> bytes:
    """Return the keyed hash of a serial's PIN: what the database keeps instead of the PIN."""
    message = b"tracecert:pin:" + serial.encode("ascii") + b":" + pin.encode("ascii")
    return hashlib.blake2s(message, key=key).digest()


def pin_matches(key: bytes, serial: str, typed: str, stored: bytes) -> bool:
    """Return whether ``typed`` is the PIN whose keyed hash is ``stored`` (constant time)."""
    pin = normalise_pin(typed)
    if pin is None:
        return False
    return hmac.compare_digest(pin_hash(key, serial, pin), stored)
