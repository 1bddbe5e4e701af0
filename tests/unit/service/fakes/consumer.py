"""Fake of the consumer's certificate repository (enough for scans)."""

from __future__ import annotations

from service.consumer.domain.certificates import Certificate
from tests.unit.service.fakes.state import Repo


class FakeCertificates(Repo):
    """Certificates by item, enough for scans; the claim flow is tested on the database."""

    def by_item(self, item_id: int) -> Certificate | None:
        return self.st.certificates.get(item_id)
