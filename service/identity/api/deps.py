"""The dependency of identity's routes on its use cases (built once in bootstrap)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from service.api.deps import use_cases
from service.identity.app.use_cases import OrganisationUseCases

OrganisationsDep = Annotated[OrganisationUseCases, Depends(use_cases("organisations"))]
