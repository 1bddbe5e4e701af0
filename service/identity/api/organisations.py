from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from service.api.deps import ContainerDep, CurrentActor, page_limit
from service.api.schemas import MAX_ID, IdPath, Limit, Offset
from service.identity.api.deps import OrganisationsDep
from service.identity.api.schemas import (
    ApiKeyCreate,
    ApiKeyPublic,
    ApiKeySecretPublic,
    BrandPartnerPublic,
    BrandPartnerUpdate,
    CompanyPrefixesPublic,
    CompanyPrefixesUpdate,
    OrganisationCreate,
    OrganisationPublic,
)
from service.identity.app.commands import CreateApiKey, CreateOrganisation, RevokeApiKey
from service.identity.domain.api_keys import ApiKey
from service.identity.domain.organisations import Organisation

router = APIRouter(tags=["organisations"])


def _org(o: Organisation) -> OrganisationPublic:
    assert o.id is not None
    return OrganisationPublic(
        id=o.id,
        name=o.name,
        kind=o.kind.value,
        created_at=o.created_at,
        brand_id=o.brand_id,
        gs1_company_prefix=o.gs1_company_prefix,
    )


def _key(k: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(
        key_id=k.key_id,
        organisation_id=k.organisation_id,
        role=k.role.value,
        created_at=k.created_at,
        revoked_at=k.revoked_at,
    )


@router.post("/organisations", status_code=201, response_model=OrganisationPublic)
def create_organisation(
    body: OrganisationCreate, actor: CurrentActor, organisations: OrganisationsDep
) -> OrganisationPublic:
    """Register an organisation (admin)."""
    cmd = CreateOrganisation(
        actor=actor,
        name=body.name,
        kind=body.kind,
        brand_id=body.brand_id,
        gs1_company_prefix=body.gs1_company_prefix,
    )
    return _org(organisations.create_organisation(cmd))


@router.get("/organisations", response_model=list[OrganisationPublic])
def list_organisations(
    actor: CurrentActor,
    organisations: OrganisationsDep,
    container: ContainerDep,
    offset: Offset = 0,
    limit: Limit = None,
) -> list[OrganisationPublic]:
    """List organisations (admin)."""
    orgs = organisations.list_organisations(actor, offset, page_limit(container, limit))
    return [_org(o) for o in orgs]


@router.post(
    "/organisations/{organisation_id}/api-keys",
    status_code=201,
    response_model=ApiKeySecretPublic,
)
def create_api_key(
    organisation_id: IdPath,
    body: ApiKeyCreate,
    actor: CurrentActor,
    organisations: OrganisationsDep,
) -> ApiKeySecretPublic:
    """Issue an API key for an organisation and role (admin); the key is shown once."""
    cmd = CreateApiKey(actor=actor, organisation_id=organisation_id, role=body.role)
    issued = organisations.create_api_key(cmd)
    return ApiKeySecretPublic(**_key(issued.key).model_dump(), api_key=issued.secret_key)


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyPublic)
def revoke_api_key(
    key_id: str, actor: CurrentActor, organisations: OrganisationsDep
) -> ApiKeyPublic:
    """Revoke an API key (admin); revoking twice is harmless."""
    cmd = RevokeApiKey(actor=actor, key_id=key_id)
    return _key(organisations.revoke_api_key(cmd))


@router.get(
    "/organisations/{organisation_id}/company-prefixes", response_model=CompanyPrefixesPublic
)
def get_company_prefixes(
    organisation_id: IdPath, actor: CurrentActor, organisations: OrganisationsDep
) -> CompanyPrefixesPublic:
    """The GS1 company prefixes a brand holds (admin)."""
    prefixes = organisations.company_prefixes(actor, organisation_id)
    return CompanyPrefixesPublic(organisation_id=organisation_id, prefixes=prefixes)


@router.put(
    "/organisations/{organisation_id}/company-prefixes", response_model=CompanyPrefixesPublic
)
def put_company_prefixes(
    organisation_id: IdPath,
    body: CompanyPrefixesUpdate,
    actor: CurrentActor,
    organisations: OrganisationsDep,
) -> CompanyPrefixesPublic:
    """Record every GS1 company prefix GS1 assigned a brand (admin); its GTINs must fall within
    them. A prefix overlapping another organisation's is a 409 ``company_prefix_taken``."""
    prefixes = organisations.set_company_prefixes(actor, organisation_id, body.prefixes)
    return CompanyPrefixesPublic(organisation_id=organisation_id, prefixes=prefixes)


#: The brand an admin acts for on ``/brand/partners`` (a brand's key acts for its own).
BrandQuery = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Admin only: the brand acted for.")
]


@router.get("/brand/partners", response_model=list[BrandPartnerPublic])
def list_brand_partners(
    actor: CurrentActor, organisations: OrganisationsDep, brand_id: BrandQuery = None
) -> list[BrandPartnerPublic]:
    """The partners the brand authorised (stores, custodians, pledgees, attestors) and their
    roles (brand; an admin names the brand)."""
    return [BrandPartnerPublic(**p) for p in organisations.list_partners(actor, brand_id)]


@router.put("/brand/partners", response_model=BrandPartnerPublic)
def put_brand_partner(
    body: BrandPartnerUpdate,
    actor: CurrentActor,
    organisations: OrganisationsDep,
    brand_id: BrandQuery = None,
) -> BrandPartnerPublic:
    """Authorise a partner organisation in the roles given, for the brand's bottles,
    replacing its earlier roles (brand; an admin names the brand)."""
    view = organisations.set_partner(actor, body.organisation_id, list(body.roles), brand_id)
    assert view is not None
    return BrandPartnerPublic(**view)


@router.delete("/brand/partners/{organisation_id}", status_code=204)
def delete_brand_partner(
    organisation_id: IdPath,
    actor: CurrentActor,
    organisations: OrganisationsDep,
    brand_id: BrandQuery = None,
) -> Response:
    """Withdraw every authorisation the brand gave this partner (brand; an admin names the
    brand); harmless twice."""
    organisations.set_partner(actor, organisation_id, [], brand_id)
    return Response(status_code=204)
