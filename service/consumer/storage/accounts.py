"""Consumer accounts on SQLAlchemy: accounts, sign-in codes and their tries, sessions and their
refresh tokens, wallet bindings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.consumer.domain.accounts import Account, Channel, Custody, Destination, OtpChallenge
from service.consumer.ports import (
    AccountSession,
)
from service.consumer.storage.rows import (
    AccountRow,
    AccountSessionRow,
    CertificateDealRow,
    CertificateRow,
    OtpChallengeRow,
)
from service.kernel.storage.sql import translate_integrity


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
        network=row.network,
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
            network=challenge.network,
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

    def challenges_since(
        self, since: datetime, network: str | None = None
    ) -> tuple[int, datetime | None]:
        query = select(func.count(), func.min(OtpChallengeRow.created_at)).where(
            OtpChallengeRow.created_at >= since
        )
        if network is not None:
            query = query.where(OtpChallengeRow.network == network)
        found, oldest = self._s.execute(query).one()
        return int(found), oldest

    def take_attempt(self, challenge_id: int, max_attempts: int) -> int | None:
        # One conditional UPDATE: concurrent guesses queue on the row and each sees the
        # count the one before it left, so never more than ``max_attempts`` are checked.
        done = self._s.execute(
            update(OtpChallengeRow)
            .where(
                OtpChallengeRow.id == challenge_id,
                OtpChallengeRow.attempts < max_attempts,
                OtpChallengeRow.consumed_at.is_(None),
            )
            .values(attempts=OtpChallengeRow.attempts + 1)
            .returning(OtpChallengeRow.attempts)
        ).first()
        return int(done[0]) if done is not None else None

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
                refresh_hash=session.refresh_hash,
            )
        )
        self._s.flush()

    def session(self, session_id: str) -> AccountSession | None:
        row = self._s.get(AccountSessionRow, session_id)
        if row is None:
            return None
        return AccountSession(
            row.id, row.account_id, row.expires_at, row.revoked_at, row.refresh_hash
        )

    def rotate_refresh(
        self, session_id: str, old_hash: str, new_hash: str, expires_at: datetime, now: datetime
    ) -> bool:
        done = self._s.execute(
            update(AccountSessionRow)
            .where(
                AccountSessionRow.id == session_id,
                AccountSessionRow.refresh_hash == old_hash,
                AccountSessionRow.revoked_at.is_(None),
                AccountSessionRow.expires_at > now,
            )
            .values(refresh_hash=new_hash, expires_at=expires_at)
            .returning(AccountSessionRow.id)
        ).first()
        return done is not None

    def erase(self, account_id: int, recipient_key: bytes, at: datetime) -> list[str]:
        row = self._s.get(AccountRow, account_id)
        if row is None:
            return []
        sessions = list(
            self._s.scalars(
                select(AccountSessionRow.id).where(
                    AccountSessionRow.account_id == account_id,
                    AccountSessionRow.revoked_at.is_(None),
                )
            )
        )
        destination = row.destination
        row.destination = f"erased:{row.public_id}"
        self._s.execute(delete(OtpChallengeRow).where(OtpChallengeRow.destination == destination))
        self._s.execute(
            update(AccountSessionRow)
            .where(
                AccountSessionRow.account_id == account_id, AccountSessionRow.revoked_at.is_(None)
            )
            .values(revoked_at=at)
        )
        deals = CertificateDealRow.__table__.c
        self._s.execute(
            update(CertificateDealRow)
            .where(deals.recipient_key == recipient_key)
            .values(recipient_key=None)
        )
        mine = select(CertificateRow.id).where(CertificateRow.owner_account_id == account_id)
        theirs = deals.certificate_id.in_(mine) | (deals.recipient_account_id == account_id)
        # Delivery details (sealed) go; a gift's message is the only personal part of its terms
        # (a pledge's terms are a contract with the pledgee, kept).
        self._s.execute(update(CertificateDealRow).where(theirs).values(sealed_details=None))
        self._s.execute(
            update(CertificateDealRow).where(theirs, deals.kind == "gift").values(terms={})
        )
        self._s.flush()
        return sessions

    def bind_wallet(self, account_id: int, address: str) -> bool:
        holds = self._s.scalar(
            select(func.count())
            .select_from(CertificateRow)
            .where(CertificateRow.owner_account_id == account_id)
        )
        if holds:
            return False
        try:
            with self._s.begin_nested():
                done = self._s.execute(
                    update(AccountRow)
                    .where(AccountRow.id == account_id)
                    .values(wallet_address=address, custody="self", sealed_key=None)
                    .returning(AccountRow.id)
                ).first()
        except IntegrityError:
            return False
        return done is not None

    def revoke_session(self, session_id: str, at: datetime) -> bool:
        done = self._s.execute(
            update(AccountSessionRow)
            .where(AccountSessionRow.id == session_id, AccountSessionRow.revoked_at.is_(None))
            .values(revoked_at=at)
            .returning(AccountSessionRow.id)
        ).first()
        return done is not None
