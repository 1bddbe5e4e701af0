"""The dependency of factory's routes on its use cases (built once in bootstrap)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from service.api.deps import use_cases
from service.factory.app.use_cases import FactoryUseCases

FactoryDep = Annotated[FactoryUseCases, Depends(use_cases("factory"))]
