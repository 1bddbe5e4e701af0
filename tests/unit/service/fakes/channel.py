"""Fakes of the channel's repositories: custody, as the scan and alert use cases read it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.unit.service.fakes.state import Repo


# ----------------------------------------------------------------------------- unit of work
class FakeCustody(Repo):
    """Custody as the fakes know it: nothing is shipped, so the factory holds every item."""

    def target(self, sscc: str | None, serial: str | None) -> None:
        return None  # nothing travels here: a scan's journey is empty

    def history(self, target: object) -> list[dict[str, Any]]:
        return []

    def last_holders(self, serials: Sequence[str]) -> dict[str, tuple[int | None, int | None]]:
        out: dict[str, tuple[int | None, int | None]] = {}
        for serial in serials:
            item = self.st.items.get(serial)
            if item is not None:
                out[serial] = (self.st.batches[item.batch_id].organisation_id, None)
        return out
