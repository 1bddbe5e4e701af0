"""The sealed code file's downloads and the reprints a brand approved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.factory.ports import CodeFileDownload
from service.factory.storage.rows import (
    CodeFileApprovalRow,
    CodeFileDownloadRow,
)
from service.kernel.storage.sql import (
    translate_integrity,
)


class SqlAlchemyCodeFileRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def downloads(self, batch_id: int) -> list[CodeFileDownload]:
        rows = self._s.scalars(
            select(CodeFileDownloadRow)
            .where(CodeFileDownloadRow.batch_id == batch_id)
            .order_by(CodeFileDownloadRow.id)
        )
        return [
            CodeFileDownload(n, r.principal_id, r.approval_id, r.downloaded_at)
            for n, r in enumerate(rows, start=1)
        ]

    def add_approval(self, batch_id: int, approved_by: str, reason: str, at: datetime) -> int:
        row = CodeFileApprovalRow(
            batch_id=batch_id, approved_by=approved_by, reason=reason, created_at=at
        )
        self._s.add(row)
        self._s.flush()
        return row.id

    def take_approval(self, batch_id: int, at: datetime) -> int | None:
        candidate = self._s.scalar(
            select(CodeFileApprovalRow.id)
            .where(CodeFileApprovalRow.batch_id == batch_id, CodeFileApprovalRow.used_at.is_(None))
            .order_by(CodeFileApprovalRow.id)
            .limit(1)
        )
        if candidate is None:
            return None
        result = self._s.execute(
            update(CodeFileApprovalRow)
            .where(CodeFileApprovalRow.id == candidate, CodeFileApprovalRow.used_at.is_(None))
            .values(used_at=at)
        )
        return candidate if result.rowcount == 1 else None  # type: ignore[attr-defined]

    def add_download(
        self, batch_id: int, principal_id: str, approval_id: int | None, at: datetime
    ) -> int:
        self._s.add(
            CodeFileDownloadRow(
                batch_id=batch_id,
                principal_id=principal_id,
                approval_id=approval_id,
                downloaded_at=at,
            )
        )
        with translate_integrity(self._s, "code_file_downloads"):
            self._s.flush()
        return int(
            self._s.scalar(select(func.count()).where(CodeFileDownloadRow.batch_id == batch_id))
            or 0
        )
