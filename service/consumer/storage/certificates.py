"""Certificates on SQLAlchemy: the certificate and its steps, deals, vouchers, organisation
wallets, the claim queue and the wrong-PIN lockouts."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.consumer.domain.certificates import (
    Certificate,
    CertificateState,
    Deal,
    DealKind,
    DealStatus,
    PinGuard,
)
from service.consumer.ports import (
    CertificateStep,
    ClaimJob,
    StepRecord,
    Voucher,
    WalletRef,
)
from service.consumer.storage.rows import (
    CertificateActionRow,
    CertificateDealRow,
    CertificateRow,
    OrganisationWalletRow,
    PinGuardRow,
    VoucherRow,
    WalletNonceRow,
)
from service.factory.storage.rows import BatchRow, ItemRow
from service.kernel.storage.sql import translate_integrity
from service.ledger.storage.rows import OutboxRow

#: A claim's action status while it waits for (or rides) its chain write.
QUEUED = "queued"


SENT = "sent"


#: Marks a claim whose shared transaction failed: it is retried in a transaction of its own.
QUEUED_ALONE = "queued_alone"


# ----------------------------------------------------------------------------- lifecycle
_CERTIFICATE_CHANGES = frozenset(
    {
        "owner_account_id",
        "owner_address",
        "owner_org_id",
        "counterparty_org_id",
        "locked_since",
    }
)


def _deal(row: CertificateDealRow) -> Deal:
    return Deal(
        id=row.id,
        public_id=row.public_id,
        certificate_id=row.certificate_id,
        kind=DealKind(row.kind),
        status=DealStatus(row.status),
        created_at=row.created_at,
        counterparty_org_id=row.counterparty_org_id,
        recipient_account_id=row.recipient_account_id,
        recipient_key=row.recipient_key,
        secret_hash=row.secret_hash,
        claim_key_address=row.claim_key_address,
        sealed_claim_key=row.sealed_claim_key,
        gift_nonce=row.gift_nonce,
        expires_at=row.expires_at,
        terms=dict(row.terms or {}),
        sealed_details=row.sealed_details,
        origin_state=CertificateState(row.origin_state) if row.origin_state else None,
        settled_at=row.settled_at,
    )


class SqlAlchemyLifecycleMixin:
    """Deals, conditional transitions, organisation wallets and forwarder nonces."""

    _s: Session

    def record(self, step: StepRecord) -> int:
        row = CertificateActionRow(
            certificate_id=step.certificate_id,
            action=step.action,
            from_state=step.from_state.value if step.from_state is not None else None,
            to_state=step.to_state.value,
            principal_id=step.principal_id,
            status=step.status,
            outbox_id=step.outbox_id,
            deal_id=step.deal_id,
            signer=step.signer,
            nonce=step.nonce,
            undo=step.undo,
            version_after=step.version_after,
            created_at=step.at,
        )
        self._s.add(row)
        self._s.flush()
        return row.id

    def transition(
        self, certificate: Certificate, to: CertificateState, **changes: Any
    ) -> Certificate | None:
        unknown = set(changes) - _CERTIFICATE_CHANGES
        if unknown:
            raise ValueError(f"not a certificate change: {sorted(unknown)}")
        done = self._s.execute(
            update(CertificateRow)
            .where(
                CertificateRow.id == certificate.id,
                CertificateRow.state == certificate.state.value,
                CertificateRow.version == certificate.version,
            )
            .values(state=to.value, version=CertificateRow.version + 1, **changes)
            .returning(CertificateRow.version)
        ).first()
        if done is None:
            return None
        moved = copy.copy(certificate)
        moved.state, moved.version = to, int(done[0])
        for name, value in changes.items():
            setattr(moved, name, value)
        return moved

    def add_deal(self, deal: Deal) -> Deal:
        row = CertificateDealRow(
            public_id=deal.public_id,
            certificate_id=deal.certificate_id,
            kind=deal.kind.value,
            status=deal.status.value,
            counterparty_org_id=deal.counterparty_org_id,
            recipient_account_id=deal.recipient_account_id,
            recipient_key=deal.recipient_key,
            secret_hash=deal.secret_hash,
            claim_key_address=deal.claim_key_address,
            sealed_claim_key=deal.sealed_claim_key,
            expires_at=deal.expires_at,
            terms=deal.terms,
            sealed_details=deal.sealed_details,
            origin_state=deal.origin_state.value if deal.origin_state else None,
            created_at=deal.created_at,
        )
        self._s.add(row)
        self._s.flush()
        deal.id = row.id
        return deal

    def deal(self, public_id: str) -> Deal | None:
        row = self._s.scalar(
            select(CertificateDealRow).where(CertificateDealRow.public_id == public_id)
        )
        return _deal(row) if row is not None else None

    def deal_by_secret(self, secret_hash: bytes) -> Deal | None:
        row = self._s.scalar(
            select(CertificateDealRow).where(CertificateDealRow.secret_hash == secret_hash)
        )
        return _deal(row) if row is not None else None

    def open_deal(self, certificate_id: int, kind: DealKind) -> Deal | None:
        row = self._s.scalar(
            select(CertificateDealRow)
            .where(
                CertificateDealRow.certificate_id == certificate_id,
                CertificateDealRow.kind == kind.value,
                CertificateDealRow.status.in_((DealStatus.OFFERED.value, DealStatus.ACTIVE.value)),
            )
            .order_by(CertificateDealRow.id.desc())
            .limit(1)
        )
        return _deal(row) if row is not None else None

    def deals(
        self,
        *,
        counterparty_org_id: int | None = None,
        recipient_account_id: int | None = None,
        recipient_key: bytes | None = None,
        kind: DealKind | None = None,
        statuses: Sequence[DealStatus] = (),
    ) -> list[Deal]:
        query = select(CertificateDealRow).order_by(CertificateDealRow.id.desc())
        if counterparty_org_id is not None:
            query = query.where(CertificateDealRow.counterparty_org_id == counterparty_org_id)
        if recipient_account_id is not None and recipient_key is not None:
            query = query.where(
                or_(
                    CertificateDealRow.recipient_account_id == recipient_account_id,
                    CertificateDealRow.recipient_key == recipient_key,
                )
            )
        elif recipient_account_id is not None:
            query = query.where(CertificateDealRow.recipient_account_id == recipient_account_id)
        elif recipient_key is not None:
            query = query.where(CertificateDealRow.recipient_key == recipient_key)
        if kind is not None:
            query = query.where(CertificateDealRow.kind == kind.value)
        if statuses:
            query = query.where(CertificateDealRow.status.in_([s.value for s in statuses]))
        return [_deal(row) for row in self._s.scalars(query.limit(500))]

    def set_deal(self, deal: Deal, expected: DealStatus, **changes: Any) -> bool:
        values = {k: (v.value if isinstance(v, StrEnum) else v) for k, v in changes.items()}
        done = self._s.execute(
            update(CertificateDealRow)
            .where(CertificateDealRow.id == deal.id, CertificateDealRow.status == expected.value)
            .values(**values)
            .returning(CertificateDealRow.id)
        ).first()
        return done is not None

    def expired_gifts(self, now: datetime, limit: int) -> list[Deal]:
        rows = self._s.scalars(
            select(CertificateDealRow)
            .where(
                CertificateDealRow.kind == DealKind.GIFT.value,
                CertificateDealRow.status == DealStatus.OFFERED.value,
                CertificateDealRow.expires_at < now,
            )
            .order_by(CertificateDealRow.id)
            .limit(limit)
        )
        return [_deal(row) for row in rows]

    def org_wallet(self, organisation_id: int) -> tuple[WalletRef, int | None] | None:
        row = self._s.get(OrganisationWalletRow, organisation_id)
        if row is None:
            return None
        return WalletRef(row.address, row.sealed_key), row.grant_outbox_id

    def add_org_wallet(
        self, organisation_id: int, wallet: WalletRef, role: str, at: datetime
    ) -> tuple[WalletRef, bool]:
        try:
            with self._s.begin_nested():
                self._s.add(
                    OrganisationWalletRow(
                        organisation_id=organisation_id,
                        address=wallet.address,
                        sealed_key=wallet.sealed_key,
                        role=role,
                        created_at=at,
                    )
                )
        except IntegrityError:
            kept = self._s.get(OrganisationWalletRow, organisation_id, populate_existing=True)
            if kept is None:
                raise
            return WalletRef(kept.address, kept.sealed_key), False
        return wallet, True

    def set_wallet_grant(self, organisation_id: int, grant_outbox_id: int) -> None:
        self._s.execute(
            update(OrganisationWalletRow)
            .where(OrganisationWalletRow.organisation_id == organisation_id)
            .values(grant_outbox_id=grant_outbox_id)
        )

    def take_nonce(self, address: str) -> tuple[int, int | None]:
        found = self._s.execute(
            update(WalletNonceRow)
            .where(WalletNonceRow.address == address)
            .values(next_nonce=WalletNonceRow.next_nonce + 1)
            .returning(WalletNonceRow.next_nonce, WalletNonceRow.last_outbox_id)
        ).first()
        if found is not None:
            return int(found[0]) - 1, found[1]
        with translate_integrity(self._s, "wallet_nonces"):
            self._s.add(WalletNonceRow(address=address, next_nonce=1))
            self._s.flush()
        return 0, None

    def peek_nonce(self, address: str) -> int:
        found = self._s.scalar(
            select(WalletNonceRow.next_nonce).where(WalletNonceRow.address == address)
        )
        return int(found or 0)

    def add_voucher(self, voucher: Voucher) -> Voucher:
        row = VoucherRow(
            public_id=voucher.public_id,
            account_id=voucher.account_id,
            certificate_id=voucher.certificate_id,
            kind=voucher.kind,
            params=voucher.params,
            signer=voucher.signer,
            nonce=voucher.nonce,
            deadline=voucher.deadline,
            typed_data=voucher.typed_data,
            created_at=voucher.created_at,
        )
        self._s.add(row)
        self._s.flush()
        voucher.id = row.id
        return voucher

    def voucher(self, public_id: str) -> Voucher | None:
        row = self._s.scalar(select(VoucherRow).where(VoucherRow.public_id == public_id))
        if row is None:
            return None
        return Voucher(
            id=row.id,
            public_id=row.public_id,
            account_id=row.account_id,
            certificate_id=row.certificate_id,
            kind=row.kind,
            params=dict(row.params),
            signer=row.signer,
            nonce=int(row.nonce),
            deadline=int(row.deadline),
            typed_data=dict(row.typed_data),
            created_at=row.created_at,
            used_at=row.used_at,
        )

    def use_voucher(self, voucher_id: int, at: datetime) -> bool:
        done = self._s.execute(
            update(VoucherRow)
            .where(VoucherRow.id == voucher_id, VoucherRow.used_at.is_(None))
            .values(used_at=at)
            .returning(VoucherRow.id)
        ).first()
        return done is not None

    def set_last_write(self, address: str, outbox_id: int) -> None:
        self._s.execute(
            update(WalletNonceRow)
            .where(WalletNonceRow.address == address)
            .values(last_outbox_id=outbox_id)
        )


def _certificate(row: CertificateRow, serial: str) -> Certificate:
    return Certificate(
        id=row.id,
        public_id=row.public_id,
        item_id=row.item_id,
        batch_id=row.batch_id,
        serial=serial,
        token_id=int(row.token_id),
        state=CertificateState(row.state),
        owner_account_id=row.owner_account_id,
        owner_address=row.owner_address,
        claimed_at=row.claimed_at,
        claim_region=row.claim_region,
        claim_tx_hash=row.claim_tx_hash,
        claim_block_number=row.claim_block_number,
        confirmed_at=row.confirmed_at,
        version=row.version,
        owner_org_id=row.owner_org_id,
        counterparty_org_id=row.counterparty_org_id,
        locked_since=row.locked_since,
    )


class SqlAlchemyCertificateRepository(SqlAlchemyLifecycleMixin):
    def __init__(self, session: Session) -> None:
        self._s = session

    def _select(self) -> Select[CertificateRow, str]:
        return select(CertificateRow, ItemRow.serial).join(
            ItemRow, ItemRow.id == CertificateRow.item_id
        )

    def add(self, certificate: Certificate) -> Certificate:
        row = CertificateRow(
            public_id=certificate.public_id,
            item_id=certificate.item_id,
            batch_id=certificate.batch_id,
            token_id=str(certificate.token_id),
            state=certificate.state.value,
            owner_account_id=certificate.owner_account_id,
            owner_address=certificate.owner_address,
            claimed_at=certificate.claimed_at,
            claim_region=certificate.claim_region,
            version=0,
        )
        with translate_integrity(self._s, "certificates_item"):
            self._s.add(row)
            self._s.flush()
        certificate.id = row.id
        return certificate

    def get(self, public_id: str) -> Certificate | None:
        found = self._s.execute(self._select().where(CertificateRow.public_id == public_id)).first()
        return _certificate(found[0], found[1]) if found is not None else None

    def get_by_id(self, certificate_id: int) -> Certificate | None:
        found = self._s.execute(self._select().where(CertificateRow.id == certificate_id)).first()
        return _certificate(found[0], found[1]) if found is not None else None

    def of_organisation(self, organisation_id: int) -> list[Certificate]:
        rows = self._s.execute(
            self._select()
            .where(CertificateRow.owner_org_id == organisation_id)
            .order_by(CertificateRow.id.desc())
        )
        return [_certificate(row, serial) for row, serial in rows]

    def by_item(self, item_id: int) -> Certificate | None:
        found = self._s.execute(self._select().where(CertificateRow.item_id == item_id)).first()
        return _certificate(found[0], found[1]) if found is not None else None

    def of_account(self, account_id: int) -> list[Certificate]:
        rows = self._s.execute(
            self._select()
            .where(CertificateRow.owner_account_id == account_id)
            .order_by(CertificateRow.id.desc())
        )
        return [_certificate(row, serial) for row, serial in rows]

    def history(self, certificate_ids: Sequence[int]) -> dict[int, list[CertificateStep]]:
        out: dict[int, list[CertificateStep]] = {i: [] for i in certificate_ids}
        if not certificate_ids:
            return out
        rows = self._s.execute(
            select(CertificateActionRow, OutboxRow.mined_tx_hash)
            .outerjoin(OutboxRow, OutboxRow.id == CertificateActionRow.outbox_id)
            .where(CertificateActionRow.certificate_id.in_(list(certificate_ids)))
            .order_by(CertificateActionRow.id)
        )
        for row, tx_hash in rows:
            out[row.certificate_id].append(
                CertificateStep(
                    action=row.action,
                    from_state=row.from_state,
                    to_state=row.to_state,
                    status=row.status,
                    at=row.created_at,
                    settled_at=row.settled_at,
                    tx_hash=tx_hash,
                    signer=row.signer,
                )
            )
        return out

    def queued_claims(self, limit: int) -> list[ClaimJob]:
        rows = self._s.execute(
            select(
                CertificateActionRow.id,
                CertificateActionRow.status,
                CertificateRow.id,
                CertificateRow.batch_id,
                BatchRow.chain_batch_id,
                CertificateRow.token_id,
                ItemRow.item_hash,
                ItemRow.leaf_index,
                BatchRow.item_count,
                CertificateRow.owner_address,
            )
            .join(CertificateRow, CertificateRow.id == CertificateActionRow.certificate_id)
            .join(ItemRow, ItemRow.id == CertificateRow.item_id)
            .join(BatchRow, BatchRow.id == CertificateRow.batch_id)
            .where(
                CertificateActionRow.action == "claim",
                CertificateActionRow.status.in_((QUEUED, QUEUED_ALONE)),
            )
            .order_by((CertificateActionRow.status == QUEUED_ALONE).desc(), CertificateActionRow.id)
            .limit(limit)
        )
        return [
            ClaimJob(
                action_id=r[0],
                certificate_id=r[2],
                batch_id=r[3],
                chain_batch_id=r[4],
                token_id=int(r[5]),
                item_hash=r[6],
                leaf_index=r[7],
                item_count=r[8],
                to=r[9],
                alone=r[1] == QUEUED_ALONE,
            )
            for r in rows
        ]

    def oldest_queued_claim(self) -> datetime | None:
        return self._s.scalar(
            select(func.min(CertificateActionRow.created_at)).where(
                CertificateActionRow.action == "claim",
                CertificateActionRow.status.in_((QUEUED, QUEUED_ALONE)),
            )
        )

    def set_claim_outbox(self, jobs: Sequence[ClaimJob], outbox_id: int) -> None:
        self._s.execute(
            update(CertificateActionRow)
            .where(CertificateActionRow.id.in_([j.action_id for j in jobs]))
            .values(status=SENT, outbox_id=outbox_id)
        )
        self._s.execute(
            update(CertificateRow)
            .where(CertificateRow.id.in_([j.certificate_id for j in jobs]))
            .values(claim_outbox_id=outbox_id)
        )

    def pin_guards(self, subjects: Sequence[str]) -> dict[str, PinGuard]:
        rows = self._s.execute(
            select(
                PinGuardRow.subject,
                PinGuardRow.failures,
                PinGuardRow.locked_until,
                PinGuardRow.updated_at,
            ).where(PinGuardRow.subject.in_(list(subjects)))
        )
        found = {
            subject: PinGuard(failures, until, updated)
            for subject, failures, until, updated in rows
        }
        return {subject: found.get(subject, PinGuard()) for subject in subjects}

    def count_pin_failure(
        self, subject: str, at: datetime, quiet_before: datetime | None = None
    ) -> PinGuard:
        # Insert the row if it is missing (racing inserts are no error), then count in one
        # conditional UPDATE: concurrent wrong PINs queue on the row and each is counted.
        insert = pg_insert if self._s.get_bind().dialect.name == "postgresql" else sqlite_insert
        self._s.execute(
            insert(PinGuardRow)
            .values(subject=subject, failures=0, locked_until=None, updated_at=at)
            .on_conflict_do_nothing(index_elements=[PinGuardRow.subject])
        )
        failures: Any = PinGuardRow.failures + 1
        if quiet_before is not None:
            # A count that starts over after a quiet window (unless it is locked).
            failures = case(
                (
                    and_(
                        PinGuardRow.updated_at < quiet_before,
                        or_(PinGuardRow.locked_until.is_(None), PinGuardRow.locked_until <= at),
                    ),
                    1,
                ),
                else_=PinGuardRow.failures + 1,
            )
        row = self._s.execute(
            update(PinGuardRow)
            .where(PinGuardRow.subject == subject)
            .values(failures=failures, updated_at=at)
            .returning(PinGuardRow.failures, PinGuardRow.locked_until)
        ).one()
        return PinGuard(int(row[0]), row[1], at)

    def uncount_pin_failure(self, subject: str) -> None:
        self._s.execute(
            update(PinGuardRow)
            .where(PinGuardRow.subject == subject, PinGuardRow.failures > 0)
            .values(failures=PinGuardRow.failures - 1)
        )

    def lock_pin_guard(self, subject: str, until: datetime) -> None:
        # Concurrent misses each set their lock: the longest stays.
        self._s.execute(
            update(PinGuardRow)
            .where(
                PinGuardRow.subject == subject,
                or_(PinGuardRow.locked_until.is_(None), PinGuardRow.locked_until < until),
            )
            .values(locked_until=until)
        )

    def clear_pin_guard(self, subject: str) -> None:
        self._s.execute(delete(PinGuardRow).where(PinGuardRow.subject == subject))
