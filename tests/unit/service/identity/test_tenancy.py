"""Tenancy: company prefixes bound a brand's GTINs; attestors act for brands that asked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.alerts.app import get_alert, list_alerts
from service.alerts.domain.alerts import Alert, AlertKind
from service.alerts.domain.errors import AlertNotFoundError
from service.factory.domain.errors import BatchNotFoundError
from service.identity.app import tenancy
from service.identity.domain.errors import CompanyPrefixTakenError, GtinOutsideCompanyPrefixesError
from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError, PermissionDeniedError
from service.kernel.roles import Role
from tests.unit.service.fakes.world import (
    ADMIN,
    ATTESTOR,
    BRAND,
    DISTRIBUTOR,
    GTIN,
    OTHER_BRAND,
    OTHER_BRAND_PREFIX,
    OTHER_FACTORY,
    Harness,
    gtin14,
)

WULIANGYE_GTIN = gtin14("0" + OTHER_BRAND_PREFIX)


@pytest.fixture
def h():
    return Harness()


# ----------------------------------------------------------------------------- prefixes
def test_a_brand_cannot_register_a_gtin_of_another_brands_prefix(h):
    with pytest.raises(GtinOutsideCompanyPrefixesError):
        h.product(actor=OTHER_BRAND, gtin=GTIN)
    assert not h.state.products


def test_the_prefix_refusal_does_not_confirm_that_the_gtin_exists(h):
    h.product(actor=BRAND, gtin=GTIN)
    with pytest.raises(GtinOutsideCompanyPrefixesError):
        h.product(actor=OTHER_BRAND, gtin=GTIN)
    assert len(h.state.products) == 1


def test_a_brand_registers_gtins_within_its_own_prefixes(h):
    assert h.product(actor=OTHER_BRAND, gtin=WULIANGYE_GTIN)["brand_id"] == 4


def test_an_admin_registers_no_gtin_outside_the_named_brands_prefixes(h):
    with pytest.raises(GtinOutsideCompanyPrefixesError):
        h.product(actor=ADMIN, brand_id=4, gtin=GTIN)


def test_a_prefix_another_brand_holds_is_refused(h):
    for taken in (GTIN[1:13], GTIN[1:9], "950600"):
        with pytest.raises(CompanyPrefixTakenError):
            tenancy.set_company_prefixes(ADMIN, 4, [taken], h.db(), h.clock)
    assert tenancy.company_prefixes(ADMIN, 4, h.db()) == [OTHER_BRAND_PREFIX]


def test_the_admin_replaces_a_brands_prefixes(h):
    assert tenancy.set_company_prefixes(ADMIN, 4, ["7012345", "7012345"], h.db(), h.clock) == [
        "7012345"
    ]
    assert tenancy.company_prefixes(ADMIN, 4, h.db()) == ["7012345"]
    assert h.state.event_types()[-1] == "CompanyPrefixesSet"
    with pytest.raises(GtinOutsideCompanyPrefixesError):
        h.product(actor=OTHER_BRAND, gtin=WULIANGYE_GTIN)


def test_only_the_admin_sets_prefixes(h):
    with pytest.raises(PermissionDeniedError):
        tenancy.set_company_prefixes(OTHER_BRAND, 4, ["7012345"], h.db(), h.clock)


# ----------------------------------------------------------------------------- attestors
def test_an_attestor_cannot_attest_a_batch_of_a_brand_that_did_not_authorise_it(h):
    h.product(actor=OTHER_BRAND, gtin=WULIANGYE_GTIN)
    public_id = h.anchored(actor=OTHER_FACTORY, gtin=WULIANGYE_GTIN)
    with pytest.raises(BatchNotFoundError):
        h.attest(public_id)
    assert not h.state.attestations


def test_an_attestor_attests_once_the_brand_authorised_it(h):
    h.product(actor=OTHER_BRAND, gtin=WULIANGYE_GTIN)
    public_id = h.anchored(actor=OTHER_FACTORY, gtin=WULIANGYE_GTIN)
    tenancy.set_partner(OTHER_BRAND, 6, ["attestor"], h.db(), h.clock)
    assert len(h.attest(public_id)["attestations"]) == 1
    tenancy.set_partner(OTHER_BRAND, 6, [], h.db(), h.clock)
    with pytest.raises(BatchNotFoundError):
        h.attest(public_id, report_hash=b"\x08" * 32)


def test_a_partner_is_authorised_only_in_the_role_its_kind_carries(h):
    with pytest.raises(InvalidRequestError):
        tenancy.set_partner(BRAND, 6, ["store"], h.db(), h.clock)
    with pytest.raises(PermissionDeniedError):
        tenancy.set_partner(ATTESTOR, 6, ["attestor"], h.db(), h.clock)


# ----------------------------------------------------------------------------- alert scope
def test_an_alert_is_read_by_id_exactly_when_it_is_listed(h):
    """Distributor B of another brand raised alert 1 on brand 2's goods (before sightings of
    other brands' goods were refused): it neither lists it nor reads it by its id."""
    other_distributor = Actor("key:d2", Role.DISTRIBUTOR, organisation_id=9, brand_id=4)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    h.state.alerts[1] = Alert(
        AlertKind.DIVERSION, "k", 2, None, None, first_seen_at=at, last_seen_at=at,
        scanner_id=9, responsible_id=8, id=1,
    )  # fmt: skip
    for reader, sees in ((other_distributor, False), (DISTRIBUTOR, True), (BRAND, True),
                         (OTHER_BRAND, False), (ADMIN, True)):  # fmt: skip
        listed = [a["id"] for a in list_alerts(reader, h.db(), None, 0, 10)]
        assert listed == ([1] if sees else [])
        if sees:
            assert get_alert(reader, 1, h.db())["id"] == 1
        else:
            with pytest.raises(AlertNotFoundError):
                get_alert(reader, 1, h.db())
