"""Loading Hardhat 3 artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.artifacts import find_artifact, load_artifact
from chain.errors import ArtifactNotFoundError


def _write(root: Path, file: str, name: str, document: object) -> Path:
    path = root / "contracts" / file / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def test_loads_abi_and_bytecode(tmp_path: Path) -> None:
    abi = [{"type": "function", "name": "f", "inputs": [], "outputs": []}]
    _write(tmp_path, "A.sol", "A", {"contractName": "A", "abi": abi, "bytecode": "0x6001"})
    artifact = load_artifact(tmp_path, "A")
    assert (artifact.contract_name, artifact.abi, artifact.bytecode) == ("A", abi, b"\x60\x01")


def test_finds_contracts_in_nested_folders(tmp_path: Path) -> None:
    path = _write(tmp_path, "test/B.sol", "B", {"abi": [], "bytecode": "0x"})
    assert find_artifact(tmp_path, "B") == path
    assert load_artifact(tmp_path, "B").bytecode == b""


def test_prefers_the_file_named_after_the_contract(tmp_path: Path) -> None:
    own = _write(tmp_path, "C.sol", "C", {"abi": [], "bytecode": "0x00"})
    _write(tmp_path, "Other.sol", "C", {"abi": [], "bytecode": "0x01"})
    assert find_artifact(tmp_path, "C") == own


def test_missing_artifact_raises_artifact_not_found(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match="hardhat compile"):
        load_artifact(tmp_path, "Nope")


@pytest.mark.parametrize(
    "document",
    [
        {"abi": []},
        {"bytecode": "0x00"},
        {"abi": [], "bytecode": "0xzz"},
        {"abi": [], "bytecode": "0x73__$abc$__"},
        ["not", "an", "object"],
    ],
)
def test_malformed_artifact_raises_artifact_not_found(tmp_path: Path, document: object) -> None:
    _write(tmp_path, "D.sol", "D", document)
    with pytest.raises(ArtifactNotFoundError):
        load_artifact(tmp_path, "D")


def test_unreadable_json_raises_artifact_not_found(tmp_path: Path) -> None:
    path = tmp_path / "contracts" / "E.sol" / "E.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ArtifactNotFoundError):
        load_artifact(tmp_path, "E")
