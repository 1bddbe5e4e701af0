"""The ``Secrets`` port: keys derived from one configured secret, AES-GCM sealing at rest.

``TRACECERT_CODE_SECRET`` is the only secret an operator configures for codes. Two keys are
derived from it with HKDF-SHA256 (RFC 5869), one per purpose, so none can stand in for
another: the key of the PIN hashes, the key of one-time sign-in code hashes, the key that
signs consumer session tokens, and the AES-256-GCM key that seals PIN seeds. Consumer wallet
keys are sealed under a key of their own (``TRACECERT_WALLET_KEK``, see ``wallets``).
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


class AesGcmSecrets:
    """Derived keys and sealing; ``seal`` output is ``nonce || ciphertext || tag``."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the code secret must be at least 16 bytes")
        self._pin_key = _derive(secret, b"tracecert:pin-hash:v1")
        self._otp_key = _derive(secret, b"tracecert:otp-hash:v1")
        self._session_key = _derive(secret, b"tracecert:session-jwt:v1")
        self._aead = AESGCM(_derive(secret, b"tracecert:seal:v1"))

    @property
    def pin_key(self) -> bytes:
        return self._pin_key

    @property
    def otp_key(self) -> bytes:
        return self._otp_key

    @property
    def session_key(self) -> bytes:
        return self._session_key

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def unseal(self, sealed: bytes, context: bytes) -> bytes:
        """Raises ``cryptography.exceptions.InvalidTag`` if the data or context were altered."""
        return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context)
