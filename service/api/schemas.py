"""Request (``ThingCreate``) and response (``ThingPublic``) bodies; requests forbid extra fields."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

#: A hard ceiling for the schema; the configured ``max_batch_items`` is enforced by the domain.
HARD_MAX_ITEMS = 100_000_000
HEX32 = r"^0x[0-9a-fA-F]{64}$"

#: Database ids are signed 64-bit integers: a larger one can name no row, and the drivers
#: refuse to bind it (an OverflowError, once a 500). Every id the API accepts, in a path, a
#: query or a body, is one of the three aliases below, so the schema declares the bound the
#: server enforces.
MAX_ID = 2**63 - 1
_ID_HELP = f"A positive id (at most {MAX_ID})."
#: An id in a request body.
Id = Annotated[int, Field(ge=1, le=MAX_ID, description=_ID_HELP)]
#: An id in the path.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description=_ID_HELP)]
#: An optional id in the query.
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description=_ID_HELP)]

#: Where a page starts. Pages end at ``limit`` rows: at most the configured
#: ``max_page_size``, which the OpenAPI document states as the maximum (service.api.openapi).
Offset = Annotated[int, Query(ge=0, le=2**31, description="Rows to skip.")]
Limit = Annotated[
    int | None,
    Query(ge=1, description="Rows per page (default: the configured default page size)."),
]


class Strict(BaseModel):
    # Enum fields keep their plain value, as the use cases take them.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, use_enum_values=True)


class Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorPublic(Public):
    """Every error: a machine-readable code and a sentence saying what to do, plus the facts a
    client may act on where the error has them."""

    error: str
    detail: str
    attempts_left: int | None = Field(
        default=None, description="Wrong PIN or sign-in code: tries left before a lock-out."
    )
    state: str | None = Field(
        default=None, description="A state conflict: the state the object is in now."
    )
    balance: int | None = Field(
        default=None, description="Insufficient points: the balance the spend saw."
    )
    needed: int | None = Field(default=None, description="Insufficient points: what it needed.")


class ChainWritePublic(Public):
    status: str
    tx_hash: str | None = None
    block_number: int | None = None
    confirmations: int | None = None
    error: str | None = None
