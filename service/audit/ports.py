"""The Protocols the audit area needs, and only those."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from service.kernel.actor import Actor
from service.kernel.ports import LogEntry


class AuditExporter(Protocol):
    """Writes the auditor's export (service/audit/storage.py) in one snapshot."""

    def write(
        self,
        directory: Any,
        actor: Actor,
        since_index: int = 0,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Write the files and manifest.json of what ``actor`` may see; return the manifest."""
        ...


class LogCut(Protocol):
    """The ledger's rule of who sees which log entries (``ledger/app/log_access.cut_all``): each
    entry as ``{index, leaf_hash, withheld, payload}``, the payload withheld from an actor it
    does not concern. ``tenants`` resolves the brands entries belong to; bootstrap passes the
    ledger's rule, so audit applies it without importing the ledger's use cases."""

    def __call__(
        self, actor: Actor, entries: Iterable[LogEntry], tenants: Any, /
    ) -> Iterable[dict[str, Any]]: ...
