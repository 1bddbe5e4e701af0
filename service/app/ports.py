"""The ports of the application layer: what handlers need from the outside world.

Adapters implement them on SQLAlchemy and ``chain/`` (``SqlAlchemy*``, ``Chain*``); unit tests
use the ``Fake*`` implementations in ``tests/unit/service/fakes.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from service.alerts.ports import AlertRepository
from service.channel.ports import (
    ChannelRepository,
    CustodyRepository,
    EpcisRepository,
)
from service.consumer.domain.verification import BatchOnChain
from service.consumer.ports import (
    AccountRepository,
    CertificateRepository,
    ClaimJob,
    SignedVoucher,
    WalletRef,
)
from service.factory.domain.batches import Batch
from service.factory.ports import (
    AttestationRepository,
    BatchRepository,
    CodeFileRepository,
    CodeRepository,
    ProductRepository,
)
from service.identity.ports import ApiKeyRepository, OrganisationRepository, TenancyRepository
from service.kernel.ports import UnitOfWork as KernelUnitOfWork
from service.ledger.ports import (
    ChainStatus,
    LogAnchorRepository,
    LogCheckRepository,
    LogFolder,
    LogTenants,
    OutboxRepository,
)


class UnitOfWork(KernelUnitOfWork, Protocol):
    """One database transaction over every repository; nothing is written unless ``commit`` is
    called. (Each area's slice of it comes with the re-cut by area.)"""

    organisations: OrganisationRepository
    api_keys: ApiKeyRepository
    products: ProductRepository
    batches: BatchRepository
    codes: CodeRepository
    code_files: CodeFileRepository
    attestations: AttestationRepository
    tenancy: TenancyRepository
    alerts: AlertRepository
    channel: ChannelRepository
    custody: CustodyRepository
    epcis: EpcisRepository
    log_tenants: LogTenants
    log_anchors: LogAnchorRepository
    log_checks: LogCheckRepository
    outbox: OutboxRepository
    accounts: AccountRepository
    certificates: CertificateRepository


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
    def reader(self) -> UnitOfWork:
        """A unit of work for use cases that only read (no write lock on SQLite)."""
        ...


class Commitments(Protocol):
    """Hashing and Merkle trees (keccak for batches, RFC 6962 SHA-256 for the log)."""

    def chain_batch_id(self, public_id: str) -> bytes: ...
    def attributes_hash(self, attributes: dict[str, Any]) -> bytes: ...
    def text_hash(self, text: str) -> bytes: ...
    def token_id(self, chain_batch_id: bytes, item_hash: bytes) -> int:
        """The item's certificate token id, bound to its batch (the contract's ``tokenIdOf``)."""
        ...

    def commit_items(
        self, chain_batch_id: bytes, attributes_hash: bytes, serials: Sequence[str]
    ) -> tuple[list[bytes], list[bytes]]:
        """Return the item hashes and the leaves of ``serials`` (in order)."""
        ...

    def item_leaf(self, chain_batch_id: bytes, token_id: int, item_hash: bytes) -> bytes: ...
    def tree_levels(self, leaves: Sequence[bytes]) -> list[list[bytes]]:
        """Every level of the batch tree over ``leaves``, leaves first, root last."""
        ...

    def verify_batch_proof(self, proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool: ...
    def log_root(self, leaf_hashes: Sequence[bytes]) -> bytes: ...
    def log_leaf_hash(self, payload: bytes) -> bytes:
        """The log's leaf hash of an entry's bytes (RFC 6962: ``SHA-256(0x00 || payload)``)."""
        ...

    def log_folder(self) -> LogFolder:
        """An empty tree edge to fold a log into, streaming."""
        ...

    def log_root_of(self, size: int, read_leaves: Callable[[int, int], Sequence[bytes]]) -> bytes:
        """The root of the log's first ``size`` entries, calling ``read_leaves(start, end)`` only
        for leaves not folded in before: the log is append-only, so an implementation may keep
        the tree's right edge between calls (and must start over if the log no longer agrees)."""
        ...

    def log_inclusion_proof(
        self, leaf_hashes: Sequence[bytes], index: int, size: int
    ) -> list[bytes]: ...
    def log_consistency_proof(
        self, leaf_hashes: Sequence[bytes], old_size: int, new_size: int
    ) -> list[bytes]: ...


class Secrets(Protocol):
    """The service's secrets: the PIN-hash key and sealing of PIN seeds at rest."""

    @property
    def pin_key(self) -> bytes: ...
    @property
    def otp_key(self) -> bytes: ...
    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``, bound to ``context``."""
        ...

    def unseal(self, sealed: bytes, context: bytes) -> bytes:
        """Decrypt what :meth:`seal` made for the same ``context``."""
        ...


class Ledger(Protocol):
    """The chain as the service sees it: reads now, writes through the outbox.

    Reads raise ``LedgerUnavailableError`` when the node is down and ``LedgerHeldError`` on
    a genesis mismatch; enqueueing needs only a recorded deployment.
    """

    def enqueue_anchor_batch(self, outbox: OutboxRepository, batch: Batch, at: datetime) -> int: ...
    def enqueue_anchor_log(
        self, outbox: OutboxRepository, size: int, root: bytes, at: datetime
    ) -> int: ...
    def enqueue_recall(
        self,
        outbox: OutboxRepository,
        batch: Batch,
        reason_hash: bytes,
        at: datetime,
        after: int | None,
    ) -> int:
        """Queue ``recallBatch``; with ``after``, only once that write (the anchor) confirmed."""
        ...

    def enqueue_attestation(
        self, outbox: OutboxRepository, batch: Batch, report_hash: bytes, uri: str, at: datetime
    ) -> int: ...
    def enqueue_claims(
        self,
        outbox: OutboxRepository,
        claims: Sequence[tuple[ClaimJob, Sequence[bytes]]],
        at: datetime,
    ) -> int:
        """Queue one transaction minting every claim (``claim`` alone, ``claimBatch`` for more)."""
        ...

    def enqueue_forward(
        self,
        outbox: OutboxRepository,
        wallet: WalletRef,
        call: str,
        args: Sequence[Any],
        nonce: int,
        after: int | None,
        at: datetime,
        *,
        attempt: str = "",
    ) -> int:
        """Queue a registry call signed by ``wallet`` (EIP-712, over ``nonce``) and relayed
        through the forwarder; sent only after ``after`` (the wallet's previous write).

        ``attempt`` names the step the write carries out: a step the chain refused rewinds the
        wallet's nonce, so asking again signs the same call over the same nonce, and only the
        attempt tells the two writes apart."""
        ...

    def enqueue_relayed(
        self, outbox: OutboxRepository, call: str, args: Sequence[Any], dedupe: str, at: datetime
    ) -> int:
        """Queue a registry call the service's own account makes (a gift's claim, an expired
        gift's return, a role grant)."""
        ...

    def sign_gift_claim(
        self, claim_key: WalletRef, token_id: int, to: str, gift_nonce: int
    ) -> bytes: ...
    def forward_typed_data(
        self, address: str, call: str, args: Sequence[Any], nonce: int, deadline: int
    ) -> dict[str, Any]:
        """The EIP-712 ForwardRequest a self-custody wallet signs (eth_signTypedData_v4 JSON)."""
        ...

    def recover_forward_signer(
        self,
        address: str,
        call: str,
        args: Sequence[Any],
        nonce: int,
        deadline: int,
        signature: bytes,
    ) -> str | None:
        """Who signed that request for this chain and forwarder; None if malformed."""
        ...

    def enqueue_signed_forward(
        self,
        outbox: OutboxRepository,
        address: str,
        call: str,
        args: Sequence[Any],
        voucher: SignedVoucher,
        after: int | None,
        at: datetime,
        *,
        attempt: str = "",
    ) -> int: ...
    def binding_typed_data(self, account_id: str, address: str, deadline: int) -> dict[str, Any]:
        """The EIP-712 message that proves control of an address for an account."""
        ...

    def recover_binding_signer(
        self, account_id: str, address: str, deadline: int, signature: bytes
    ) -> str | None: ...
    def enqueue_grant_role(
        self, outbox: OutboxRepository, role: str, address: str, at: datetime
    ) -> int:
        """Queue ``grantRole(keccak(role), address)`` from the service's admin account."""
        ...

    def batch_on_chain(self, chain_batch_id: bytes) -> BatchOnChain | None:
        """What the registry holds for the batch now (``batch(batchId)``); None if nothing.

        A read of the node, never kept here: the caller decides how long it may keep it."""
        ...

    def log_root(self, size: int) -> bytes: ...
    def latest_log_size(self) -> int: ...
    def contract(self) -> tuple[str, int] | None:
        """The registry's address and chain id as recorded (no node call); None before
        deployment."""
        ...

    def block_number(self) -> int | None:
        """Return the head block, or None when the node is unreachable."""
        ...

    def sender_address(self) -> str:
        """The address every outbox write is sent from (no node call)."""
        ...

    def status(self) -> ChainStatus: ...
