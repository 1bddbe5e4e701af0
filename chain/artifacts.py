"""Compiled contract artifacts as Hardhat 3 writes them.

Hardhat puts each contract at ``artifacts/contracts/<File>.sol/<Name>.json`` with (among other
keys) ``contractName``, ``abi`` and ``bytecode`` (``0x`` hex of the creation code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain.errors import ArtifactNotFoundError


@dataclass(frozen=True)
class Artifact:
    """A contract's name, ABI and creation bytecode."""

    contract_name: str
    abi: list[dict[str, Any]] = field(hash=False)
    bytecode: bytes


def find_artifact(artifacts_dir: Path, name: str) -> Path:
    """Locate the artifact file of contract ``name`` under ``artifacts_dir/contracts``.

    Args:
        artifacts_dir: Hardhat's ``artifacts`` directory.
        name: the contract name (not the file name).

    Returns:
        The JSON file; ``<name>.sol/<name>.json`` wins when several files define ``name``.

    Raises:
        ArtifactNotFoundError: if there is no such artifact, or several that are ambiguous.
    """
    root = Path(artifacts_dir) / "contracts"
    matches = sorted(p for p in root.glob(f"**/{name}.json") if p.is_file())
    if not matches:
        raise ArtifactNotFoundError(
            f"no artifact for contract {name!r} under {root} (run `npx hardhat compile`)"
        )
    if len(matches) == 1:
        return matches[0]
    preferred = [p for p in matches if p.parent.name == f"{name}.sol"]
    if len(preferred) == 1:
        return preferred[0]
    raise ArtifactNotFoundError(
        f"contract name {name!r} is ambiguous: {', '.join(str(p) for p in matches)}"
    )


def load_artifact(artifacts_dir: Path, name: str) -> Artifact:
    """Load the artifact of contract ``name``.

    Args:
        artifacts_dir: Hardhat's ``artifacts`` directory.
        name: the contract name, e.g. ``"CertificateRegistry"``.

    Returns:
        The :class:`Artifact` (``bytecode`` is empty for interfaces and abstract contracts).

    Raises:
        ArtifactNotFoundError: if the artifact is missing, unreadable, lacks ``abi`` or
            ``bytecode``, or its bytecode still needs library linking.
    """
    path = find_artifact(artifacts_dir, name)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactNotFoundError(f"cannot read artifact {path}: {exc}") from exc
    abi = document.get("abi") if isinstance(document, dict) else None
    bytecode = document.get("bytecode") if isinstance(document, dict) else None
    if not isinstance(abi, list) or not isinstance(bytecode, str):
        raise ArtifactNotFoundError(f"artifact {path} lacks 'abi' or 'bytecode'")
    if "__$" in bytecode:
        raise ArtifactNotFoundError(f"artifact {path} needs library linking; not supported")
    hex_code = bytecode[2:] if bytecode.startswith("0x") else bytecode
    try:
        code = bytes.fromhex(hex_code)
    except ValueError as exc:
        raise ArtifactNotFoundError(f"artifact {path} has malformed bytecode") from exc
    return Artifact(contract_name=str(document.get("contractName", name)), abi=abi, bytecode=code)
