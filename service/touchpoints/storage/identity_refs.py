"""Identities' opaque references: a keyed hash (HMAC-SHA256, under a key derived from the code
secret by HKDF) of the brand, the type and the normalised value. The log and the projections
name an identity by it; without the key, a phone number cannot be found from it."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class HmacIdentityRefs:
    def __init__(self, secret: bytes) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"tracecert:identity:v1"
        ).derive(secret)

    def __call__(self, brand_id: int, kind: str, value: str) -> str:
        message = f"{brand_id}\0{kind}\0{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]
