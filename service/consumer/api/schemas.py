"""The consumer's request and response bodies: the scan's answer, sign-in, claims,
certificates and their steps; requests forbid extra fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from service.api.schemas import Id, Public, Strict


class ScanChainBatchPublic(Public):
    """The registry's record of the batch (``batch(batchId)``), read at most
    ``TRACECERT_CHAIN_READ_TTL_S`` before the answer."""

    root: str
    item_count: int
    recalled: bool
    metadata_hash: str


class ScanChainPublic(Public):
    anchored: bool = Field(description="The database holds the batch as anchored on chain.")
    valid: bool = Field(description="The item's proof folds to the database's batch root.")
    on_chain: bool | None = Field(
        description="The item's proof folds to the root the registry stores (what verifyItem "
        "checks); null when the chain was not read."
    )
    chain_batch_id: str
    token_id: str
    item_hash: str
    leaf: str
    root: str | None
    proof: list[str]
    anchor_tx_hash: str | None
    anchor_block_number: int | None
    batch: ScanChainBatchPublic | None = Field(
        default=None,
        description="What the registry holds for the batch; null when it holds nothing or "
        "was not read (a batch not anchored, or a recall shown while the node is down).",
    )
    differs: list[str] = Field(
        default_factory=list,
        description="What the database and the chain disagree about (anchored, root, "
        "item_count, metadata_hash, recalled); any makes the verdict mismatch.",
    )


class ScanAlertPublic(Public):
    id: int
    kind: str
    count: int


class ScanPublic(Public):
    serial: str
    verdict: str = Field(
        description="genuine, suspected_clone (genuine, but scanned from too many regions or "
        "devices lately: a flag, never a block), unknown, not_activated, not_anchored, "
        "recalled, redeemed or mismatch"
    )
    genuine: bool = Field(
        description="The code is ours, activated and proven on chain (genuine or suspected_clone)."
    )
    gtin: str | None = None
    lot: str | None = None
    batch_id: str | None = None
    production_date: date | None = None
    activated: bool | None = None
    recall: dict[str, Any] | None = None
    chain: ScanChainPublic | None = None
    alert: ScanAlertPublic | None = None
    certificate: dict[str, Any] | None = Field(
        default=None,
        description="state, pending, claimed_on and claim_region of the bottle's certificate; "
        "never who holds it.",
    )
    provenance: dict[str, Any] | None = Field(
        default=None,
        description="product, factory, attestations, and the journey by region.",
    )
    contract: dict[str, Any] | None = Field(
        default=None, description="The registry's address and chain id, to check the proof."
    )


# ----------------------------------------------------------------------------- consumers
class CodeRequest(Strict):
    destination: str = Field(
        min_length=3, max_length=254, description="A phone number (+86 138...) or an email."
    )


class CodeSentPublic(Public):
    challenge_id: str
    channel: str
    sent_to: str = Field(description="The destination, masked.")
    expires_at: datetime


class SessionCreate(Strict):
    challenge_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=16, description="The six-digit code received.")


class AccountPublic(Public):
    id: str
    channel: str
    sign_in: str = Field(description="The phone number or email signed in with, masked.")
    wallet_address: str
    custody: str
    created_at: datetime


class SessionRefresh(Strict):
    refresh_token: str = Field(min_length=1, max_length=200)


class SessionTokensPublic(Public):
    token: str = Field(description="Send as 'Authorization: Bearer <token>'.")
    token_type: str
    expires_at: datetime = Field(description="When the token stops working: refresh before.")
    refresh_token: str = Field(
        description="Trade it once at POST /accounts/sessions/refresh for new tokens; sent "
        "again after that, it ends the session."
    )
    refresh_expires_at: datetime = Field(description="When the session ends unless refreshed.")


class SessionPublic(SessionTokensPublic):
    created: bool = Field(description="Whether this sign-in created the account.")
    account: AccountPublic


class ClaimCreate(Strict):
    serial: str = Field(min_length=1, max_length=64)
    pin: str = Field(min_length=1, max_length=32, description="The PIN under the cap.")
    region: str | None = Field(
        default=None, max_length=12, description="GB/T 2260 code of where the bottle is claimed."
    )


class CertificateProductPublic(Public):
    gtin: str | None
    lot: str | None
    name: str | None
    production_date: date | None
    batch_id: str | None
    recalled: bool = Field(
        default=False,
        description="The brand recalled the batch: the bottle is never handed out or taken out "
        "of storage (409 batch_recalled); the brand arranges returns.",
    )


class CertificateChainPublic(Public):
    status: str | None = Field(description="queued, sent, confirmed or failed (the mint).")
    tx_hash: str | None
    block_number: int | None
    confirmed_at: datetime | None


class CertificateHolderPublic(Public):
    address: str | None = Field(description="The address the registry's ownerOf answers.")
    held_as: str = Field(
        description="owner (the owner's wallet), or gift_escrow: the registry itself holds the "
        "token while a gift waits for its recipient.",
    )


class CertificateStepPublic(Public):
    action: str
    to: str
    status: str
    at: datetime
    settled_at: datetime | None
    tx_hash: str | None
    from_: str | None = Field(default=None, alias="from")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CertificatePublic(Public):
    id: str
    serial: str
    token_id: str
    state: str
    pending: bool = Field(description="True while the chain has not caught up with the state.")
    owner_address: str
    chain_holder: CertificateHolderPublic | None = Field(
        default=None,
        description="Whom the chain names as the token's owner: the owner, or the registry "
        "(gift_escrow) while a gift waits; null until the token is minted.",
    )
    claimed_at: datetime
    claim_region: str | None
    pending_actions: list[str] = Field(
        default_factory=list, description="Steps whose chain write is not confirmed yet."
    )
    counterparty_id: int | None = Field(
        default=None, description="The pledgee or custodian while locked."
    )
    locked_since: datetime | None = Field(
        default=None, description="When the pledge or custody began on chain."
    )
    storage_age_days: int | None = Field(
        default=None, description="Days in the custodian's storage (proof of ageing)."
    )
    product: CertificateProductPublic
    chain: CertificateChainPublic
    deals: list[dict[str, Any]] = Field(
        default_factory=list, description="Open gift, pledge, custody or redemption."
    )
    history: list[CertificateStepPublic]
    gift: dict[str, Any] | None = Field(
        default=None,
        description="A new gift: its id, expiry, and its link, shown once (link_status "
        '"shown"); a replay of the same request withholds it (link_status "withheld", '
        'link_note says what to do); a gift to a phone or email has none ("none").',
    )
    voucher: dict[str, Any] | None = Field(
        default=None,
        description="Self-custody: the EIP-712 request to sign; nothing changed yet. Sign it "
        "and POST /me/vouchers/{id}.",
    )


# ----------------------------------------------------------------------------- lifecycle
class GiftCreate(Strict):
    to: str | None = Field(
        default=None,
        max_length=254,
        description="A member's phone or email; leave out for a gift link.",
    )
    expires_in_days: int = Field(default=7, ge=1, le=90)
    message: str | None = Field(default=None, max_length=200)


class GiftAccept(Strict):
    gift_id: str | None = Field(default=None, max_length=40)
    secret: str | None = Field(default=None, max_length=64, description="From the gift link.")


class PledgeCreate(Strict):
    pledgee_id: Id
    amount: str = Field(min_length=1, max_length=24, description='e.g. "10000.00"')
    currency: str = Field(min_length=3, max_length=3)
    due_date: date
    terms: str | None = Field(default=None, max_length=2000)


class DepositCreate(Strict):
    custodian_id: Id


class RedemptionCreate(Strict):
    method: Literal["pickup", "delivery"]
    store_id: Id | None = None
    address: str | None = Field(default=None, max_length=500)


class EmptyBody(Strict):
    """No fields: any field sent is refused."""


class PartnerPublic(Public):
    id: int
    name: str
    kind: str


HEX_SIGNATURE = r"^0x[0-9a-fA-F]{130}$"


class VoucherSign(Strict):
    signature: str = Field(pattern=HEX_SIGNATURE, description="65 bytes, 0x-hex.")


class WalletChallenge(Strict):
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")


class WalletBind(Strict):
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    deadline: int = Field(ge=0, lt=2**48)
    signature: str = Field(pattern=HEX_SIGNATURE)
