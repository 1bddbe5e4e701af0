"""Typed wrapper of the ``CertificateRegistry`` contract (docs/interfaces.md, section 1).

Writes are only *encoded* here (calldata for the outbox; :mod:`chain.sender` signs and sends).
Views call the contract and return dataclasses. EIP-712 helpers sign the two typed messages the
contract checks: ``ClaimVoucher`` (by a relayer) and ``GiftClaim`` (by a gift's claim key).
:func:`claim_skips` reads which claims of a mined ``claimBatch`` were skipped, and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_utils.abi import collapse_if_tuple
from eth_utils.address import to_checksum_address

from chain.artifacts import Artifact
from chain.client import ChainClient, Receipt
from chain.contracts._base import ContractWrapper
from chain.errors import ContractRevertError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_BYTES32 = b"\x00" * 32

#: The contract's ``MAX_CLAIM_BATCH``: most claims one ``claimBatch`` takes (the worst case at the
#: cap, every recipient a new owner and 20-deep proofs, is about 11.6M gas).
MAX_CLAIM_BATCH = 128

#: ``CertificateClaimSkipped(uint256 indexed tokenId, bytes32 indexed batchId, address indexed to,
#: bytes4 reason)``.
CLAIM_SKIPPED_TOPIC = bytes(keccak(b"CertificateClaimSkipped(uint256,bytes32,address,bytes4)"))

#: Why ``claimBatch`` skips an item: the selector of the error a lone ``claim`` would revert with,
#: to its name.
CLAIM_SKIP_REASONS: dict[bytes, str] = {
    bytes(keccak(signature.encode()))[:4]: signature.split("(")[0]
    for signature in (
        "CertificateRegistryAlreadyClaimed(uint256)",
        "CertificateRegistryBatchIsRecalled(bytes32)",
        "CertificateRegistryBatchNotAnchored(bytes32)",
        "CertificateRegistryInvalidTokenId(bytes32,uint256)",
        "CertificateRegistryInvalidProof(bytes32,uint256)",
    )
}

#: EIP-712 domain name and version of the registry.
EIP712_NAME = "TracecertCertificateRegistry"
EIP712_VERSION = "1"

ROLE_NAMES: tuple[str, ...] = (
    "DEFAULT_ADMIN_ROLE",
    "FACTORY_ROLE",
    "RELAYER_ROLE",
    "CUSTODIAN_ROLE",
    "PLEDGEE_ROLE",
    "ATTESTOR_ROLE",
    "ANCHOR_ROLE",
    "PAUSER_ROLE",
)
#: Role ids by constant name; ``DEFAULT_ADMIN_ROLE`` is 32 zero bytes, the others
#: ``keccak256("<NAME>")`` as in the contract.
ROLES: dict[str, bytes] = {
    name: ZERO_BYTES32 if name == "DEFAULT_ADMIN_ROLE" else bytes(keccak(name.encode()))
    for name in ROLE_NAMES
}


class CertificateState(IntEnum):
    """``enum CertificateState`` of the contract."""

    NONE = 0
    ACTIVE = 1
    PLEDGED = 2
    IN_CUSTODY = 3
    REDEEMED = 4


@dataclass(frozen=True)
class BatchRecord:
    """An anchored batch (``struct BatchRecord``)."""

    batch_id: bytes
    root: bytes
    item_count: int
    anchored_at: int
    recalled: bool
    metadata_hash: bytes


@dataclass(frozen=True)
class CertificateRecord:
    """A certificate (``struct Certificate``); ``state`` is ``NONE`` while unclaimed."""

    token_id: int
    batch_id: bytes
    state: CertificateState
    counterparty: str | None
    since: int
    redemption_requested: bool


@dataclass(frozen=True)
class GiftRecord:
    """A pending gift escrow (``struct Gift``)."""

    token_id: int
    giver: str
    claim_key: str
    expiry: int
    nonce: int


@dataclass(frozen=True)
class ClaimRequest:
    """``struct ClaimRequest``: mint ``token_id`` of ``batch_id`` (item ``item_hash``) to ``to``."""

    batch_id: bytes
    token_id: int
    item_hash: bytes
    to: str

    def as_abi(self) -> tuple[bytes, int, bytes, str]:
        """Return the request as the ABI tuple ``(batchId, tokenId, itemHash, to)``."""
        return (self.batch_id, self.token_id, self.item_hash, to_checksum_address(self.to))


@dataclass(frozen=True)
class ClaimSkip:
    """A claim ``claimBatch`` skipped (``CertificateClaimSkipped``); the others were minted."""

    token_id: int
    batch_id: bytes
    to: str
    #: The contract error a lone claim would have reverted with, e.g.
    #: ``"CertificateRegistryAlreadyClaimed"`` (``0x`` + selector when unknown).
    reason: str


def claim_skips(receipt: Receipt, registry: str | None = None) -> list[ClaimSkip]:
    """Return the claims a mined ``claimBatch`` skipped, in log order.

    Args:
        receipt: the transaction's receipt.
        registry: only logs of this address count (any emitter when ``None``).

    Returns:
        One :class:`ClaimSkip` per ``CertificateClaimSkipped`` log.
    """
    skips: list[ClaimSkip] = []
    for entry in receipt.logs:
        if not entry.topics or entry.topics[0] != CLAIM_SKIPPED_TOPIC or len(entry.topics) != 4:
            continue
        if registry is not None and entry.address.lower() != registry.lower():
            continue
        (reason,) = abi_decode(["bytes4"], entry.data)
        selector = bytes(reason)
        skips.append(
            ClaimSkip(
                token_id=int.from_bytes(entry.topics[1], "big"),
                batch_id=bytes(entry.topics[2]),
                to=to_checksum_address(entry.topics[3][-20:]),
                reason=CLAIM_SKIP_REASONS.get(selector, "0x" + selector.hex()),
            )
        )
    return skips


@dataclass(frozen=True)
class RegistryEvent:
    """A decoded event emitted by the registry."""

    name: str
    args: dict[str, Any]
    log_index: int


def role_id(role: str) -> bytes:
    """Resolve a role name to its 32-byte id.

    Args:
        role: ``"FACTORY_ROLE"``, ``"factory"``, ``"DEFAULT_ADMIN_ROLE"``, ``"admin"`` or a
            ``0x`` hex id.

    Returns:
        The role id.

    Raises:
        ValueError: if the role is unknown.
    """
    if role.startswith("0x") and len(role) == 66:
        return bytes.fromhex(role[2:])
    key = role.strip().upper()
    if key in ("ADMIN", "DEFAULT_ADMIN"):
        key = "DEFAULT_ADMIN_ROLE"
    if not key.endswith("_ROLE"):
        key += "_ROLE"
    if key not in ROLES:
        raise ValueError(f"unknown role {role!r}; known: {', '.join(ROLE_NAMES)}")
    return ROLES[key]


def _domain(chain_id: int, verifying_contract: str) -> dict[str, Any]:
    return {
        "name": EIP712_NAME,
        "version": EIP712_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(verifying_contract),
    }


def _key_of(signer: LocalAccount | str | bytes) -> LocalAccount:
    return signer if isinstance(signer, LocalAccount) else Account.from_key(signer)


def sign_claim_voucher(
    signer: LocalAccount | str | bytes,
    *,
    chain_id: int,
    verifying_contract: str,
    request: ClaimRequest,
    deadline: int,
) -> bytes:
    """Sign an EIP-712 ``ClaimVoucher`` for ``claimWithVoucher``.

    Args:
        signer: a RELAYER_ROLE holder (account or private key).
        chain_id: the chain id of the domain.
        verifying_contract: the registry address.
        request: the claim; the voucher is bound to ``request.to``.
        deadline: unix time after which the voucher is refused.

    Returns:
        The 65-byte signature ``r || s || v``.
    """
    signable = encode_typed_data(
        domain_data=_domain(chain_id, verifying_contract),
        message_types={
            "ClaimVoucher": [
                {"name": "batchId", "type": "bytes32"},
                {"name": "tokenId", "type": "uint256"},
                {"name": "itemHash", "type": "bytes32"},
                {"name": "to", "type": "address"},
                {"name": "deadline", "type": "uint256"},
            ]
        },
        message_data={
            "batchId": request.batch_id,
            "tokenId": request.token_id,
            "itemHash": request.item_hash,
            "to": to_checksum_address(request.to),
            "deadline": deadline,
        },
    )
    return bytes(_key_of(signer).sign_message(signable).signature)


def sign_gift_claim(
    claim_key: LocalAccount | str | bytes,
    *,
    chain_id: int,
    verifying_contract: str,
    token_id: int,
    to: str,
    nonce: int,
) -> bytes:
    """Sign an EIP-712 ``GiftClaim`` for ``claimGift`` with a gift's one-time claim key.

    Args:
        claim_key: the secret key whose address is the gift's ``claimKey``.
        chain_id: the chain id of the domain.
        verifying_contract: the registry address.
        token_id: the gifted token.
        to: the recipient the claim is bound to.
        nonce: the gift's nonce (from ``GiftCreated`` or :meth:`CertificateRegistry.gift`).

    Returns:
        The 65-byte signature ``r || s || v``.
    """
    signable = encode_typed_data(
        domain_data=_domain(chain_id, verifying_contract),
        message_types={
            "GiftClaim": [
                {"name": "tokenId", "type": "uint256"},
                {"name": "to", "type": "address"},
                {"name": "nonce", "type": "uint64"},
            ]
        },
        message_data={"tokenId": token_id, "to": to_checksum_address(to), "nonce": nonce},
    )
    return bytes(_key_of(claim_key).sign_message(signable).signature)


@dataclass(frozen=True)
class _Event:
    name: str
    inputs: tuple[Mapping[str, Any], ...]


class CertificateRegistry(ContractWrapper):
    """The ``CertificateRegistry`` at ``address``.

    ``encode_*`` methods return calldata for one write function each (for the outbox; nothing
    is sent here) and raise ``ValueError`` when an argument does not fit its ABI type. View
    methods call the contract at the latest block and raise
    :class:`~chain.errors.ChainUnavailableError` when the node cannot be reached,
    :class:`~chain.errors.ContractRevertError` (decoded) when the view reverts, and
    :class:`~chain.errors.ChainError` on any other failure (e.g. no contract at ``address``).

    Args:
        client: the chain client (its revert decoding learns this contract's errors).
        address: the deployed contract.
        artifact: the compiled contract (for the ABI).
    """

    ROLES: dict[str, bytes] = ROLES

    def __init__(self, client: ChainClient, address: str, artifact: Artifact) -> None:
        super().__init__(client, address, artifact)
        self._events: dict[bytes, _Event] = {}
        for entry in artifact.abi:
            if entry.get("type") == "event" and not entry.get("anonymous"):
                types = ",".join(collapse_if_tuple(dict(i)) for i in entry.get("inputs", []))
                topic = bytes(keccak(f"{entry['name']}({types})".encode()))
                self._events[topic] = _Event(entry["name"], tuple(entry.get("inputs", [])))

    # ------------------------------------------------------------------ plumbing
    def decode_events(self, receipt: Receipt) -> list[RegistryEvent]:
        """Decode the registry's events in a receipt (logs of other contracts are skipped).

        Args:
            receipt: a mined transaction's receipt.

        Returns:
            The events in log order; ``bytes32`` as bytes, addresses checksummed.
        """
        events: list[RegistryEvent] = []
        for entry in receipt.logs:
            if entry.address != self.address or not entry.topics:
                continue
            event = self._events.get(entry.topics[0])
            if event is None:
                continue
            indexed = [i for i in event.inputs if i.get("indexed")]
            plain = [i for i in event.inputs if not i.get("indexed")]
            values: dict[str, Any] = {}
            for spec, topic in zip(indexed, entry.topics[1:], strict=False):
                values[spec["name"]] = abi_decode([collapse_if_tuple(dict(spec))], topic)[0]
            decoded = abi_decode([collapse_if_tuple(dict(i)) for i in plain], entry.data)
            for spec, value in zip(plain, decoded, strict=True):
                values[spec["name"]] = value
            for spec in event.inputs:
                if spec["type"] == "address" and spec["name"] in values:
                    values[spec["name"]] = to_checksum_address(values[spec["name"]])
            events.append(RegistryEvent(event.name, values, entry.log_index))
        return events

    # ------------------------------------------------------------------ EIP-712
    def sign_claim_voucher(
        self, signer: LocalAccount | str | bytes, request: ClaimRequest, deadline: int
    ) -> bytes:
        """Sign a ``ClaimVoucher`` for this registry (see :func:`sign_claim_voucher`)."""
        return sign_claim_voucher(
            signer,
            chain_id=self.chain_id(),
            verifying_contract=self.address,
            request=request,
            deadline=deadline,
        )

    def sign_gift_claim(
        self, claim_key: LocalAccount | str | bytes, token_id: int, to: str, nonce: int
    ) -> bytes:
        """Sign a ``GiftClaim`` for this registry (see :func:`sign_gift_claim`)."""
        return sign_gift_claim(
            claim_key,
            chain_id=self.chain_id(),
            verifying_contract=self.address,
            token_id=token_id,
            to=to,
            nonce=nonce,
        )

    # ------------------------------------------------------------------ write encoders
    def encode_anchor_batch(
        self, batch_id: bytes, root: bytes, item_count: int, metadata_hash: bytes
    ) -> bytes:
        """Calldata for ``anchorBatch`` (FACTORY_ROLE)."""
        return self.encode("anchorBatch", batch_id, root, item_count, metadata_hash)

    def encode_recall_batch(self, batch_id: bytes, reason_hash: bytes) -> bytes:
        """Calldata for ``recallBatch`` (FACTORY_ROLE)."""
        return self.encode("recallBatch", batch_id, reason_hash)

    def encode_attest_batch(self, batch_id: bytes, report_hash: bytes, uri: str) -> bytes:
        """Calldata for ``attestBatch`` (ATTESTOR_ROLE)."""
        return self.encode("attestBatch", batch_id, report_hash, uri)

    def encode_anchor_log(self, size: int, root: bytes) -> bytes:
        """Calldata for ``anchorLog`` (ANCHOR_ROLE); ``size`` must exceed the latest size and
        ``root`` be non-zero."""
        return self.encode("anchorLog", size, root)

    def encode_rewind_log(self, size: int) -> bytes:
        """Calldata for ``rewindLog`` (DEFAULT_ADMIN_ROLE): take back the latest anchor,
        ``size``."""
        return self.encode("rewindLog", size)

    def encode_claim(self, request: ClaimRequest, proof: Sequence[bytes]) -> bytes:
        """Calldata for ``claim`` (RELAYER_ROLE)."""
        return self.encode("claim", request.as_abi(), list(proof))

    def encode_claim_batch(
        self, requests: Sequence[ClaimRequest], proofs: Sequence[Sequence[bytes]]
    ) -> bytes:
        """Calldata for ``claimBatch`` (RELAYER_ROLE; at most :data:`MAX_CLAIM_BATCH`; an item
        that cannot be claimed is skipped, see :func:`claim_skips`)."""
        return self.encode("claimBatch", [r.as_abi() for r in requests], [list(p) for p in proofs])

    def encode_claim_with_voucher(
        self, request: ClaimRequest, deadline: int, proof: Sequence[bytes], signature: bytes
    ) -> bytes:
        """Calldata for ``claimWithVoucher`` (anyone, with a relayer's voucher)."""
        return self.encode("claimWithVoucher", request.as_abi(), deadline, list(proof), signature)

    def encode_pledge(self, token_id: int, pledgee: str) -> bytes:
        """Calldata for ``pledge`` (owner; ``pledgee`` holds PLEDGEE_ROLE)."""
        return self.encode("pledge", token_id, to_checksum_address(pledgee))

    def encode_release_pledge(self, token_id: int) -> bytes:
        """Calldata for ``releasePledge`` (the pledgee)."""
        return self.encode("releasePledge", token_id)

    def encode_foreclose_pledge(self, token_id: int) -> bytes:
        """Calldata for ``foreclosePledge`` (the pledgee)."""
        return self.encode("foreclosePledge", token_id)

    def encode_deposit_to_custody(self, token_id: int, custodian: str) -> bytes:
        """Calldata for ``depositToCustody`` (owner; ``custodian`` holds CUSTODIAN_ROLE)."""
        return self.encode("depositToCustody", token_id, to_checksum_address(custodian))

    def encode_release_custody(self, token_id: int) -> bytes:
        """Calldata for ``releaseCustody`` (the custodian)."""
        return self.encode("releaseCustody", token_id)

    def encode_request_redemption(self, token_id: int) -> bytes:
        """Calldata for ``requestRedemption`` (owner, token InCustody)."""
        return self.encode("requestRedemption", token_id)

    def encode_fulfil_redemption(self, token_id: int) -> bytes:
        """Calldata for ``fulfilRedemption`` (the custodian, after a request)."""
        return self.encode("fulfilRedemption", token_id)

    def encode_redeem(self, token_id: int) -> bytes:
        """Calldata for ``redeem`` (owner, token Active)."""
        return self.encode("redeem", token_id)

    def encode_create_gift(self, token_id: int, claim_key: str, expiry: int) -> bytes:
        """Calldata for ``createGift`` (owner, token Active)."""
        return self.encode("createGift", token_id, to_checksum_address(claim_key), expiry)

    def encode_claim_gift(self, token_id: int, to: str, signature: bytes) -> bytes:
        """Calldata for ``claimGift`` (anyone, with the claim key's ``GiftClaim`` signature)."""
        return self.encode("claimGift", token_id, to_checksum_address(to), signature)

    def encode_cancel_gift(self, token_id: int) -> bytes:
        """Calldata for ``cancelGift`` (the giver)."""
        return self.encode("cancelGift", token_id)

    def encode_set_base_uri(self, base_uri: str) -> bytes:
        """Calldata for ``setBaseURI`` (DEFAULT_ADMIN_ROLE)."""
        return self.encode("setBaseURI", base_uri)

    def encode_pause(self) -> bytes:
        """Calldata for ``pause`` (PAUSER_ROLE)."""
        return self.encode("pause")

    def encode_unpause(self) -> bytes:
        """Calldata for ``unpause`` (PAUSER_ROLE)."""
        return self.encode("unpause")

    def encode_grant_role(self, role: str, account: str) -> bytes:
        """Calldata for ``grantRole`` (the role's admin, DEFAULT_ADMIN_ROLE)."""
        return self.encode("grantRole", role_id(role), to_checksum_address(account))

    def encode_revoke_role(self, role: str, account: str) -> bytes:
        """Calldata for ``revokeRole`` (the role's admin, DEFAULT_ADMIN_ROLE)."""
        return self.encode("revokeRole", role_id(role), to_checksum_address(account))

    def encode_renounce_role(self, role: str, account: str) -> bytes:
        """Calldata for ``renounceRole`` (``account`` itself)."""
        return self.encode("renounceRole", role_id(role), to_checksum_address(account))

    def encode_transfer_from(self, from_: str, to: str, token_id: int) -> bytes:
        """Calldata for ERC-721 ``transferFrom`` (owner or approved; locks apply)."""
        return self.encode(
            "transferFrom", to_checksum_address(from_), to_checksum_address(to), token_id
        )

    def encode_safe_transfer_from(
        self, from_: str, to: str, token_id: int, data: bytes | None = None
    ) -> bytes:
        """Calldata for ERC-721 ``safeTransferFrom`` (with ``data`` when given)."""
        if data is None:
            return self.encode(
                "safeTransferFrom(address,address,uint256)",
                to_checksum_address(from_),
                to_checksum_address(to),
                token_id,
            )
        return self.encode(
            "safeTransferFrom(address,address,uint256,bytes)",
            to_checksum_address(from_),
            to_checksum_address(to),
            token_id,
            data,
        )

    def encode_approve(self, to: str, token_id: int) -> bytes:
        """Calldata for ERC-721 ``approve``."""
        return self.encode("approve", to_checksum_address(to), token_id)

    # ------------------------------------------------------------------ views
    def batch(self, batch_id: bytes) -> BatchRecord | None:
        """Return an anchored batch.

        Args:
            batch_id: the batch id.

        Returns:
            The :class:`BatchRecord`, or ``None`` if the batch is not anchored.

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other failure.
        """
        ((root, item_count, anchored_at, recalled, metadata_hash),) = self._view("batch", batch_id)
        if anchored_at == 0:
            return None
        return BatchRecord(
            batch_id=bytes(batch_id),
            root=bytes(root),
            item_count=int(item_count),
            anchored_at=int(anchored_at),
            recalled=bool(recalled),
            metadata_hash=bytes(metadata_hash),
        )

    def verify_item(
        self, batch_id: bytes, token_id: int, item_hash: bytes, proof: Sequence[bytes]
    ) -> bool:
        """Check an item's Merkle proof against its anchored batch root, on chain.

        Args:
            batch_id: the batch.
            token_id: the item's token id.
            item_hash: the item hash.
            proof: sibling hashes from :meth:`chain.merkle.BatchTree.proof`.

        Returns:
            True if the proof holds; False if it does not or the batch is not anchored.

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other failure.
        """
        (ok,) = self._view("verifyItem", batch_id, token_id, item_hash, list(proof))
        return bool(ok)

    def certificate(self, token_id: int) -> CertificateRecord:
        """Return a certificate's record (state ``NONE`` while unclaimed).

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other failure.
        """
        ((batch_id, state, counterparty, since, requested),) = self._view("certificate", token_id)
        return CertificateRecord(
            token_id=token_id,
            batch_id=bytes(batch_id),
            state=CertificateState(state),
            counterparty=None if int(counterparty, 16) == 0 else to_checksum_address(counterparty),
            since=int(since),
            redemption_requested=bool(requested),
        )

    def is_claimed(self, token_id: int) -> bool:
        """Tell whether ``token_id`` was ever claimed (minted)."""
        return bool(self._view("isClaimed", token_id)[0])

    def gift(self, token_id: int) -> GiftRecord | None:
        """Return the pending gift of ``token_id``, or ``None`` if there is none."""
        ((giver, claim_key, expiry, nonce),) = self._view("gift", token_id)
        if int(giver, 16) == 0:
            return None
        return GiftRecord(
            token_id=token_id,
            giver=to_checksum_address(giver),
            claim_key=to_checksum_address(claim_key),
            expiry=int(expiry),
            nonce=int(nonce),
        )

    def latest_log_size(self) -> int:
        """Return the size of the latest anchored event-log tree (0 if none)."""
        return int(self._view("latestLogSize")[0])

    def log_root(self, size: int) -> bytes:
        """Return the anchored RFC 6962 root for log ``size`` (32 zero bytes if none)."""
        return bytes(self._view("logRoot", size)[0])

    def attestation_count(self, batch_id: bytes) -> int:
        """Return how many attestations a batch has."""
        return int(self._view("attestationCount", batch_id)[0])

    def item_leaf(self, batch_id: bytes, token_id: int, item_hash: bytes) -> bytes:
        """Return the contract's Merkle leaf for an item (equals :func:`chain.merkle.item_leaf`)."""
        return bytes(self._view("itemLeaf", batch_id, token_id, item_hash)[0])

    def token_id_of(self, batch_id: bytes, item_hash: bytes) -> int:
        """Return the contract's token id of an item (equals :func:`chain.merkle.token_id_of`)."""
        return int(self._view("tokenIdOf", batch_id, item_hash)[0])

    def max_claim_batch(self) -> int:
        """Return the most claims one ``claimBatch`` takes (:data:`MAX_CLAIM_BATCH`)."""
        return int(self._view("MAX_CLAIM_BATCH")[0])

    def has_role(self, role: str, account: str) -> bool:
        """Tell whether ``account`` holds ``role`` (a name such as ``"FACTORY_ROLE"``)."""
        return bool(self._view("hasRole", role_id(role), to_checksum_address(account))[0])

    def owner_of(self, token_id: int) -> str | None:
        """Return the owner of ``token_id``, or ``None`` if it does not exist."""
        try:
            return to_checksum_address(self._view("ownerOf", token_id)[0])
        except ContractRevertError as exc:
            if exc.name == "ERC721NonexistentToken":
                return None
            raise

    def balance_of(self, owner: str) -> int:
        """Return how many certificates ``owner`` holds."""
        return int(self._view("balanceOf", to_checksum_address(owner))[0])

    def trusted_forwarder(self) -> str:
        """Return the ERC-2771 forwarder the registry trusts (fixed at deployment).

        Requests relayed through it act as their signer; see :mod:`chain.contracts.forwarder`.
        """
        return to_checksum_address(self._view("trustedForwarder")[0])

    def paused(self) -> bool:
        """Tell whether the registry is paused."""
        return bool(self._view("paused")[0])

    def token_uri(self, token_id: int) -> str:
        """Return the ERC-721 ``tokenURI`` of an existing token."""
        return str(self._view("tokenURI", token_id)[0])
