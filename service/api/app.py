"""``create_app(container)``: the FastAPI application, with no global state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from service.alerts import api as alerts
from service.api import docs, errors, openapi
from service.api.lanes import Lane
from service.api.limits import BodySizeLimitMiddleware, RenderSlots, ScanLimits
from service.audit import api as audit
from service.channel.api import epcis, scanner
from service.channel.api import network as distribution
from service.consumer.api import accounts as consumers
from service.consumer.api import certificates, pages
from service.consumer.api import scan as items
from service.factory.api import batches, products
from service.identity.api import organisations, scanner_sessions
from service.ledger.api import health, log
from service.touchpoints import api as touchpoints


def create_app(container: Any, *, manage_workers: bool = True) -> FastAPI:
    """Build the API around ``container``; its workers run while the app is served."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_workers:
            container.start_workers()
        try:
            yield
        finally:
            if manage_workers:
                container.stop_workers()

    app = FastAPI(
        title="tracecert",
        version="0.1.0",
        description="One item, one code, one certificate: batches anchored on an EVM chain.",
        lifespan=lifespan,
        # /docs is served from our own origin (service/api/docs.py); ReDoc only from a CDN: off.
        docs_url=None,
        redoc_url=None,
    )
    app.state.container = container
    app.state.label_slots = RenderSlots(container.settings.label_max_parallel)
    app.state.scan_limits = ScanLimits.from_settings(container.settings)
    dialect = container.uow_factory.engine.dialect.name
    app.state.write_lane = Lane.for_database("write", dialect, container.settings.write_lane)
    app.state.verify_lane = Lane.for_database("verify", dialect, container.settings.verify_lane)
    openapi.install(app, max_page_size=container.settings.max_page_size)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=container.settings.max_body_bytes)
    errors.install(app)  # its middleware goes last: it wraps the others
    for module in (
        health,
        organisations,
        distribution,
        products,
        batches,
        items,
        consumers,
        certificates,
        alerts,
        epcis,
        log,
        audit,
        touchpoints,
        scanner_sessions,
        scanner,
        pages,
        docs,
    ):
        app.include_router(module.router)
        if module is distribution:
            # One alert and its status: the alerts' routes that the channel's router served
            # (their place in the OpenAPI document and their tag stay).
            app.include_router(alerts.case_router)
    return app
