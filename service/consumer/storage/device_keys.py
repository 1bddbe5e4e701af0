"""Anonymous devices: an opaque id for a device without a cookie, and the keyed hash a scan
stores (no raw address is ever kept)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: A device id as the ``tc_device`` cookie carries it (ours are 22 characters).
DEVICE_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# ----------------------------------------------------------------------------- device keys
class HmacDeviceKeys:
    """Device ids and their stored hashes, under a key derived from the code secret (HKDF)."""

    def __init__(self, secret: bytes) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"tracecert:device:v1"
        ).derive(secret)

    def device_id(self, client: str, user_agent: str) -> str:
        digest = hmac.new(
            self._key, b"id\0" + client.encode() + b"\0" + user_agent.encode(), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()

    def device_hash(self, device_id: str) -> bytes:
        return hmac.new(self._key, b"hash\0" + device_id.encode(), hashlib.sha256).digest()[:16]

    def network_hash(self, network: str) -> bytes:
        """The keyed hash of a counting network (``203.0.113.0/24``): never stored in clear."""
        return hmac.new(self._key, b"net\0" + network.encode(), hashlib.sha256).digest()[:16]

    def member_hash(self, account_id: int) -> bytes:
        """The keyed hash of a signed-in member: the source its scans count as."""
        return hmac.new(self._key, b"member\0%d" % account_id, hashlib.sha256).digest()[:16]


def is_device_id(value: str | None) -> bool:
    """Whether a cookie value has the shape of a device id (anything else is ignored)."""
    return value is not None and 16 <= len(value) <= 64 and set(value) <= DEVICE_ID_CHARS
