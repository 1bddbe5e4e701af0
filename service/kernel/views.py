"""Small renderings every area's answers share: bytes as 0x-hex, times as ISO 8601."""

from __future__ import annotations

from datetime import datetime


def hex0x(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
