"""Every module of the service that declares errors or events, found by name, so that the
checks over the whole error tree and every event class see the ones each area declares,
wherever the re-cut puts them (``service/<area>/domain/errors.py``, ``.../events.py``)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import service


def modules_named(leaf: str) -> list[ModuleType]:
    found = []
    for info in pkgutil.walk_packages(service.__path__, "service."):
        name = info.name
        if name.rsplit(".", 1)[-1] == leaf and not name.startswith("service.api."):
            found.append(importlib.import_module(name))
    return found
