"""The Protocols the audit area needs, and only those."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from service.kernel.actor import Actor


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
