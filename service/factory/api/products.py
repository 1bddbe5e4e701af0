from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ContainerDep, CurrentActor, page_limit
from service.api.schemas import Limit, Offset
from service.factory.api.deps import FactoryDep
from service.factory.api.schemas import ProductCreate, ProductPublic
from service.factory.app.commands import RegisterProduct

router = APIRouter(tags=["products"])


@router.post("/products", status_code=201, response_model=ProductPublic)
def register_product(
    body: ProductCreate, actor: CurrentActor, factory: FactoryDep
) -> ProductPublic:
    """Register a product under its GTIN (brand; admins name the brand)."""
    cmd = RegisterProduct(
        actor=actor,
        gtin=body.gtin,
        name=body.name,
        attributes=body.attributes,
        brand_id=body.brand_id,
    )
    return ProductPublic.model_validate(factory.register_product(cmd))


@router.get("/products", response_model=list[ProductPublic])
def list_products(
    actor: CurrentActor,
    factory: FactoryDep,
    container: ContainerDep,
    offset: Offset = 0,
    limit: Limit = None,
) -> list[ProductPublic]:
    """Products of your brand."""
    rows = factory.list_products(actor, offset, page_limit(container, limit))
    return [ProductPublic.model_validate(r) for r in rows]


@router.get("/products/{gtin}", response_model=ProductPublic)
def get_product(gtin: str, actor: CurrentActor, factory: FactoryDep) -> ProductPublic:
    """One product of your brand."""
    return ProductPublic.model_validate(factory.get_product(actor, gtin))
