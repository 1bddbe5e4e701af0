"""SQLAlchemy repositories of consumer accounts, certificates and the wrong-PIN lockouts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from service.adapters.orm import (
    AccountRow,
    AccountSessionRow,
    BatchRow,
    CertificateActionRow,
    CertificateRow,
    ItemRow,
    OtpChallengeRow,
    OutboxRow,
    PinGuardRow,
)
from service.adapters.repositories import translate_integrity
from service.app.ports import AccountSession, CertificateStep, ClaimJob
from service.domain.accounts import Account, Channel, Custody, Destination, OtpChallenge
from service.domain.certificates import Certificate, CertificateState, PinGuard

#: A claim's action status while it waits for (or rides) its chain write.
QUEUED = "queued"
SENT = "sent"
#: Marks a claim whose shared transaction failed: it is retried in a transaction of its own.
QUEUED_ALONE = "queued_alone"


def _account(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        public_id=row.public_id,
        destination=Destination(Channel(row.channel), row.destination),
        wallet_address=row.wallet_address,
        custody=Custody(row.custody),
        created_at=row.created_at,
        sealed_key=row.sealed_key,
    )


def _challenge(row: OtpChallengeRow) -> OtpChallenge:
    return OtpChallenge(
        id=row.id,
        public_id=row.public_id,
        destination=Destination(Channel(row.channel), row.destination),
        code_hash=row.code_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        attempts=row.attempts,
        consumed_at=row.consumed_at,
    )


class SqlAlchemyAccountRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, account: Account) -> Account:
        row = AccountRow(
            public_id=account.public_id,
            channel=account.destination.channel.value,
            destination=account.destination.value,
            wallet_address=account.wallet_address,
            custody=account.custody.value,
            sealed_key=account.sealed_key,
            created_at=account.created_at,
        )
        with translate_integrity(self._s, "accounts"):
            self._s.add(row)
            self._s.flush()
        account.id = row.id
        return account

    def get(self, account_id: int) -> Account | None:
        row = self._s.get(AccountRow, account_id)
        return _account(row) if row is not None else None

    def get_by_destination(self, destination: Destination) -> Account | None:
        row = self._s.scalar(select(AccountRow).where(AccountRow.destination == destination.value))
        return _account(row) if row is not None else None

    def add_challenge(self, challenge: OtpChallenge) -> OtpChallenge:
        row = OtpChallengeRow(
            public_id=challenge.public_id,
            channel=challenge.destination.channel.value,
            destination=challenge.destination.value,
            code_hash=challenge.code_hash,
            attempts=0,
            created_at=challenge.created_at,
            expires_at=challenge.expires_at,
        )
        self._s.add(row)
        self._s.flush()
        challenge.id = row.id
        return challenge

    def challenge(self, public_id: str) -> OtpChallenge | None:
        row = self._s.scalar(select(OtpChallengeRow).where(OtpChallengeRow.public_id == public_id))
        return _challenge(row) if row is not None else None

    def challenge_times(self, destination: Destination, since: datetime) -> list[datetime]:
        return list(
            self._s.scalars(
                select(OtpChallengeRow.created_at).where(
                    OtpChallengeRow.destination == destination.value,
                    OtpChallengeRow.created_at >= since,
                )
            )
        )

    def count_attempt(self, challenge_id: int) -> None:
        self._s.execute(
            update(OtpChallengeRow)
            .where(OtpChallengeRow.id == challenge_id)
            .values(attempts=OtpChallengeRow.attempts + 1)
        )

    def consume_challenge(self, challenge_id: int, at: datetime) -> bool:
        done = self._s.execute(
            update(OtpChallengeRow)
            .where(OtpChallengeRow.id == challenge_id, OtpChallengeRow.consumed_at.is_(None))
            .values(consumed_at=at)
            .returning(OtpChallengeRow.id)
        ).first()
        return done is not None

    def add_session(self, session: AccountSession, at: datetime) -> None:
        self._s.add(
            AccountSessionRow(
                id=session.id,
                account_id=session.account_id,
                created_at=at,
                expires_at=session.expires_at,
            )
        )
        self._s.flush()

    def session(self, session_id: str) -> AccountSession | None:
        row = self._s.get(AccountSessionRow, session_id)
        if row is None:
            return None
        return AccountSession(row.id, row.account_id, row.expires_at, row.revoked_at)

    def revoke_session(self, session_id: str, at: datetime) -> bool:
        done = self._s.execute(
            update(AccountSessionRow)
            .where(AccountSessionRow.id == session_id, AccountSessionRow.revoked_at.is_(None))
            .values(revoked_at=at)
            .returning(AccountSessionRow.id)
        ).first()
        return done is not None


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
    )


class SqlAlchemyCertificateRepository:
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

    def add_step(
        self,
        certificate_id: int,
        action: str,
        from_state: CertificateState | None,
        to_state: CertificateState,
        principal_id: str,
        status: str,
        at: datetime,
    ) -> int:
        row = CertificateActionRow(
            certificate_id=certificate_id,
            action=action,
            from_state=from_state.value if from_state is not None else None,
            to_state=to_state.value,
            principal_id=principal_id,
            status=status,
            created_at=at,
        )
        self._s.add(row)
        self._s.flush()
        return row.id

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
            select(PinGuardRow.subject, PinGuardRow.failures, PinGuardRow.locked_until).where(
                PinGuardRow.subject.in_(list(subjects))
            )
        )
        found = {subject: PinGuard(failures, until) for subject, failures, until in rows}
        return {subject: found.get(subject, PinGuard()) for subject in subjects}

    def save_pin_guard(self, subject: str, guard: PinGuard, at: datetime) -> None:
        done = self._s.execute(
            update(PinGuardRow)
            .where(PinGuardRow.subject == subject)
            .values(failures=guard.failures, locked_until=guard.locked_until, updated_at=at)
            .returning(PinGuardRow.subject)
        ).first()
        if done is None:
            with translate_integrity(self._s, "pin_guards"):
                self._s.add(
                    PinGuardRow(
                        subject=subject,
                        failures=guard.failures,
                        locked_until=guard.locked_until,
                        updated_at=at,
                    )
                )
                self._s.flush()

    def clear_pin_guard(self, subject: str) -> None:
        self._s.execute(delete(PinGuardRow).where(PinGuardRow.subject == subject))
