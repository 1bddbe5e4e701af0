"""The README and docs/ say what the code does: every setting in the configuration table with
its default, every GTIN and SSCC in an example with a right check digit (by the project's own
check-digit code), and the worked ``metadataHash`` example recomputed by the service's code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from chain.config import ChainSettings
from service.config import Settings
from service.kernel.errors import InvalidGtinError
from service.kernel.events import canonical_json
from service.kernel.gs1 import is_valid_sscc, normalise_gtin
from service.ledger.storage.commitments import ChainCommitments

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted([README, *(ROOT / "docs").glob("*.md")])


# ----------------------------------------------------------------------------- configuration
def _table_rows() -> dict[str, tuple[str, str]]:
    """``{variable: (default cell, meaning cell)}`` of the README's configuration table."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        found = re.fullmatch(r"\| `((?:TRACECERT|CHAIN)_[A-Z0-9_]+)` \|(.*)\|(.*)\|", line)
        if found:
            rows[found.group(1)] = (found.group(2).strip(), found.group(3).strip())
    return rows


def _settings(model: type[BaseSettings], prefix: str) -> list[tuple[str, Any]]:
    return [
        (prefix + name.upper(), field.default)
        for name, field in model.model_fields.items()
        if name != "chain"  # the nested ChainSettings, listed with its own prefix
    ]


SETTINGS = _settings(Settings, "TRACECERT_") + _settings(ChainSettings, "CHAIN_")


def _written(default: Any) -> set[str] | None:
    """How the table may write ``default`` (None: a secret or an empty default, any text)."""
    if default is None or default == "" or isinstance(default, SecretStr):
        return None
    if isinstance(default, bool):
        return {str(default).lower()}
    if isinstance(default, float):
        return {f"{default:g}", str(default)}
    return {str(default)}


@pytest.mark.parametrize(("variable", "default"), SETTINGS, ids=[v for v, _ in SETTINGS])
def test_every_setting_is_in_the_readme_table_with_its_default_and_meaning(variable, default):
    rows = _table_rows()
    assert variable in rows, f"{variable} is missing from the README's configuration table"
    cell, meaning = rows[variable]
    assert meaning, f"{variable}: say what it means"
    written = _written(default)
    if written is not None:
        shown = re.findall(r"`([^`]*)`", cell)
        assert written & set(shown), f"{variable}: the table says {cell!r}, the code {default!r}"


# ----------------------------------------------------------------------------- GS1 keys
#: (pattern, kind): standalone 18-digit numbers are SSCCs and 14-digit ones GTIN-14s; any run
#: of digits after /00/ or /01/ in a URI, or given as a GTIN, is one too.
KEYS = [
    (re.compile(r"(?<![0-9])([0-9]{18})(?![0-9])"), "sscc"),
    (re.compile(r"(?<![0-9+])([0-9]{14})(?![0-9])"), "gtin"),
    (re.compile(r"/00/([0-9]+)"), "sscc"),
    (re.compile(r"/01/([0-9]+)"), "gtin"),
    (re.compile(r"gtin[\"']?\s*[:=]?\s*[\"']?([0-9]{8,14})(?![0-9])", re.I), "gtin"),
    (re.compile(r"--gtin ([0-9]+)"), "gtin"),
]


def _keys_in_docs() -> list[tuple[str, int, str, str]]:
    found = []
    for path in DOCS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pattern, kind in KEYS:
                for value in pattern.findall(line):
                    found.append((path.name, number, kind, value))
    return found


def test_every_gtin_and_sscc_in_the_docs_has_a_right_check_digit():
    keys = _keys_in_docs()
    assert {kind for *_, kind, _ in keys} == {"gtin", "sscc"}, "the scan found nothing to check"
    wrong = []
    for name, number, kind, value in keys:
        if kind == "sscc":
            ok = is_valid_sscc(value)
        else:
            try:
                normalise_gtin(value)
                ok = True
            except InvalidGtinError:
                ok = False
        if not ok:
            wrong.append(f"{name}:{number}: {kind.upper()} {value}")
    assert not wrong, "wrong check digits: " + "; ".join(wrong)


# ----------------------------------------------------------------------------- metadataHash
def _worked_example() -> tuple[str, str, int, str]:
    text = (ROOT / "docs" / "factory.md").read_text(encoding="utf-8")
    section = text.split("### How `metadataHash` is computed", 1)[1].split("\n## ", 1)[0]
    as_shown, canonical = re.findall(r"```json\n(.*?)\n```", section, re.S)[:2]
    size = int(re.search(r"canonical form \((\d+) bytes", section).group(1))  # type: ignore[union-attr]
    (digest,) = re.findall(r"```\n(0x[0-9a-f]{64})\n```", section)
    return as_shown, canonical, size, digest


def test_the_worked_metadata_hash_example_is_what_the_service_computes():
    as_shown, canonical, size, digest = _worked_example()
    attributes = json.loads(as_shown)
    assert canonical_json(attributes) == canonical.encode("utf-8")
    assert len(canonical.encode("utf-8")) == size
    assert "0x" + ChainCommitments().attributes_hash(attributes).hex() == digest
    assert json.loads(canonical) == attributes
