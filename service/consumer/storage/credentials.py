"""Consumer identity adapters: custodial wallets, one-time code delivery, session tokens (JWT).

Wallet keys are made with eth-account from the operating system's CSPRNG and sealed with
AES-256-GCM under a key derived (HKDF) from ``TRACECERT_WALLET_KEK``, bound to the wallet's
address as associated data, so a sealed key moved onto another account row does not open.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from datetime import datetime

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.consumer.domain.accounts import Destination

log = logging.getLogger(__name__)
_NONCE = 12


class SealedWallets:
    """The ``Wallets`` port: keys made here, kept sealed, opened only to sign."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) < 16:
            raise ValueError("the wallet key-encryption key must be at least 16 bytes")
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"tracecert:wallet-kek:v1"
        ).derive(kek)
        self._aead = AESGCM(key)

    def create(self) -> tuple[str, bytes]:
        account: LocalAccount = Account.create()
        address = str(account.address)
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, bytes(account.key), address.encode("ascii"))
        return address, sealed

    def open(self, address: str, sealed: bytes) -> LocalAccount:
        """The signer of a sealed key; raises ``InvalidTag`` if it was altered or moved."""
        key = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], address.encode("ascii"))
        account: LocalAccount = Account.from_key(key)
        if account.address != address:
            raise ValueError("the sealed key does not belong to this address")
        return account


class LogOtpSender:
    """Dev mode: one-time codes go to the service log (never use outside development)."""

    def send(self, destination: Destination, code: str) -> None:
        log.warning(
            "one-time code for %s (%s): %s", destination.value, destination.channel.value, code
        )

    def notify(self, destination: Destination, kind: str, message: str) -> None:
        log.warning(
            "%s notice for %s (%s): %s", kind, destination.value, destination.channel.value, message
        )


class WebhookOtpSender:
    """Production: POSTs ``{"channel", "destination", "code"}`` as JSON to the operator's SMS
    and email gateway (``TRACECERT_OTP_WEBHOOK_URL``); a non-2xx answer is an error."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self._url = url
        self._timeout_s = timeout_s

    def send(self, destination: Destination, code: str) -> None:
        self._post(
            {"channel": destination.channel.value, "destination": destination.value, "code": code}
        )

    def notify(self, destination: Destination, kind: str, message: str) -> None:
        """A notice (a gift waiting): ``{"channel", "destination", "kind", "message"}``."""
        self._post(
            {
                "channel": destination.channel.value,
                "destination": destination.value,
                "kind": kind,
                "message": message,
            }
        )

    def _post(self, payload: dict[str, str]) -> None:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            self._url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self._timeout_s) as answer:
            if not 200 <= answer.status < 300:
                raise OSError(f"the code gateway answered {answer.status}")


class JwtSessionTokens:
    """HS256 session tokens: ``sub`` is the account's public id, ``sid`` the session row."""

    ISSUER = "tracecert"
    AUDIENCE = "tracecert:consumer"

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, session_id: str, account_public_id: str, expires_at: datetime) -> str:
        return jwt.encode(
            {
                "iss": self.ISSUER,
                "aud": self.AUDIENCE,
                "sub": account_public_id,
                "sid": session_id,
                "exp": int(expires_at.timestamp()),
            },
            self._key,
            algorithm="HS256",
        )

    def read(self, token: str) -> str | None:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=self.AUDIENCE,
                issuer=self.ISSUER,
                options={"require": ["exp", "sid", "sub"]},
            )
        except jwt.PyJWTError:
            return None
        sid = claims.get("sid")
        return sid if isinstance(sid, str) else None
