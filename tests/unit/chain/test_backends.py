"""Backends: construction from settings, the anvil command line, and start-up failures."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from chain.backends import (
    AnvilBackend,
    PyEvmBackend,
    RpcBackend,
    anvil_binary,
    free_port,
    make_backend,
)
from chain.config import ChainSettings
from chain.errors import ChainUnavailableError


def test_anvil_binary_lives_under_node_modules(tmp_path: Path) -> None:
    assert anvil_binary(tmp_path) == (
        tmp_path / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
    )


def test_make_backend_builds_each_kind(tmp_path: Path) -> None:
    anvil = make_backend(ChainSettings(backend="anvil", state_dir=tmp_path, anvil_port=9999))
    assert isinstance(anvil, AnvilBackend)
    assert anvil.rpc_url == "http://127.0.0.1:9999"
    assert anvil.state_file == tmp_path / "anvil-state.json"
    assert isinstance(make_backend(ChainSettings(backend="pyevm")), PyEvmBackend)
    rpc = make_backend(
        ChainSettings(
            backend="rpc", rpc_url="http://node:8545", sender_private_key="0x" + "5a" * 32
        )
    )
    assert isinstance(rpc, RpcBackend)
    assert rpc.rpc_url == "http://node:8545"


def test_anvil_command_line_keeps_state_and_finality(tmp_path: Path) -> None:
    backend = AnvilBackend(
        Path("/bin/anvil"),
        port=1234,
        chain_id=77,
        state_file=tmp_path / "s.json",
        extra_args=["--block-time", "1"],
    )
    command = backend.command()
    assert command[0] == "/bin/anvil"
    pairs = dict(itertools.pairwise(command))
    assert pairs["--port"] == "1234"
    assert pairs["--chain-id"] == "77"
    assert pairs["--slots-in-an-epoch"] == "1"
    assert pairs["--state"] == str(tmp_path / "s.json")
    assert pairs["--state-interval"] == "1"
    assert command[-2:] == ["--block-time", "1"]


def test_anvil_without_state_file_has_no_state_flags() -> None:
    assert "--state" not in AnvilBackend(Path("/bin/anvil"), port=1).command()


def test_missing_anvil_binary_is_unavailable(tmp_path: Path) -> None:
    backend = AnvilBackend(tmp_path / "no-anvil", port=free_port())
    with pytest.raises(ChainUnavailableError, match="not found"):
        backend.start()
    assert backend.pid is None


def test_anvil_refuses_a_port_another_process_listens_on(tmp_path: Path) -> None:
    fake = tmp_path / "anvil"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(ChainUnavailableError, match="already in use"):
            AnvilBackend(fake, port=port).start()


def test_anvil_that_exits_at_start_is_unavailable_with_its_output(tmp_path: Path) -> None:
    fake = tmp_path / "anvil"
    fake.write_text("#!/bin/sh\necho 'bad flag' >&2\nexit 3\n")
    fake.chmod(0o755)
    backend = AnvilBackend(fake, port=free_port())
    with pytest.raises(ChainUnavailableError, match="bad flag"):
        backend.start()
    assert backend.pid is None


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_rpc_backend_to_a_closed_port_is_unavailable() -> None:
    from chain.client import ChainClient

    backend = RpcBackend(f"http://127.0.0.1:{free_port()}", request_timeout_s=1)
    backend.start()
    with pytest.raises(ChainUnavailableError):
        ChainClient(backend).block_number()


def test_pyevm_snapshot_and_revert_restore_the_chain() -> None:
    from chain.client import ChainClient

    backend = PyEvmBackend()
    backend.start()
    client = ChainClient(backend)
    snapshot = backend.snapshot()
    backend.mine()
    backend.mine()
    assert client.block_number() == 2
    backend.revert(snapshot)
    assert client.block_number() == 0
    backend.mine(timestamp=client.block_timestamp() + 1000)
    assert client.block_number() == 1


def test_each_pyevm_start_is_a_new_genesis() -> None:
    from chain.client import ChainClient

    first, second = PyEvmBackend(), PyEvmBackend()
    first.start()
    second.start()
    assert ChainClient(first).identity().chain_id == ChainClient(second).identity().chain_id
    assert ChainClient(first).identity() != ChainClient(second).identity()


def test_http_backends_make_one_request_per_call_without_chain_id_checks() -> None:
    backend = RpcBackend("http://127.0.0.1:1")
    names = {name for _, name in backend.web3().middleware_onion.middleware}
    assert "validation" not in names  # it added two eth_chainId round trips per eth_call
    assert "ens_name_to_address" not in names
    assert "attrdict" in names
