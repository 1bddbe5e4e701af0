"""Deploying contracts and sending one-off transactions (deploy scripts, tests).

The service never writes through this module: its writes go through the outbox and
:mod:`chain.sender`. Deployments and test set-up are one-shot and may wait synchronously.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.abi import collapse_if_tuple
from eth_utils.address import to_checksum_address

from chain.artifacts import Artifact, load_artifact
from chain.client import ChainClient, Receipt
from chain.errors import ChainError, TransactionTimeoutError

#: Head-room over the node's gas estimate (estimates are exact for the state they ran on).
GAS_MARGIN_PERMILLE = 1200


@dataclass(frozen=True)
class Deployment:
    """Where a contract was deployed, and by which transaction."""

    contract_name: str
    address: str
    tx_hash: bytes
    block_number: int


@dataclass(frozen=True)
class RegistryDeployment:
    """A ``CertificateRegistry`` and the ``TracecertForwarder`` it trusts, deployed together."""

    registry: Deployment
    forwarder: Deployment


def encode_constructor(artifact: Artifact, *args: Any) -> bytes:
    """Return the creation code of ``artifact`` followed by its ABI-encoded constructor args.

    Args:
        artifact: the contract.
        *args: constructor arguments in ABI order (tuples for structs).

    Returns:
        The ``data`` of a contract-creation transaction.

    Raises:
        ChainError: if the number of arguments does not match the constructor.
    """
    constructor = next((e for e in artifact.abi if e.get("type") == "constructor"), None)
    types = [collapse_if_tuple(dict(i)) for i in (constructor or {}).get("inputs", [])]
    if len(types) != len(args):
        raise ChainError(
            f"{artifact.contract_name} constructor takes {len(types)} arguments, got {len(args)}"
        )
    return artifact.bytecode + (abi_encode(types, list(args)) if types else b"")


def wait_for_receipt(
    client: ChainClient, tx_hash: bytes, timeout_s: float = 30.0, poll_s: float = 0.02
) -> Receipt:
    """Poll until ``tx_hash`` is mined.

    Args:
        client: the chain client.
        tx_hash: the transaction hash.
        timeout_s: how long to wait.
        poll_s: pause between polls.

    Returns:
        The receipt (its ``status`` may be 0: a mined revert).

    Raises:
        TransactionTimeoutError: if it is not mined within ``timeout_s``.
        ChainUnavailableError: if the node cannot be reached.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        receipt = client.receipt(tx_hash)
        if receipt is not None:
            return receipt
        if time.monotonic() > deadline:
            raise TransactionTimeoutError(
                f"transaction 0x{tx_hash.hex()} not mined within {timeout_s} s"
            )
        time.sleep(poll_s)


def send_transaction(
    client: ChainClient,
    account: LocalAccount,
    to: str | None,
    data: bytes,
    *,
    value: int = 0,
    gas: int | None = None,
    timeout_s: float = 30.0,
) -> Receipt:
    """Sign, send and wait for one transaction (EIP-1559) from ``account``.

    Args:
        client: the chain client.
        account: the signer; its pending nonce is used.
        to: the recipient, or ``None`` to create a contract.
        data: calldata (or creation code).
        value: wei to send.
        gas: gas limit; estimated (+20 %) when ``None``.
        timeout_s: how long to wait for the receipt.

    Returns:
        The receipt; a mined revert has ``status == 0`` (pass ``gas`` to get one, since the
        estimate raises first).

    Raises:
        ContractRevertError: if the gas estimate reverts (nothing is sent).
        TransactionTimeoutError: if it is not mined within ``timeout_s``.
        ChainUnavailableError: if the node cannot be reached.
        ChainError: if the node refuses the transaction.
    """
    call: dict[str, Any] = {"from": account.address, "data": data, "value": value}
    if to is not None:
        call["to"] = to_checksum_address(to)
    if gas is None:
        gas = client.estimate_gas(call) * GAS_MARGIN_PERMILLE // 1000
    fees = client.fees()
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": client.identity().chain_id,
        "nonce": client.nonce(account.address, "pending"),
        "data": data,
        "value": value,
        "gas": gas,
        "maxFeePerGas": fees.max_fee_per_gas,
        "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
    }
    if to is not None:
        tx["to"] = to_checksum_address(to)
    signed = account.sign_transaction(tx)
    tx_hash = client.send_raw(bytes(signed.raw_transaction))
    return wait_for_receipt(client, tx_hash, timeout_s=timeout_s)


def deploy(
    client: ChainClient, account: LocalAccount, artifact: Artifact, *args: Any
) -> Deployment:
    """Deploy ``artifact`` from ``account`` and wait for the receipt.

    Args:
        client: the chain client.
        account: the deployer (pays the gas).
        artifact: the compiled contract.
        *args: constructor arguments.

    Returns:
        The :class:`Deployment`.

    Raises:
        ContractRevertError: if the constructor reverts (decoded when the ABI is known).
        TransactionTimeoutError: if the deployment is not mined in time.
        ChainUnavailableError: if the node cannot be reached.
        ChainError: if the artifact has no bytecode or the deployment fails on chain.
    """
    if not artifact.bytecode:
        raise ChainError(f"{artifact.contract_name} has no bytecode (interface or abstract?)")
    client.register_revert_abi(artifact.abi)
    receipt = send_transaction(client, account, None, encode_constructor(artifact, *args))
    if receipt.status != 1 or receipt.contract_address is None:
        raise ChainError(
            f"deployment of {artifact.contract_name} failed in tx 0x{receipt.tx_hash.hex()}"
        )
    return Deployment(
        contract_name=artifact.contract_name,
        address=to_checksum_address(receipt.contract_address),
        tx_hash=receipt.tx_hash,
        block_number=receipt.block_number,
    )


def deploy_registry(
    client: ChainClient, account: LocalAccount, artifacts_dir: Path, admin: str
) -> RegistryDeployment:
    """Deploy a ``TracecertForwarder``, then a ``CertificateRegistry`` that trusts it.

    The forwarder is fixed in the registry for good (an immutable), so the two are only ever
    deployed as a pair.

    Args:
        client: the chain client.
        account: the deployer (pays the gas; gets no role unless it is ``admin``).
        artifacts_dir: Hardhat's ``artifacts`` directory.
        admin: receives the registry's ``DEFAULT_ADMIN_ROLE`` and ``PAUSER_ROLE``.

    Returns:
        Both deployments.

    Raises:
        ArtifactNotFoundError: if either artifact is missing.
        ContractRevertError: if a constructor reverts.
        TransactionTimeoutError: if a deployment is not mined in time.
        ChainUnavailableError: if the node cannot be reached.
        ChainError: if a deployment fails on chain.
    """
    registry_artifact = load_artifact(artifacts_dir, "CertificateRegistry")
    forwarder_artifact = load_artifact(artifacts_dir, "TracecertForwarder")
    forwarder = deploy(client, account, forwarder_artifact)
    registry = deploy(
        client, account, registry_artifact, to_checksum_address(admin), forwarder.address
    )
    return RegistryDeployment(registry=registry, forwarder=forwarder)
