"""The consumer's errors: sign-in and its limits, sessions, PINs, claims, certificates and their
deals, vouchers and wallet bindings."""

from __future__ import annotations

from service.kernel.errors import (
    ErrorKind,
    NotFoundError,
    TracecertError,
)


# ----------------------------------------------------------------------------- consumers
class InvalidDestinationError(TracecertError):
    """Raised when a sign-in destination is neither a phone number nor an email address."""

    code = "invalid_destination"
    kind = ErrorKind.INVALID
    default_detail = (
        "Give a phone number with its country code (+86 138 0013 8000) or an email address."
    )


class InvalidOtpError(TracecertError):
    """Raised when a one-time code is wrong, expired, used up or of the wrong shape."""

    code = "invalid_sign_in_code"
    kind = ErrorKind.UNAUTHENTICATED
    default_detail = "The code is wrong or no longer valid; ask for a new code and type it in."


class OtpRateLimitedError(TracecertError):
    """Raised when codes are asked for a destination too often."""

    code = "code_rate_limited"
    kind = ErrorKind.RATE_LIMITED
    default_detail = "A code was sent a moment ago; wait before asking for another."


class OtpNetworkRateLimitedError(TracecertError):
    """Raised when one client network asked for too many sign-in codes in the last hour."""

    code = "code_rate_limited_network"
    kind = ErrorKind.RATE_LIMITED
    default_detail = (
        "Too many sign-in codes were asked for from your network in the last hour; try again "
        "later (Retry-After)."
    )

    def __init__(self, retry_after_s: int) -> None:
        super().__init__()
        self.retry_after_s = retry_after_s  # type: ignore[misc]


class OtpBudgetExhaustedError(TracecertError):
    """Raised when the service sent as many sign-in codes as its hourly or daily budget."""

    code = "code_budget_exhausted"
    kind = ErrorKind.RATE_LIMITED
    default_detail = (
        "The service is sending no more sign-in codes for now (its budget is used up); try "
        "again later (Retry-After)."
    )

    def __init__(self, retry_after_s: int) -> None:
        super().__init__()
        self.retry_after_s = retry_after_s  # type: ignore[misc]


class ScanRateLimitedError(TracecertError):
    """Raised when a device or a client network scans faster than the public scan endpoints
    allow (``TRACECERT_SCAN_*_PER_MIN``); ``Retry-After`` says when to scan again."""

    code = "scan_rate_limited"
    kind = ErrorKind.RATE_LIMITED
    default_detail = "Too many scans from this device or network; wait a moment, then scan again."


class InvalidSessionError(TracecertError):
    """Raised when a consumer session token is missing, malformed, expired or signed out."""

    code = "invalid_session"
    kind = ErrorKind.UNAUTHENTICATED
    default_detail = "Sign in again: the session token is missing, expired or signed out."


class InvalidPinError(TracecertError):
    """Raised when a PIN cannot be one (wrong length or characters); not counted as a guess."""

    code = "invalid_pin"
    kind = ErrorKind.INVALID
    default_detail = (
        "A PIN is the 8 characters under the cap, like 7K3M-Q9XD; check it and type it again."
    )


class WrongPinError(TracecertError):
    """Raised when a well-formed PIN does not match the item; counted towards the lockouts."""

    code = "wrong_pin"
    kind = ErrorKind.FORBIDDEN
    default_detail = "That PIN does not match this bottle; check the characters and try again."


class PinLockedError(TracecertError):
    """Raised when an item or an account is locked after too many wrong PINs."""

    code = "pin_locked"
    kind = ErrorKind.RATE_LIMITED
    default_detail = "Too many wrong PINs; wait until the lock ends, then try again."


class NotClaimableError(TracecertError):
    """Raised when an item cannot be claimed: not activated, not anchored yet, or recalled."""

    code = "not_claimable"
    kind = ErrorKind.CONFLICT
    default_detail = "This bottle cannot be claimed now; the detail says why."


class AlreadyClaimedError(TracecertError):
    """Raised when an item already has a certificate."""

    code = "already_claimed"
    kind = ErrorKind.CONFLICT
    default_detail = (
        "This bottle's certificate was already claimed; if it was given to you, "
        "ask the owner to send it as a gift."
    )


class CertificateNotFoundError(NotFoundError):
    """Raised when a certificate does not exist or is not the caller's."""

    code = "certificate_not_found"
    default_detail = "No such certificate among yours; check the id."


class CertificateStateError(TracecertError):
    """Raised when a lifecycle action does not fit the certificate's current state."""

    code = "certificate_state_conflict"
    kind = ErrorKind.CONFLICT
    default_detail = "The certificate's state does not allow this action now; reload it."


class DealNotFoundError(NotFoundError):
    """Raised when a gift, pledge, custody or redemption does not exist or is not the caller's."""

    code = "deal_not_found"
    default_detail = "No such gift, pledge, deposit or redemption among yours; check the id."


class InvalidDealError(TracecertError):
    """Raised when the terms of a gift, pledge, deposit or redemption are not acceptable."""

    code = "invalid_deal"
    kind = ErrorKind.INVALID
    default_detail = "The offer is invalid; fix it as the detail says and send it again."


class PreviousStepPendingError(TracecertError):
    """Raised when a step needs an earlier one on chain first (a mint, the other party's step,
    a counterparty's account being registered): nothing changed; the same request succeeds
    once that write is confirmed, usually within ``retry_after_s``."""

    code = "previous_step_pending"
    kind = ErrorKind.CONFLICT
    retry_after_s = 10
    default_detail = (
        "The certificate's previous step is still being written on chain; nothing changed. "
        "Send the same request again in 10 seconds (Retry-After), until the chain has it."
    )


class VoucherUsedError(TracecertError):
    """Raised when a signed request (voucher) is sent again after it was used."""

    code = "voucher_used"
    kind = ErrorKind.CONFLICT
    default_detail = "This signed request was already used; a request runs once."


class VoucherStaleError(TracecertError):
    """Raised when a voucher's nonce or deadline no longer fits (another request ran first)."""

    code = "voucher_stale"
    kind = ErrorKind.CONFLICT
    default_detail = "This signed request is out of date; ask for a new one and sign that."


class InvalidVoucherSignatureError(TracecertError):
    """Raised when a voucher's signature is malformed or not the owner's for this chain."""

    code = "invalid_voucher_signature"
    kind = ErrorKind.INVALID
    default_detail = (
        "The signature is not your wallet's over this request on this chain; sign the typed "
        "data exactly as given (chain id, contract, nonce) and send it again."
    )


class VoucherNotFoundError(NotFoundError):
    """Raised when a voucher does not exist or is not the caller's."""

    code = "voucher_not_found"
    default_detail = "No such request to sign among yours; check the id."


class InvalidWalletBindingError(TracecertError):
    """Raised when a self-custody wallet cannot be bound: bad signature, expired, or in use."""

    code = "invalid_wallet_binding"
    kind = ErrorKind.INVALID
    default_detail = "The wallet could not be bound; the detail says why."


class ErasureBlockedError(TracecertError):
    """Raised when an account asked to be erased still has certificates on their way somewhere
    (a gift, a pledge, storage, a redemption, a claim being minted)."""

    code = "erasure_blocked"
    kind = ErrorKind.CONFLICT
    default_detail = (
        "Some of your certificates are still on their way somewhere; settle them first."
    )
