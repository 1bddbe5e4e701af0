"""Fakes of identity's repositories: organisations, API keys, company prefixes and partners."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime

from service.identity.domain.api_keys import ApiKey
from service.identity.domain.organisations import Organisation
from service.kernel.ports import DuplicateError
from tests.unit.service.fakes.state import Repo, next_id


# ----------------------------------------------------------------------------- repositories
class FakeOrganisations(Repo):
    def add(self, organisation: Organisation) -> Organisation:
        if any(o.name == organisation.name for o in self.st.organisations.values()):
            raise DuplicateError("organisations")
        organisation.id = next_id(self.st.organisations)
        self.st.organisations[organisation.id] = copy.copy(organisation)
        return organisation

    def get(self, organisation_id: int) -> Organisation | None:
        found = self.st.organisations.get(organisation_id)
        return copy.copy(found) if found else None

    def get_by_name(self, name: str) -> Organisation | None:
        found = next((o for o in self.st.organisations.values() if o.name == name), None)
        return copy.copy(found) if found else None

    def list(self, offset: int, limit: int) -> list[Organisation]:
        ordered = sorted(self.st.organisations.values(), key=lambda o: o.id or 0)
        return [copy.copy(o) for o in ordered[offset : offset + limit]]


class FakeApiKeys(Repo):
    def add(self, key: ApiKey) -> None:
        self.st.api_keys[key.key_id] = copy.copy(key)

    def get(self, key_id: str) -> ApiKey | None:
        key = self.st.api_keys.get(key_id)
        return copy.copy(key) if key else None

    def revoke(self, key_id: str, at: datetime) -> bool:
        key = self.st.api_keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return False
        key.revoked_at = at
        return True


class FakeTenancy(Repo):
    def prefixes_of(self, organisation_id: int) -> list[str]:
        return sorted(p for p, o in self.st.company_prefixes.items() if o == organisation_id)

    def holders(self, prefixes: Sequence[str]) -> dict[str, int]:
        return {p: self.st.company_prefixes[p] for p in prefixes if p in self.st.company_prefixes}

    def overlapping(self, prefix: str) -> dict[str, int]:
        return {
            p: o
            for p, o in self.st.company_prefixes.items()
            if p.startswith(prefix) or prefix.startswith(p)
        }

    def set_prefixes(self, organisation_id: int, prefixes: Sequence[str], at: datetime) -> None:
        for p in prefixes:
            if self.st.company_prefixes.get(p, organisation_id) != organisation_id:
                raise DuplicateError("company_prefixes")
        for p in [p for p, o in self.st.company_prefixes.items() if o == organisation_id]:
            del self.st.company_prefixes[p]
        for p in prefixes:
            self.st.company_prefixes[p] = organisation_id

    def partners(self, brand_id: int) -> dict[int, frozenset[str]]:
        return {p: r for (b, p), r in sorted(self.st.brand_partners.items()) if b == brand_id}

    def brands_of_partner(self, partner_id: int, role: str) -> list[int]:
        found = self.st.brand_partners.items()
        return sorted(b for (b, p), r in found if p == partner_id and role in r)

    def is_authorised(self, brand_id: int, partner_id: int, role: str) -> bool:
        return role in self.st.brand_partners.get((brand_id, partner_id), frozenset())

    def set_partner(
        self, brand_id: int, partner_id: int, roles: Sequence[str], at: datetime
    ) -> None:
        if roles:
            self.st.brand_partners[(brand_id, partner_id)] = frozenset(roles)
        else:
            self.st.brand_partners.pop((brand_id, partner_id), None)
