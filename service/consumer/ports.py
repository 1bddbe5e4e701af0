"""What the consumer's use cases need of storage and the outside: accounts and sessions,
certificates and their steps, wallets, the OTP sender, session tokens, the scan log and its
reads, device keys, and the channel's diversion desk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from service.channel.interface import DiversionUnitOfWork, RegionTree, Target
from service.consumer.domain.accounts import Account, Destination, OtpChallenge
from service.consumer.domain.certificates import (
    Certificate,
    CertificateState,
    Deal,
    DealKind,
    DealStatus,
    PinGuard,
)
from service.consumer.domain.verification import BatchOnChain
from service.factory.interface import Batch, BatchStatus, ItemRecord
from service.ledger.interface import OutboxRepository

if TYPE_CHECKING:
    from service.factory.interface import AttestationReads, ItemReads
    from service.identity.interface import PartnerGrants


@dataclass(frozen=True)
class AccountSession:
    """A signed-in session of a consumer account."""

    id: str
    account_id: int
    #: When the session ends unless refreshed (the refresh token's expiry).
    expires_at: datetime
    revoked_at: datetime | None
    #: SHA-256 (hex) of the current refresh token.
    refresh_hash: str | None = None


class AccountRepository(Protocol):
    def add(self, account: Account) -> Account: ...
    def get(self, account_id: int) -> Account | None: ...
    def get_by_destination(self, destination: Destination) -> Account | None: ...
    def add_challenge(self, challenge: OtpChallenge) -> OtpChallenge: ...
    def challenge(self, public_id: str) -> OtpChallenge | None: ...
    def challenge_times(self, destination: Destination, since: datetime) -> list[datetime]:
        """Creation times of the destination's codes since ``since``."""
        ...

    def challenges_since(
        self, since: datetime, network: str | None = None
    ) -> tuple[int, datetime | None]:
        """How many codes were sent since ``since`` (from ``network`` only, if given), and
        when the oldest of them was."""
        ...

    def take_attempt(self, challenge_id: int, max_attempts: int) -> int | None:
        """Count one try of the challenge's code, atomically, if it has fewer than
        ``max_attempts`` and is unused: the tries counted so far, this one included; None
        (nothing counted) when it has none left."""
        ...

    def consume_challenge(self, challenge_id: int, at: datetime) -> bool:
        """Mark the challenge used; False if it already was (a racing sign-in won)."""
        ...

    def add_session(self, session: AccountSession, at: datetime) -> None: ...
    def session(self, session_id: str) -> AccountSession | None: ...
    def revoke_session(self, session_id: str, at: datetime) -> bool: ...
    def rotate_refresh(
        self, session_id: str, old_hash: str, new_hash: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Replace the live session's refresh hash ``old_hash`` by ``new_hash`` and extend it,
        as one conditional update; False if the session is ended or ``old_hash`` is not its
        current one (a reused refresh token)."""
        ...

    def erase(self, account_id: int, recipient_key: bytes, at: datetime) -> list[str]:
        """Erase the person behind the account: their phone or e-mail address (the account
        keeps a tombstone nobody can sign in with), their sign-in codes, their sessions (ended:
        their ids are answered), the keyed hash gifts named them by, and the gift messages and
        delivery details of the deals on their certificates."""
        ...

    def bind_wallet(self, account_id: int, address: str) -> bool:
        """Switch a custodial account to the self-custody ``address``; False if it holds
        certificates or the address is another account's."""
        ...


@dataclass(frozen=True)
class CertificateStep:
    """One step of a certificate's history."""

    action: str
    from_state: str | None
    to_state: str
    status: str
    at: datetime
    settled_at: datetime | None
    tx_hash: bytes | None = None
    #: The wallet that signed its relayed write (None: the service's own account).
    signer: str | None = None


@dataclass(frozen=True)
class ClaimJob:
    """A queued claim, with what its chain call needs."""

    action_id: int
    certificate_id: int
    batch_id: int
    chain_batch_id: bytes
    token_id: int
    item_hash: bytes
    leaf_index: int
    item_count: int
    to: str
    #: Sent alone (not in a shared transaction): a shared one it was in failed.
    alone: bool


@dataclass(frozen=True)
class WalletRef:
    """A wallet: its address and, when custodial, its key sealed (only the ledger opens it);
    ``sealed_key`` is None for a self-custody wallet, which signs its own requests."""

    address: str
    sealed_key: bytes | None


@dataclass(frozen=True)
class StepRecord:
    """A step to record, with what a failed chain write must put back."""

    certificate_id: int
    action: str
    from_state: CertificateState | None
    to_state: CertificateState
    principal_id: str
    status: str
    at: datetime
    deal_id: int | None = None
    outbox_id: int | None = None
    signer: str | None = None
    nonce: int | None = None
    undo: dict[str, Any] | None = None
    version_after: int | None = None


@dataclass
class Voucher:
    """A request waiting for its self-custody signer's EIP-712 signature."""

    public_id: str
    account_id: int
    certificate_id: int
    kind: str
    params: dict[str, Any]
    signer: str
    nonce: int
    deadline: int
    typed_data: dict[str, Any]
    created_at: datetime
    used_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class SignedVoucher:
    """A voucher's signature, handed to the use case it authorises."""

    voucher_id: int
    nonce: int
    deadline: int
    signature: bytes


class CertificateRepository(Protocol):
    def add(self, certificate: Certificate) -> Certificate:
        """Insert; ``DuplicateError("certificates_item")`` if the item already has one."""
        ...

    def get(self, public_id: str) -> Certificate | None: ...
    def by_item(self, item_id: int) -> Certificate | None: ...
    def of_account(self, account_id: int) -> list[Certificate]: ...
    def history(self, certificate_ids: Sequence[int]) -> dict[int, list[CertificateStep]]: ...
    def queued_claims(self, limit: int) -> list[ClaimJob]:
        """Claims waiting for a chain write, oldest first (those to send alone first)."""
        ...

    def oldest_queued_claim(self) -> datetime | None: ...
    def set_claim_outbox(self, jobs: Sequence[ClaimJob], outbox_id: int) -> None: ...
    def record(self, step: StepRecord) -> int: ...
    def get_by_id(self, certificate_id: int) -> Certificate | None: ...
    def of_organisation(self, organisation_id: int) -> list[Certificate]:
        """Certificates an organisation owns (a pledgee after foreclosure)."""
        ...

    def transition(
        self, certificate: Certificate, to: CertificateState, **changes: Any
    ) -> Certificate | None:
        """Move ``certificate`` to ``to`` (and set ``changes``) only if it is still in the state
        and version it was read in; the updated certificate, or None if another change won."""
        ...

    def add_deal(self, deal: Deal) -> Deal: ...
    def deal(self, public_id: str) -> Deal | None: ...
    def deal_by_secret(self, secret_hash: bytes) -> Deal | None: ...
    def open_deal(self, certificate_id: int, kind: DealKind) -> Deal | None:
        """The certificate's deal of ``kind`` that is offered or active, if any."""
        ...

    def deals(
        self,
        *,
        counterparty_org_id: int | None = None,
        recipient_account_id: int | None = None,
        recipient_key: bytes | None = None,
        kind: DealKind | None = None,
        statuses: Sequence[DealStatus] = (),
    ) -> list[Deal]:
        """Deals, newest first; given both an account and a key, a deal matching either."""
        ...

    def set_deal(self, deal: Deal, expected: DealStatus, **changes: Any) -> bool:
        """Update the deal only if its status is still ``expected``."""
        ...

    def expired_gifts(self, now: datetime, limit: int) -> list[Deal]: ...
    def org_wallet(self, organisation_id: int) -> tuple[WalletRef, int | None] | None:
        """The organisation's wallet and the outbox write granting its role, if it has one."""
        ...

    def add_org_wallet(
        self, organisation_id: int, wallet: WalletRef, role: str, at: datetime
    ) -> tuple[WalletRef, bool]:
        """Store the organisation's wallet unless a concurrent request stored one first; the
        wallet kept, and whether it is this one."""
        ...

    def set_wallet_grant(self, organisation_id: int, grant_outbox_id: int) -> None: ...
    def take_nonce(self, address: str) -> tuple[int, int | None]:
        """The wallet's next forwarder nonce (now taken) and its latest forwarded write."""
        ...

    def set_last_write(self, address: str, outbox_id: int) -> None: ...
    def peek_nonce(self, address: str) -> int:
        """The wallet's next forwarder nonce, not taken."""
        ...

    def add_voucher(self, voucher: Voucher) -> Voucher: ...
    def voucher(self, public_id: str) -> Voucher | None: ...
    def use_voucher(self, voucher_id: int, at: datetime) -> bool:
        """Mark the voucher used; False if it already was (a replay)."""
        ...

    def pin_guards(self, subjects: Sequence[str]) -> dict[str, PinGuard]: ...
    def count_pin_failure(
        self, subject: str, at: datetime, quiet_before: datetime | None = None
    ) -> PinGuard:
        """Count one wrong PIN for ``subject`` atomically (racing misses are each counted),
        starting over if its last miss was before ``quiet_before`` and it is not locked: the
        guard with the new count, its current lock, and ``at``."""
        ...

    def uncount_pin_failure(self, subject: str) -> None:
        """Give back one counted try (a right PIN was not a miss)."""
        ...

    def lock_pin_guard(self, subject: str, until: datetime) -> None:
        """Lock ``subject`` until ``until``, unless it is locked longer already."""
        ...

    def clear_pin_guard(self, subject: str) -> None: ...


class Wallets(Protocol):
    """Custodial wallets: keys made here and kept sealed under the key-encryption key."""

    def create(self) -> tuple[str, bytes]:
        """Return a new wallet's checksummed address and its sealed private key."""
        ...


class OtpSender(Protocol):
    """Delivers one-time sign-in codes (SMS or email gateway; the log in dev mode)."""

    def send(self, destination: Destination, code: str) -> None: ...
    def notify(self, destination: Destination, kind: str, message: str) -> None:
        """Deliver a notice (``kind``: ``gift``), a sentence for the person, on the same
        channel as sign-in codes."""
        ...


class SessionTokens(Protocol):
    """Signs and checks consumer session tokens (JWT)."""

    def issue(self, session_id: str, account_public_id: str, expires_at: datetime) -> str: ...
    def read(self, token: str) -> str | None:
        """The session id of a well-signed, unexpired token; None otherwise."""
        ...


# ----------------------------------------------------------------------------- consumer scans
#: A consumer scan as the risk rules read it back: ``(region, device hash, when, network hash,
#: witness)``; rows from before migration 0014 have no network hash nor witness (anonymous).
StoredSighting = tuple[str | None, bytes, datetime, bytes | None, str | None]


@dataclass(frozen=True)
class ScanFacts:
    """What a scan reads of one code in one query: the item, the live state of its batch, the
    public part of its certificate, and the custody it travels under (``carrier``: its sealed
    case, or the item itself once loose)."""

    item: ItemRecord
    batch_status: BatchStatus
    batch_root: bytes | None
    batch_item_count: int
    batch_metadata_hash: bytes
    certificate_state: CertificateState | None
    claimed_at: datetime | None
    claim_region: str | None
    target: Target
    carrier: Target
    #: The item's Merkle proof from the stored tree levels (empty before the tree exists).
    proof: list[bytes]
    #: The chain of custody (``CustodyRepository.history``); empty if never shipped.
    history: list[dict[str, Any]]
    #: The item's stored consumer scans since the time asked (newest first, at most a few
    #: hundred).
    sightings: list[StoredSighting]
    #: The account that owns (or is claiming) the bottle's certificate, if any.
    certificate_owner: int | None = None


class ScanReads(Protocol):
    """The reads of a scan's hot path, a few statements (see
    ``service.consumer.app.verification``)."""

    def read(self, serial: str, since: datetime) -> ScanFacts | None:
        """The code's facts, with its consumer scans stored since ``since``."""
        ...


@dataclass(frozen=True)
class ConsumerScan:
    """One scan of a bottle's code through the verify or Digital Link routes, as recorded.

    Never the raw IP address, user agent or cookie: ``device_hash`` is a keyed hash."""

    at: datetime
    item_id: int
    batch_id: int
    region_code: str | None
    device_hash: bytes
    verdict: str
    #: The partner whose key scanned; None for a consumer.
    organisation_id: int | None = None
    #: The diversion alert this scan joins (counted on it when the scan is written).
    alert_id: int | None = None
    #: The bottle's serial when the scan was seen outside the territory of the goods'
    #: authorised holder and no alert of theirs was known: the scan log raises (or joins) the
    #: diversion alert in the transaction that writes the scan, never the scan's request.
    diversion_serial: str | None = None
    #: The keyed hash of the client's counting network (``service.api.networks``).
    network_hash: bytes | None = None
    #: Who vouches for it (``service.consumer.domain.scans.Witness``); a member's ``device_hash`` is
    #: the keyed hash of the member.
    witness: str = "anonymous"


class ConsumerScanLog(Protocol):
    """Every scan recorded without a write per scan: kept in a bounded buffer and written in
    bulk in the background; reads see the buffered scans too."""

    def record(self, scan: ConsumerScan) -> bool:
        """Buffer one scan; False when the buffer is full and the scan was dropped."""
        ...

    def buffered(self, item_id: int, since: datetime) -> list[StoredSighting]:
        """The sightings of this process's consumer scans of the item at or after
        ``since`` that may not be stored yet (newest first)."""
        ...

    def flush(self) -> int:
        """Write what is buffered now; the number of scans written."""
        ...


class DiversionAlerts(Protocol):
    """Raises the diversion alerts of recorded consumer scans (``diversion_serial``) inside
    the scan log's own write transaction, which commits them with the scans: exactly once."""

    def __call__(self, uow: DiversionUnitOfWork, scans: Sequence[ConsumerScan]) -> int:
        """Raise or join the alert of each such scan in ``uow`` (not committed); how many."""
        ...


class DiversionDesk(Protocol):
    """The channel's rules a consumer's scan is judged by (bootstrap passes the channel's
    ``ConsumerDiversions``): an organisation's territory, and raising (or joining) the
    diversion alert of goods seen out of it, in the caller's unit of work (not committed)."""

    def territory(self, uow: DiversionUnitOfWork, organisation_id: int) -> list[str] | None: ...
    def raise_diversion(
        self,
        uow: DiversionUnitOfWork,
        tree: RegionTree,
        serial: str,
        batch: Batch,
        region: str,
        at: datetime,
    ) -> bool: ...


class DeviceKeys(Protocol):
    """Anonymous device identifiers and their keyed hashes (no raw address is ever kept)."""

    def device_id(self, client: str, user_agent: str) -> str:
        """A stable opaque id for a device without a cookie (keyed hash of address and UA)."""
        ...

    def device_hash(self, device_id: str) -> bytes:
        """The keyed hash stored for a device id."""
        ...


class ConsumerUnitOfWork(DiversionUnitOfWork, Protocol):
    """One transaction over the consumer's tables (and the kernel's), the outbox its chain writes
    are queued in, and what the consumer reads of the others: the item, its proof and
    attestations (the factory's), the brand's partners (identity's), and, as a diversion is
    raised in it, the organisations, territories, custody, batches and alert desk."""

    accounts: AccountRepository
    certificates: CertificateRepository
    outbox: OutboxRepository

    @property
    def codes(self) -> ItemReads: ...
    @property
    def attestations(self) -> AttestationReads: ...
    @property
    def tenancy(self) -> PartnerGrants: ...


class ConsumerUnitOfWorkFactory(Protocol):
    def __call__(self) -> ConsumerUnitOfWork: ...
    def reader(self) -> ConsumerUnitOfWork:
        """A unit of work for use cases that only read (no write lock on SQLite)."""
        ...


class CertificateCommitments(Protocol):
    """A certificate's commitments: its token id, its leaf, and the check of its batch proof."""

    def token_id(self, chain_batch_id: bytes, item_hash: bytes) -> int:
        """The item's certificate token id, bound to its batch (the contract's ``tokenIdOf``)."""
        ...

    def item_leaf(self, chain_batch_id: bytes, token_id: int, item_hash: bytes) -> bytes: ...
    def verify_batch_proof(self, proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool: ...


class ConsumerSecrets(Protocol):
    """The keys of PIN hashes and sign-in codes, and sealing of what is kept secret at rest
    (delivery addresses, gift secrets, custodial wallets)."""

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


class CertificateChain(Protocol):
    """What the consumer asks of the chain: claims minted, steps signed and relayed (custodial
    wallets, self-custody vouchers, the service's own account), wallet bindings, and the
    batch the registry holds."""

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

    def contract(self) -> tuple[str, int] | None:
        """The registry's address and chain id as recorded (no node call); None before
        deployment."""
        ...
