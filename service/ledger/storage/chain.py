"""The chain behind the ``Ledger`` port: chain identity, the deployment, reads and the outbox.

``ChainRuntime`` owns the node connection. On first contact it records the chain id and genesis
hash; afterwards a node with another identity is reported as a mismatch and every chain access
is held: nothing is deployed or sent onto a foreign chain. It deploys the registry once per
chain (keyed by chain id + genesis hash) and grants the service account its roles.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chain.artifacts import Artifact, load_artifact
from chain.backends import Backend
from chain.client import ChainClient, ChainIdentity
from chain.contracts.certificate_registry import (
    CertificateRegistry,
    ClaimRequest,
    sign_gift_claim,
)
from chain.contracts.forwarder import (
    EIP712_NAME as FORWARDER_NAME,
)
from chain.contracts.forwarder import (
    EIP712_VERSION as FORWARDER_VERSION,
)
from chain.contracts.forwarder import (
    FORWARD_REQUEST_TYPES,
    Forwarder,
    ForwardRequest,
    recover_forward_request_signer,
    sign_forward_request,
)
from chain.deploy import deploy_registry, send_transaction
from chain.errors import ChainError, ChainUnavailableError, ContractRevertError
from service.consumer.interface import (
    AlreadyClaimedError,
    BatchOnChain,
    ClaimJob,
    SignedVoucher,
    WalletRef,
)
from service.consumer.storage.credentials import SealedWallets
from service.factory.interface import (
    Batch,
    BatchAlreadyAnchoredError,
    BatchRecalledError,
    BatchStateError,
    InvalidBatchError,
)
from service.kernel.errors import TracecertError
from service.ledger.domain.errors import (
    ChainRejectedError,
    DeploymentNotFoundError,
    LedgerHeldError,
    LedgerUnavailableError,
)
from service.ledger.domain.outbox import ChainWrite
from service.ledger.ports import ChainStatus, OutboxRepository
from service.ledger.storage.rows import ChainIdentityRow, DeploymentRow

log = logging.getLogger(__name__)

CONTRACT = "CertificateRegistry"
SERVICE_ROLES = ("FACTORY_ROLE", "ANCHOR_ROLE", "RELAYER_ROLE", "ATTESTOR_ROLE")

T = TypeVar("T")

# The one mapping point from contract reverts to domain errors. ``...BatchIsRecalled`` also
# answers a hand-out (redeem, redemption, release from custody) of a recalled bottle; a claim
# that ``claimBatch`` skips is named in its ``CertificateClaimFailed`` event instead.
_REVERTS: dict[str, type[TracecertError]] = {
    "CertificateRegistryBatchAlreadyAnchored": BatchAlreadyAnchoredError,
    "CertificateRegistryBatchNotAnchored": BatchStateError,
    "CertificateRegistryBatchIsRecalled": BatchRecalledError,
    "CertificateRegistryInvalidBatch": InvalidBatchError,
    "CertificateRegistryEmptyBatch": InvalidBatchError,
    "CertificateRegistryAlreadyClaimed": AlreadyClaimedError,
}


def revert_to_domain(exc: ContractRevertError) -> TracecertError:
    """Return the domain error for a contract revert (``ChainRejectedError`` by default)."""
    cls = _REVERTS.get(exc.name, ChainRejectedError)
    return cls(f"The contract refused the operation: {exc}.")


#: What a consumer's wallet signs to bind itself to a member account (``_binding``).
_WALLET_BINDING_TYPES: dict[str, list[dict[str, str]]] = {
    "WalletBinding": [
        {"name": "account", "type": "string"},
        {"name": "wallet", "type": "address"},
        {"name": "deadline", "type": "uint256"},
    ],
}


def _typed_data(
    domain: tuple[str, str, int, str],
    types: dict[str, list[dict[str, str]]],
    primary_type: str,
    message: dict[str, Any],
) -> dict[str, Any]:
    """EIP-712 typed data, as a wallet's ``eth_signTypedData_v4`` takes it, for ``message`` in
    the domain ``(name, version, chain id, verifying contract)``."""
    name, version, chain_id, contract = domain
    return {
        "domain": {
            "name": name,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": contract,
        },
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **types,
        },
        "primaryType": primary_type,
        "message": message,
    }


class ChainRuntime:
    """The node connection, the recorded identity and the deployed registry."""

    def __init__(
        self,
        backend: Backend,
        account: LocalAccount,
        sessions: sessionmaker[Session],
        artifacts_dir: Path,
        now: Callable[[], datetime],
    ) -> None:
        self.backend = backend
        self.client = ChainClient(backend)
        self.account = account
        self._sessions = sessions
        self._artifacts_dir = artifacts_dir
        self._now = now
        self._lock = threading.RLock()
        self._artifact: Artifact | None = None
        self.registry: CertificateRegistry | None = None
        #: The forwarder the registry trusts; read from the registry once the node answers.
        self.forwarder: Forwarder | None = None
        self.recorded: ChainIdentity | None = None
        self.actual: ChainIdentity | None = None
        self.deployment: DeploymentRow | None = None
        self.last_error: str | None = None
        self.sender_held = False
        self.hold_reason: str | None = None

    # ------------------------------------------------------------------ setup
    def artifact(self) -> Artifact:
        if self._artifact is None:
            self._artifact = load_artifact(self._artifacts_dir, CONTRACT)
            self.client.register_revert_abi(self._artifact.abi)
        return self._artifact

    @property
    def genesis_mismatch(self) -> bool:
        return (
            self.recorded is not None and self.actual is not None and self.recorded != self.actual
        )

    def load_recorded(self) -> None:
        """Load the recorded identity and its deployment from the database (no node needed)."""
        with self._lock, self._sessions.begin() as s:
            row = s.scalar(select(ChainIdentityRow).order_by(ChainIdentityRow.id).limit(1))
            if row is None:
                return
            self.recorded = ChainIdentity(row.chain_id, row.genesis_hash)
            self._load_deployment(s)

    def _load_deployment(self, s: Session) -> None:
        assert self.recorded is not None
        dep = s.scalar(
            select(DeploymentRow).where(
                DeploymentRow.chain_id == self.recorded.chain_id,
                DeploymentRow.genesis_hash == self.recorded.genesis_hash,
                DeploymentRow.contract == CONTRACT,
            )
        )
        if dep is not None:
            s.expunge(dep)
            self.deployment = dep
            self.registry = CertificateRegistry(self.client, dep.address, self.artifact())

    def prepare(self, deploy_if_missing: bool = True) -> bool:
        """Check the node's identity, record it on first contact, deploy once per chain.

        Returns:
            True when the chain is the recorded one and the registry is deployed.
        """
        with self._lock:
            try:
                self.actual = self.client.identity()
            except ChainError as exc:
                self.last_error = str(exc)
                return False
            self.last_error = None
            if self.recorded is None:
                self.load_recorded()
            if self.recorded is None:
                with self._sessions.begin() as s:
                    s.add(
                        ChainIdentityRow(
                            chain_id=self.actual.chain_id,
                            genesis_hash=self.actual.genesis_hash,
                            first_seen=self._now(),
                        )
                    )
                self.recorded = self.actual
            if self.genesis_mismatch:
                self.hold(
                    f"node has chain {self.actual.chain_id} genesis "
                    f"0x{self.actual.genesis_hash.hex()}, database recorded chain "
                    f"{self.recorded.chain_id} genesis 0x{self.recorded.genesis_hash.hex()}"
                )
                return False
            if self.registry is None and deploy_if_missing:
                try:
                    self._deploy()
                except ChainError as exc:
                    self.last_error = f"deployment failed: {exc}"
                    log.warning("deployment failed: %s", exc)
                    return False
            if self.registry is not None and self.forwarder is None:
                try:
                    self.forwarder = Forwarder(
                        self.client,
                        self.registry.trusted_forwarder(),
                        load_artifact(self._artifacts_dir, "TracecertForwarder"),
                    )
                except ChainError as exc:
                    self.last_error = f"reading the forwarder failed: {exc}"
                    return False
            return self.registry is not None

    def hold(self, reason: str) -> None:
        self.sender_held = True
        self.hold_reason = reason

    def _deploy(self) -> None:
        assert self.actual is not None
        with self._sessions.begin() as s:
            self._load_deployment(s)
        if self.registry is None:
            # The registry trusts its forwarder for good; the row records the registry only, whose
            # trustedForwarder() names the forwarder.
            deployment = deploy_registry(
                self.client, self.account, self._artifacts_dir, self.account.address
            ).registry
            with self._sessions.begin() as s:
                s.add(
                    DeploymentRow(
                        chain_id=self.actual.chain_id,
                        genesis_hash=self.actual.genesis_hash,
                        contract=CONTRACT,
                        address=deployment.address,
                        tx_hash=deployment.tx_hash,
                        block_number=deployment.block_number,
                        deployed_at=self._now(),
                    )
                )
            with self._sessions.begin() as s:
                self._load_deployment(s)
        assert self.registry is not None
        # Idempotent: a crash between deployment and grants is repaired on the next start.
        for role in SERVICE_ROLES:
            if not self.registry.has_role(role, self.account.address):
                receipt = send_transaction(
                    self.client,
                    self.account,
                    self.registry.address,
                    self.registry.encode_grant_role(role, self.account.address),
                )
                if receipt.status != 1:
                    raise ChainError(f"granting {role} failed in 0x{receipt.tx_hash.hex()}")

    # ------------------------------------------------------------------ status
    def status(self, sender_held: bool | None = None) -> ChainStatus:
        block: int | None = None
        sender_nonce: int | None = None
        reachable = False
        try:
            self.actual = self.client.identity()
            block = self.client.block_number()
            sender_nonce = self.client.nonce(self.account.address, "latest")
            reachable = True
        except ChainError as exc:
            self.last_error = str(exc)
        dep = self.deployment
        return ChainStatus(
            reachable=reachable,
            chain_id=self.actual.chain_id if self.actual else None,
            genesis_hash=self.actual.genesis_hash if self.actual else None,
            block_number=block,
            recorded_chain_id=self.recorded.chain_id if self.recorded else None,
            recorded_genesis_hash=self.recorded.genesis_hash if self.recorded else None,
            genesis_mismatch=self.genesis_mismatch,
            contract_address=dep.address if dep else None,
            deployment_tx_hash=dep.tx_hash if dep else None,
            deployment_block=dep.block_number if dep else None,
            sender_address=self.account.address,
            sender_held=self.sender_held or self.genesis_mismatch,
            hold_reason=self.hold_reason,
            error=None if reachable else self.last_error,
            sender_nonce=sender_nonce,
        )


#: Gas a forwarded registry call may use (a lifecycle call takes 30k-100k).
FORWARDED_GAS = 300_000
#: How long a signed forward request stays valid.
FORWARD_DEADLINE_S = 7 * 24 * 3600


class ChainLedger:
    """The ``Ledger`` port on ``ChainRuntime``; ``wallets`` opens custodial keys to sign."""

    def __init__(self, runtime: ChainRuntime, wallets: SealedWallets) -> None:
        self._rt = runtime
        self._wallets = wallets

    def _registry(self) -> CertificateRegistry:
        # Never touch the database here: callers may hold a write transaction (SQLite would
        # deadlock on a second BEGIN IMMEDIATE). The runtime loads the deployment at startup.
        if self._rt.registry is None:
            raise DeploymentNotFoundError()
        return self._rt.registry

    @contextmanager
    def _reading(self) -> Iterator[None]:
        if self._rt.genesis_mismatch:
            raise LedgerHeldError()
        try:
            yield
        except ContractRevertError as exc:
            raise revert_to_domain(exc) from exc
        except ChainUnavailableError as exc:
            raise LedgerUnavailableError() from exc
        except ChainError as exc:
            raise LedgerUnavailableError(f"The chain node failed: {exc}; retry later.") from exc

    def _read(self, fn: Callable[[CertificateRegistry], T]) -> T:
        with self._reading():
            registry = self._registry()
            return fn(registry)

    # ------------------------------------------------------------------ writes (outbox)
    def _write(
        self,
        outbox: OutboxRepository,
        kind: str,
        dedupe_key: str,
        data: bytes,
        at: datetime,
        depends_on: int | None = None,
    ) -> int:
        """Queue a registry call from the service's own account."""
        write = ChainWrite(
            kind=kind,
            dedupe_key=dedupe_key,
            to=self._registry().address,
            data=data,
            depends_on=depends_on,
        )
        return outbox.add(write, at)

    def enqueue_anchor_batch(self, outbox: OutboxRepository, batch: Batch, at: datetime) -> int:
        registry = self._registry()
        if batch.root is None:
            raise ValueError("a batch without codes has no root to anchor")
        data = registry.encode_anchor_batch(
            batch.chain_batch_id, batch.root, batch.item_count, batch.metadata_hash
        )
        dedupe_key = f"anchor_batch:{batch.chain_batch_id.hex()}"
        if batch.outbox_id is not None:  # a retry after a failed anchor transaction
            dedupe_key += f":after:{batch.outbox_id}"
        write = ChainWrite(
            kind="anchor_batch",
            dedupe_key=dedupe_key,
            to=registry.address,
            data=data,
        )
        return outbox.add(write, at)

    def enqueue_recall(
        self,
        outbox: OutboxRepository,
        batch: Batch,
        reason_hash: bytes,
        at: datetime,
        after: int | None,
    ) -> int:
        registry = self._registry()
        write = ChainWrite(
            kind="recall_batch",
            dedupe_key=f"recall_batch:{batch.chain_batch_id.hex()}",
            to=registry.address,
            data=registry.encode_recall_batch(batch.chain_batch_id, reason_hash),
            depends_on=after,
        )
        return outbox.add(write, at)

    def enqueue_attestation(
        self, outbox: OutboxRepository, batch: Batch, report_hash: bytes, uri: str, at: datetime
    ) -> int:
        registry = self._registry()
        return self._write(
            outbox,
            "attest_batch",
            f"attest_batch:{batch.chain_batch_id.hex()}:{report_hash.hex()}",
            registry.encode_attest_batch(batch.chain_batch_id, report_hash, uri),
            at,
        )

    def enqueue_anchor_log(
        self, outbox: OutboxRepository, size: int, root: bytes, at: datetime
    ) -> int:
        registry = self._registry()
        return self._write(
            outbox, "anchor_log", f"anchor_log:{size}", registry.encode_anchor_log(size, root), at
        )

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
        if wallet.sealed_key is None:
            raise ValueError("a self-custody wallet signs its own requests")
        _, forwarder, chain_id = self._forwarding()
        deadline = int(at.timestamp()) + FORWARD_DEADLINE_S
        request = self._request(wallet.address, call, args, nonce, deadline)
        signer = self._wallets.open(wallet.address, wallet.sealed_key)
        signature = sign_forward_request(signer, request, chain_id, forwarder.address)
        return self._forward_write(outbox, forwarder, request, signature, after, at, attempt)

    def _forward_write(
        self,
        outbox: OutboxRepository,
        forwarder: Forwarder,
        request: ForwardRequest,
        signature: bytes,
        after: int | None,
        at: datetime,
        attempt: str = "",
    ) -> int:
        """Queue ``execute(request, signature)`` on the forwarder, after the signer's last write.

        One row per signer, nonce, call and attempt: a refused step rewinds the nonce, and its
        retry (the same call over the same nonce) is a new attempt, not a duplicate."""
        key = f"forward:{request.from_}:{request.nonce}:{keccak(request.data).hex()[:16]}"
        write = ChainWrite(
            kind="forward",
            dedupe_key=f"{key}:{attempt}" if attempt else key,
            to=forwarder.address,
            data=forwarder.encode_execute(request, signature),
            depends_on=after,
        )
        return outbox.add(write, at)

    def _forwarding(self) -> tuple[CertificateRegistry, Forwarder, int]:
        registry, forwarder, recorded = self._registry(), self._rt.forwarder, self._rt.recorded
        if forwarder is None or recorded is None:
            raise LedgerUnavailableError(
                "The chain node has not been reached since the service started, so requests "
                "cannot be prepared for it yet; retry shortly."
            )
        return registry, forwarder, recorded.chain_id

    def _request(
        self, address: str, call: str, args: Sequence[Any], nonce: int, deadline: int
    ) -> ForwardRequest:
        registry = self._registry()
        return ForwardRequest(
            from_=address,
            to=registry.address,
            value=0,
            gas=FORWARDED_GAS,
            nonce=nonce,
            deadline=deadline,
            data=registry.encode(call, *args),
        )

    def forward_typed_data(
        self, address: str, call: str, args: Sequence[Any], nonce: int, deadline: int
    ) -> dict[str, Any]:
        _, forwarder, chain_id = self._forwarding()
        request = self._request(address, call, args, nonce, deadline)
        return _typed_data(
            (FORWARDER_NAME, FORWARDER_VERSION, chain_id, forwarder.address),
            FORWARD_REQUEST_TYPES,
            "ForwardRequest",
            {
                "from": request.from_,
                "to": request.to,
                "value": str(request.value),
                "gas": str(request.gas),
                "nonce": str(request.nonce),
                "deadline": request.deadline,
                "data": "0x" + request.data.hex(),
            },
        )

    def recover_forward_signer(
        self,
        address: str,
        call: str,
        args: Sequence[Any],
        nonce: int,
        deadline: int,
        signature: bytes,
    ) -> str | None:
        _, forwarder, chain_id = self._forwarding()
        request = self._request(address, call, args, nonce, deadline)
        try:
            return recover_forward_request_signer(request, signature, chain_id, forwarder.address)
        except ValueError:
            return None

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
    ) -> int:
        _, forwarder, _ = self._forwarding()
        request = self._request(address, call, args, voucher.nonce, voucher.deadline)
        return self._forward_write(
            outbox, forwarder, request, voucher.signature, after, at, attempt
        )

    def _binding(self, account_id: str, address: str, deadline: int) -> dict[str, Any]:
        registry, _, chain_id = self._forwarding()
        return _typed_data(
            ("tracecert", "1", chain_id, registry.address),
            _WALLET_BINDING_TYPES,
            "WalletBinding",
            {"account": account_id, "wallet": address, "deadline": deadline},
        )

    def binding_typed_data(self, account_id: str, address: str, deadline: int) -> dict[str, Any]:
        return self._binding(account_id, address, deadline)

    def recover_binding_signer(
        self, account_id: str, address: str, deadline: int, signature: bytes
    ) -> str | None:
        try:
            message = encode_typed_data(full_message=self._binding(account_id, address, deadline))
            return str(Account.recover_message(message, signature=signature))
        except Exception:  # a malformed signature or address: no signer
            return None

    def enqueue_relayed(
        self, outbox: OutboxRepository, call: str, args: Sequence[Any], dedupe: str, at: datetime
    ) -> int:
        registry = self._registry()
        return self._write(outbox, "relay", f"relay:{dedupe}", registry.encode(call, *args), at)

    def enqueue_grant_role(
        self, outbox: OutboxRepository, role: str, address: str, at: datetime
    ) -> int:
        registry = self._registry()
        return self._write(
            outbox,
            "grant_role",
            f"grant_role:{role}:{address}",
            registry.encode_grant_role(role, address),
            at,
        )

    def sign_gift_claim(
        self, claim_key: WalletRef, token_id: int, to: str, gift_nonce: int
    ) -> bytes:
        registry, recorded = self._registry(), self._rt.recorded
        assert recorded is not None
        if claim_key.sealed_key is None:
            raise ValueError("a gift's claim key is always kept sealed here")
        key = self._wallets.open(claim_key.address, claim_key.sealed_key)
        return sign_gift_claim(
            key,
            chain_id=recorded.chain_id,
            verifying_contract=registry.address,
            token_id=token_id,
            to=to,
            nonce=gift_nonce,
        )

    def enqueue_claims(
        self,
        outbox: OutboxRepository,
        claims: Sequence[tuple[ClaimJob, Sequence[bytes]]],
        at: datetime,
    ) -> int:
        registry = self._registry()
        requests = [
            ClaimRequest(job.chain_batch_id, job.token_id, job.item_hash, job.to)
            for job, _ in claims
        ]
        proofs = [list(proof) for _, proof in claims]
        if len(requests) == 1:
            kind, data = "claim", registry.encode_claim(requests[0], proofs[0])
        else:
            kind, data = "claim_batch", registry.encode_claim_batch(requests, proofs)
        # Unique per attempt: a claim sent again alone (its shared transaction failed) is a
        # new write, and the lowest action id with the count names this group.
        first = min(job.action_id for job, _ in claims)
        write = ChainWrite(
            kind=kind, dedupe_key=f"{kind}:{first}:{len(claims)}", to=registry.address, data=data
        )
        return outbox.add(write, at)

    # ------------------------------------------------------------------ reads
    def batch_on_chain(self, chain_batch_id: bytes) -> BatchOnChain | None:
        record = self._read(lambda r: r.batch(chain_batch_id))
        if record is None:
            return None
        return BatchOnChain(
            root=record.root,
            item_count=record.item_count,
            recalled=record.recalled,
            metadata_hash=record.metadata_hash,
        )

    def log_root(self, size: int) -> bytes:
        return self._read(lambda r: r.log_root(size))

    def latest_log_size(self) -> int:
        return self._read(lambda r: r.latest_log_size())

    def contract(self) -> tuple[str, int] | None:
        registry, recorded = self._rt.registry, self._rt.recorded
        if registry is None or recorded is None:
            return None
        return registry.address, recorded.chain_id

    def block_number(self) -> int | None:
        try:
            return self._rt.client.block_number()
        except ChainError:
            return None

    def sender_address(self) -> str:
        return str(self._rt.account.address)

    def status(self) -> ChainStatus:
        return self._rt.status()
