"""Products: a brand registers them under its GTINs; who sees which."""

from __future__ import annotations

from typing import Any

from service.factory.app.commands import (
    RegisterProduct,
)
from service.factory.domain.errors import (
    ProductExistsError,
    ProductNotFoundError,
)
from service.factory.domain.events import (
    ProductRegistered,
)
from service.factory.domain.products import Product, new_product
from service.factory.ports import FactoryUnitOfWork
from service.identity.interface import OrganisationNotFoundError, require_within_prefixes
from service.kernel.actor import Actor
from service.kernel.errors import (
    InvalidRequestError,
)
from service.kernel.gs1 import (
    normalise_gtin,
)
from service.kernel.ports import Clock, DuplicateError
from service.kernel.roles import OrganisationKind, Permission, Role
from service.kernel.views import iso


# ----------------------------------------------------------------------------- products
def product_view(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "gtin": product.gtin,
        "brand_id": product.brand_id,
        "name": product.name,
        "attributes": product.attributes,
        "created_at": iso(product.created_at),
    }


def register_product(cmd: RegisterProduct, uow: FactoryUnitOfWork, clock: Clock) -> dict[str, Any]:
    """A brand registers a product under its GTIN (an admin may do it for any brand)."""
    actor = cmd.actor
    actor.require(Permission.MANAGE_PRODUCTS)
    if actor.role is Role.ADMIN:
        if cmd.brand_id is None:
            raise InvalidRequestError("An admin names the brand the product belongs to (brand_id).")
        brand_id = cmd.brand_id
    else:
        if cmd.brand_id is not None and cmd.brand_id != actor.brand_id:
            raise ProductNotFoundError("You can register products of your own brand only.")
        assert actor.brand_id is not None
        brand_id = actor.brand_id
    with uow:
        brand = uow.organisations.get(brand_id)
        if brand is None or brand.kind is not OrganisationKind.BRAND:
            raise OrganisationNotFoundError(f"Organisation {brand_id} is not a brand.")
        product = new_product(cmd.gtin, brand_id, cmd.name, cmd.attributes)
        # Before any lookup of the GTIN: a refusal must not tell whether another brand has it.
        require_within_prefixes(uow, brand_id, product.gtin)
        if uow.products.get_by_gtin(product.gtin) is not None:
            raise ProductExistsError()
        now = clock.now()
        product.created_at = now
        try:
            uow.products.add(product)
        except DuplicateError as exc:
            raise ProductExistsError() from exc
        assert product.id is not None
        uow.events.append(ProductRegistered(product.id, product.gtin, brand_id), now)
        uow.commit()
    return product_view(product)


def _visible_product(uow: FactoryUnitOfWork, actor: Actor, gtin: str) -> Product:
    product = uow.products.get_by_gtin(normalise_gtin(gtin))
    if product is None or not actor.sees_brand(product.brand_id):
        raise ProductNotFoundError()
    return product


def get_product(actor: Actor, gtin: str, uow: FactoryUnitOfWork) -> dict[str, Any]:
    actor.require(Permission.READ_PRODUCTS)
    with uow:
        return product_view(_visible_product(uow, actor, gtin))


def list_products(
    actor: Actor, uow: FactoryUnitOfWork, offset: int, limit: int
) -> list[dict[str, Any]]:
    actor.require(Permission.READ_PRODUCTS)
    brand = None if actor.role is Role.ADMIN else actor.brand_id
    if brand is None and actor.role is not Role.ADMIN:
        return []
    with uow:
        return [product_view(p) for p in uow.products.list(brand, offset, limit)]
