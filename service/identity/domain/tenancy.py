"""Tenancy: the GS1 company prefixes a brand holds, and the partners it authorises.

A brand's GTINs fall within its own company prefixes; a partner (store, custodian, pledgee,
attestor) acts on a brand's goods only in the roles that brand authorised.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from service.kernel.errors import InvalidRequestError
from service.kernel.gs1 import normalise_company_prefix

#: Prefixes one brand may hold (GS1 assigns a handful at most).
MAX_COMPANY_PREFIXES = 50


class PartnerRole(StrEnum):
    """What a brand may authorise a partner organisation to do with its bottles."""

    STORE = "store"
    CUSTODIAN = "custodian"
    PLEDGEE = "pledgee"
    ATTESTOR = "attestor"


def normalise_prefixes(prefixes: Iterable[str]) -> list[str]:
    """The distinct, valid prefixes in order; none may contain another (one GTIN, one brand)."""
    found: list[str] = []
    for prefix in prefixes:
        value = normalise_company_prefix(prefix)
        if value not in found:
            found.append(value)
    if len(found) > MAX_COMPANY_PREFIXES:
        raise InvalidRequestError(f"A brand holds at most {MAX_COMPANY_PREFIXES} prefixes.")
    for a in found:
        for b in found:
            if a != b and b.startswith(a):
                raise InvalidRequestError(f"The prefix {b} lies within {a}; send only {a}.")
    return sorted(found)


def gtin_prefix_candidates(gtin14: str) -> list[str]:
    """Every 6-12 digit company prefix a GTIN-14 could fall within.

    A GTIN-14 is an indicator digit, then the GTIN-13 whose leading digits are the company
    prefix (a GTIN-12's U.P.C. prefix with its leading 0, so the same rule holds).
    """
    body = gtin14[1:]
    return [body[:n] for n in range(6, 13)]


def within(gtin14: str, prefixes: Iterable[str]) -> bool:
    """Return whether the GTIN-14 falls within one of ``prefixes``."""
    body = gtin14[1:]
    return any(body.startswith(p) for p in prefixes)


def partner_roles(roles: Iterable[str]) -> frozenset[PartnerRole]:
    """The roles named, or raise :class:`InvalidRequestError` naming the valid ones."""
    out = set()
    for role in roles:
        try:
            out.add(PartnerRole(role))
        except ValueError:
            raise InvalidRequestError(
                f"'{role}' is not a partner role; use store, custodian, pledgee or attestor."
            ) from None
    if not out:
        raise InvalidRequestError("Name at least one role (store, custodian, pledgee, attestor).")
    return frozenset(out)
