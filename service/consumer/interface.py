"""What other areas may use of the consumer: a batch as the chain holds it (what the chain adapter
reads back for a verdict), the error a claim's revert maps to, and the consumer's events.

Pure: re-exports from the consumer's domain.
"""

from __future__ import annotations

from service.consumer.domain.errors import AlreadyClaimedError
from service.consumer.domain.events import (
    AccountCreated,
    CertificateActionConfirmed,
    CertificateClaimed,
)
from service.consumer.domain.verification import BatchOnChain

__all__ = [
    "AccountCreated",
    "AlreadyClaimedError",
    "BatchOnChain",
    "CertificateActionConfirmed",
    "CertificateClaimed",
]
