"""What identity's use cases need of storage: organisations, API keys (and the scanner sessions
opened with them), company prefixes and partner grants, in one unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from service.identity.domain.api_keys import ApiKey
from service.identity.domain.organisations import Organisation
from service.identity.domain.scanner_sessions import ScannerSession
from service.kernel.ports import UnitOfWork


class OrganisationRepository(Protocol):
    def add(self, organisation: Organisation) -> Organisation: ...
    def get(self, organisation_id: int) -> Organisation | None: ...
    def get_by_name(self, name: str) -> Organisation | None: ...
    def list(self, offset: int, limit: int) -> list[Organisation]: ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def get(self, key_id: str) -> ApiKey | None: ...
    def revoke(self, key_id: str, at: datetime) -> bool:
        """Revoke an unrevoked key, ending its scanner sessions; return False if it was
        already revoked."""
        ...

    def add_scanner_session(self, session: ScannerSession) -> None: ...
    def scanner_session(self, session_id: str) -> ScannerSession | None: ...
    def end_scanner_session(self, session_id: str, at: datetime) -> bool:
        """End a live scanner session; False if it had already ended."""
        ...


class TenancyRepository(Protocol):
    """The GS1 company prefixes brands hold and the partners they authorise."""

    def prefixes_of(self, organisation_id: int) -> list[str]: ...
    def holders(self, prefixes: Sequence[str]) -> dict[str, int]:
        """Which organisation holds each of ``prefixes`` (those nobody holds are left out)."""
        ...

    def overlapping(self, prefix: str) -> dict[str, int]:
        """Held prefixes equal to ``prefix``, within it or around it, and their holders."""
        ...

    def set_prefixes(self, organisation_id: int, prefixes: Sequence[str], at: datetime) -> None:
        """Replace the organisation's prefixes (DuplicateError if another holds one)."""
        ...

    def partners(self, brand_id: int) -> dict[int, frozenset[str]]:
        """The brand's partners and the roles each is authorised for."""
        ...

    def brands_of_partner(self, partner_id: int, role: str) -> list[int]:
        """The brands that authorised ``partner_id`` in ``role``."""
        ...

    def is_authorised(self, brand_id: int, partner_id: int, role: str) -> bool: ...
    def set_partner(
        self, brand_id: int, partner_id: int, roles: Sequence[str], at: datetime
    ) -> None:
        """Replace the roles ``partner_id`` holds for ``brand_id`` (none: remove it)."""
        ...


class IdentityUnitOfWork(UnitOfWork, Protocol):
    """One transaction over identity's tables (and the kernel's event log and idempotency keys)."""

    organisations: OrganisationRepository
    api_keys: ApiKeyRepository
    tenancy: TenancyRepository


class IdentityUnitOfWorkFactory(Protocol):
    def __call__(self) -> IdentityUnitOfWork: ...
    def reader(self) -> IdentityUnitOfWork:
        """A unit of work for use cases that only read (no write lock on SQLite)."""
        ...


# ----------------------------------------------------------------------------- for other areas
class OrganisationReads(Protocol):
    """Reading organisations (one by id, or a page): what other areas' units of work offer of
    identity's."""

    def get(self, organisation_id: int) -> Organisation | None: ...
    def list(self, offset: int, limit: int) -> list[Organisation]: ...


class PartnerGrants(Protocol):
    """Reading a brand's company prefixes and partner grants."""

    def prefixes_of(self, organisation_id: int) -> list[str]: ...
    def partners(self, brand_id: int) -> dict[int, frozenset[str]]: ...
    def is_authorised(self, brand_id: int, partner_id: int, role: str) -> bool: ...


class PartnerReads(Protocol):
    """The reads of identity another area's unit of work carries: its organisations and its
    tenancy (read-only here, so any unit of work that holds both repositories fits)."""

    @property
    def organisations(self) -> OrganisationReads: ...
    @property
    def tenancy(self) -> PartnerGrants: ...
