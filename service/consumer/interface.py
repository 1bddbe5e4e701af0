"""What other areas may use of the consumer: a recorded consumer scan (the fact the channel reacts
to with a diversion alert), what the chain adapter takes and gives back (a claim job, a wallet,
a signed voucher, a batch as the chain holds it), the error a claim's revert maps to, the error
the HTTP edge answers a bad session token with, and the consumer's events.

Pure: re-exports from the consumer's domain and ports.
"""

from __future__ import annotations

from service.consumer.domain.accounts import Destination, normalise_destination
from service.consumer.domain.errors import (
    AlreadyClaimedError,
    InvalidDestinationError,
    InvalidSessionError,
)
from service.consumer.domain.events import (
    AccountCreated,
    CertificateActionConfirmed,
    CertificateClaimed,
)
from service.consumer.domain.verification import BatchOnChain
from service.consumer.ports import ClaimJob, ConsumerScan, SignedVoucher, WalletRef

__all__ = [
    "AccountCreated",
    "AlreadyClaimedError",
    "BatchOnChain",
    "CertificateActionConfirmed",
    "CertificateClaimed",
    "ClaimJob",
    "ConsumerScan",
    "Destination",
    "InvalidDestinationError",
    "InvalidSessionError",
    "SignedVoucher",
    "WalletRef",
    "normalise_destination",
]
