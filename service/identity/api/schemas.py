"""The bodies identity's routes take and answer; their names are the OpenAPI document's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from service.api.schemas import Id, Public, Strict
from service.kernel.roles import OrganisationKind

#: The roles an organisation's API key may carry (consumers sign in with their own accounts).
ApiKeyRole = Literal[
    "brand", "factory", "distributor", "store", "custodian", "pledgee", "attestor", "auditor",
    "admin",
]  # fmt: skip


class OrganisationCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: OrganisationKind
    brand_id: Id | None = Field(
        default=None, description="The brand a factory, distributor or store works for."
    )
    gs1_company_prefix: str | None = Field(
        default=None, max_length=12, description="A brand's GS1 company prefix, for SSCCs."
    )


class OrganisationPublic(Public):
    id: int
    name: str
    kind: str
    created_at: datetime
    brand_id: int | None = None
    gs1_company_prefix: str | None = None


class CompanyPrefixesUpdate(Strict):
    prefixes: list[Annotated[str, Field(min_length=6, max_length=12, pattern=r"^[0-9]+$")]] = Field(
        max_length=50,
        description="Every GS1 company prefix GS1 assigned the brand (replaces the earlier "
        "ones); the brand's GTINs must fall within them.",
    )


class CompanyPrefixesPublic(Public):
    organisation_id: int
    prefixes: list[str]


PartnerRoleName = Literal["store", "custodian", "pledgee", "attestor"]


class BrandPartnerUpdate(Strict):
    organisation_id: Id
    roles: list[PartnerRoleName] = Field(
        min_length=1,
        max_length=4,
        description="What the partner may do with the brand's bottles (replaces earlier roles).",
    )


class BrandPartnerPublic(Public):
    organisation_id: int
    name: str
    kind: str
    roles: list[str]


class ApiKeyCreate(Strict):
    role: ApiKeyRole


class ApiKeyPublic(Public):
    key_id: str
    organisation_id: int
    role: str
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeySecretPublic(ApiKeyPublic):
    api_key: str = Field(description="Shown once; store it now. Only a keyed hash is kept.")


class ScannerSessionPublic(Public):
    """A scanner device session: send ``token`` as ``Authorization: Bearer <token>`` to GET /me,
    POST /scans and POST /scans/upload only."""

    token: str = Field(description="tcs_<session id>_<secret>; shown once, only its hash is kept.")
    expires_at: datetime = Field(description="When it stops working: ask for the API key again.")
