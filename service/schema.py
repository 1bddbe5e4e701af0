"""The whole schema: every area's rows, imported so that ``Base.metadata`` holds every table.

Alembic's ``env.py`` and the tests read the metadata from here; the unit of work imports it so
that every mapper is configured before the first query.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

# Every module that declares rows, so that the metadata is whole once this module is imported.
import service.alerts.storage.rows
import service.channel.storage.rows
import service.consumer.storage.rows
import service.factory.storage.rows
import service.identity.storage.rows
import service.kernel.storage.rows
import service.ledger.storage.rows
import service.touchpoints.storage.rows
from service.kernel.storage.rows import Base

#: The modules that declare rows, one per area and the kernel's (a new area adds its own).
ROW_MODULES = (
    service.alerts.storage.rows,
    service.channel.storage.rows,
    service.consumer.storage.rows,
    service.factory.storage.rows,
    service.identity.storage.rows,
    service.ledger.storage.rows,
    service.touchpoints.storage.rows,
    service.kernel.storage.rows,
)

#: Every table of the service, as the migrations create them.
metadata = Base.metadata


def row_counts(session: Session) -> dict[str, Any]:
    """Return the number of rows per table (used by tests and ``tracecert`` diagnostics)."""
    return {
        name: session.scalar(select(func.count()).select_from(table))
        for name, table in Base.metadata.tables.items()
    }
