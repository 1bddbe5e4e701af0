"""ASGI entry: ``uvicorn --factory service.main:app_factory``."""

from __future__ import annotations

from fastapi import FastAPI

from service.api.app import create_app
from service.bootstrap import bootstrap
from service.config import Settings


def app_factory() -> FastAPI:
    """Build settings from the environment, wire the container, return the app."""
    return create_app(bootstrap(Settings()))
