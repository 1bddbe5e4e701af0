"""The audit area's use case: the auditor's export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.audit.ports import AuditExporter
from service.kernel.actor import Actor
from service.kernel.roles import Permission
from service.ledger.interface import LogRangeError


def audit_export(
    actor: Actor,
    exporter: AuditExporter,
    directory: Any,
    since_index: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """The auditor's export of what ``actor`` may see (issue 13): files and a manifest."""
    actor.require(Permission.READ_LOG)
    if since_index < 0:
        raise LogRangeError("since_index must be 0 or more.")
    return exporter.write(directory, actor, since_index, progress)
