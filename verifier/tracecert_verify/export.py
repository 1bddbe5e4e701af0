"""Reading an export directory: the manifest, and each file checked against its SHA-256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "tracecert-audit/1"


class ExportError(Exception):
    """Raised when the export is incomplete or corrupt (a missing file, a wrong hash)."""


@dataclass
class Finding:
    """One discrepancy: which check, which entry or row, what differs."""

    check: str
    subject: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "subject": self.subject, "detail": self.detail}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    unanchored_tail: int = 0

    def add(self, check: str, subject: str, detail: str) -> None:
        self.findings.append(Finding(check, subject, detail))


class Export:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            self.manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise ExportError(f"manifest.json is missing or not JSON: {exc}") from exc
        if self.manifest.get("format") != FORMAT:
            raise ExportError(f"unknown export format {self.manifest.get('format')!r}")
        for name, expected in self.manifest.get("files", {}).items():
            digest = hashlib.sha256()
            try:
                with (directory / name).open("rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
            except OSError as exc:
                raise ExportError(f"{name} is missing: {exc}") from exc
            if digest.hexdigest() != expected["sha256"]:
                raise ExportError(f"{name} does not match its SHA-256 in manifest.json")

    def records(self, name: str) -> Iterator[dict[str, Any]]:
        """The records of one NDJSON file, in file order."""
        if name not in self.manifest.get("files", {}):
            raise ExportError(f"{name} is not in the manifest")
        with (self.directory / name).open("rb") as f:
            for n, line in enumerate(f, 1):
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise ExportError(f"{name} line {n} is not JSON") from exc
