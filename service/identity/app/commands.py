"""What a caller asks of identity: create an organisation, issue or revoke an API key."""

from __future__ import annotations

from dataclasses import dataclass

from service.kernel.actor import Actor


@dataclass(frozen=True)
class CreateOrganisation:
    actor: Actor
    name: str
    kind: str
    brand_id: int | None = None
    gs1_company_prefix: str | None = None


@dataclass(frozen=True)
class CreateApiKey:
    actor: Actor
    organisation_id: int
    role: str


@dataclass(frozen=True)
class RevokeApiKey:
    actor: Actor
    key_id: str
