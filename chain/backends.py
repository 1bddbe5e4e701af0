"""Where the chain runs: embedded py-evm, a managed anvil process, or any JSON-RPC URL.

All three sit behind :class:`Backend`; only ``chain/`` ever touches the ``Web3`` object a backend
hands out.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import requests
from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.providers.eth_tester import EthereumTesterProvider

from chain.config import ChainSettings
from chain.errors import ChainError, ChainUnavailableError

#: Relative location of the anvil binary shipped by the npm package ``@foundry-rs/anvil``.
ANVIL_RELATIVE_PATH = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
#: The project root when ``chain`` is installed editable or run from a checkout.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@runtime_checkable
class Backend(Protocol):
    """A chain the client can talk to."""

    rpc_url: str | None

    def start(self) -> None:
        """Make the chain reachable (spawn or build it if this backend manages it)."""
        ...

    def stop(self) -> None:
        """Release the chain (stop a managed process; a no-op for a remote node)."""
        ...

    def web3(self) -> Web3:
        """Return the ``Web3`` object for this chain (used only inside ``chain/``)."""
        ...


#: web3 middleware that only matters for ``eth_sendTransaction`` with ENS names or node-side
#: signing, neither of which ``chain`` uses. ``validation`` alone costs two extra
#: ``eth_chainId`` round trips per ``eth_call`` (measured on anvil: 10 ms -> 3 ms per call).
_UNUSED_MIDDLEWARE = ("validation", "ens_name_to_address", "gas_price_strategy", "gas_estimate")


def _lean(w3: Web3) -> Web3:
    for name in _UNUSED_MIDDLEWARE:
        with contextlib.suppress(ValueError):
            w3.middleware_onion.remove(name)
    return w3


def _http_web3(url: str, timeout_s: float) -> Web3:
    # No web3-level retries: a down node must surface quickly as ChainUnavailableError; the
    # sender retries at its own pace.
    provider = HTTPProvider(
        url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None
    )
    return _lean(Web3(provider))


class PyEvmBackend:
    """An in-process chain: eth-tester on py-evm behind web3's ``EthereumTesterProvider``.

    Fast and hermetic, for unit and most integration tests. The genesis funds eth-tester's ten
    default accounts (private keys 1..10) and, in addition, every key or address given here, so
    that the sender key from :class:`ChainSettings` can always pay for gas.

    Args:
        sender_private_key: a key whose account must be funded at genesis.
        extra_funded: further addresses to fund at genesis.
    """

    rpc_url: str | None = None
    #: Chain id of eth-tester's py-evm chain.
    CHAIN_ID = 131277322940537

    def __init__(
        self, sender_private_key: str | None = None, extra_funded: Sequence[str] = ()
    ) -> None:
        self._funded: list[str] = list(extra_funded)
        if sender_private_key is not None:
            self._funded.append(Account.from_key(sender_private_key).address)
        self._w3: Web3 | None = None
        self._tester: Any = None

    def start(self) -> None:
        """Build a fresh chain with its own genesis (a no-op when already started)."""
        if self._w3 is not None:
            return
        from eth_tester import EthereumTester, PyEVMBackend
        from eth_tester.backends.pyevm.main import get_default_account_state

        genesis_state: dict[bytes, Any] = dict(PyEVMBackend.generate_genesis_state(num_accounts=10))
        for address in self._funded:
            canonical = bytes.fromhex(Web3.to_checksum_address(address)[2:])
            genesis_state.setdefault(canonical, get_default_account_state())
        # Random extra data: every start is a new genesis hash, as with a fresh anvil (two starts
        # in the same second would otherwise share genesis timestamp, state and hash).
        params = PyEVMBackend.generate_genesis_params(overrides={"extra_data": os.urandom(32)})
        self._tester = EthereumTester(
            PyEVMBackend(genesis_parameters=params, genesis_state=genesis_state)
        )
        self._w3 = _lean(Web3(EthereumTesterProvider(self._tester)))

    def stop(self) -> None:
        """Drop the chain; a later :meth:`start` builds a new one (a new genesis)."""
        self._w3 = None
        self._tester = None

    def web3(self) -> Web3:
        """Return the ``Web3`` object.

        Returns:
            The in-process ``Web3``.

        Raises:
            ChainUnavailableError: if the backend was not started.
        """
        if self._w3 is None:
            raise ChainUnavailableError("py-evm backend is not started")
        return self._w3

    def snapshot(self) -> int:
        """Take a snapshot of the chain state.

        Returns:
            An id for :meth:`revert`; it stays valid after a revert.
        """
        self.web3()
        return int(self._tester.take_snapshot())

    def revert(self, snapshot_id: int) -> None:
        """Return the chain to a snapshot taken with :meth:`snapshot`.

        Raises:
            ChainError: if the snapshot id is unknown.
        """
        self.web3()
        try:
            self._tester.revert_to_snapshot(snapshot_id)
        except Exception as exc:  # eth_tester.exceptions.SnapshotNotFound
            raise ChainError(f"cannot revert to snapshot {snapshot_id}: {exc}") from exc

    def mine(self, timestamp: int | None = None) -> None:
        """Mine one empty block, at ``timestamp`` if given (must be after the latest block)."""
        self.web3()
        if timestamp is None:
            self._tester.mine_blocks(1)
        else:
            self._tester.time_travel(timestamp)


class AnvilBackend:
    """A managed anvil process, spawned directly (never through npx) in its own session.

    Args:
        binary: the anvil executable.
        host: interface to bind (keep it on loopback).
        port: TCP port of the JSON-RPC endpoint.
        chain_id: ``--chain-id``.
        state_file: ``--state`` file; state survives restarts and ``kill -9`` (with
            ``--state-interval 1``). ``None`` means a new chain (new genesis) on every start.
        extra_args: further command-line arguments.
        start_timeout_s: how long :meth:`start` waits for ``eth_chainId`` to answer.
        request_timeout_s: HTTP timeout of each JSON-RPC request.
    """

    def __init__(
        self,
        binary: Path,
        host: str = "127.0.0.1",
        port: int = 8545,
        chain_id: int = 31337,
        state_file: Path | None = None,
        extra_args: Sequence[str] = (),
        *,
        start_timeout_s: float = 15.0,
        request_timeout_s: float = 5.0,
    ) -> None:
        self.binary = Path(binary)
        self.host = host
        self.port = port
        self.chain_id = chain_id
        self.state_file = state_file
        self.extra_args = tuple(extra_args)
        self.start_timeout_s = start_timeout_s
        self.request_timeout_s = request_timeout_s
        self.rpc_url: str | None = f"http://{host}:{port}"
        self.pid: int | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._w3: Web3 | None = None

    def command(self) -> list[str]:
        """Return the exact command line :meth:`start` runs."""
        cmd = [
            str(self.binary),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--slots-in-an-epoch",
            "1",
            "--silent",
        ]
        if self.state_file is not None:
            cmd += ["--state", str(self.state_file), "--state-interval", "1"]
        return cmd + list(self.extra_args)

    @property
    def running(self) -> bool:
        """True while the spawned process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Spawn anvil and wait until ``eth_chainId`` answers (a no-op when running).

        Raises:
            ChainUnavailableError: if the binary is missing, the port is taken by another
                process, anvil exits early, or it does not answer within ``start_timeout_s``.
        """
        if self.running:
            return
        if not self.binary.is_file():
            raise ChainUnavailableError(f"anvil binary not found at {self.binary}")
        if _port_answers(self.host, self.port):
            raise ChainUnavailableError(
                f"{self.host}:{self.port} is already in use; refusing to talk to a foreign node"
            )
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
        log_fd, log_name = tempfile.mkstemp(prefix=f"anvil-{self.port}-", suffix=".log")
        os.close(log_fd)
        self.log_path = Path(log_name)
        self._log = self.log_path.open("wb")
        try:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise ChainUnavailableError(f"cannot spawn anvil: {exc}") from exc
        self.pid = self._proc.pid
        self._w3 = None
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        payload: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        while True:
            code = self._proc.poll()
            if code is not None:
                tail = self._log_tail()
                self._reap()
                raise ChainUnavailableError(f"anvil exited with code {code} on start: {tail}")
            try:
                answer = requests.post(str(self.rpc_url), json=payload, timeout=0.5)
                if answer.ok and int(answer.json()["result"], 16) == self.chain_id:
                    return
            except (requests.RequestException, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise ChainUnavailableError(
                    f"anvil did not answer eth_chainId within {self.start_timeout_s} s"
                )
            time.sleep(0.02)

    def _log_tail(self) -> str:
        if self.log_path is None:
            return ""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:].strip()
        return ""

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop anvil gracefully: SIGTERM, then wait (SIGKILL if it outlives ``timeout_s``).

        With a state file anvil writes its state on the way out.
        """
        if self._proc is None:
            return
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._reap()

    def kill(self) -> None:
        """Kill anvil with SIGKILL at once (fault tests: a crash, not a shutdown)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._reap()

    def _reap(self) -> None:
        self._proc = None
        self.pid = None
        self._w3 = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def web3(self) -> Web3:
        """Return a ``Web3`` over HTTP to this anvil (a short request timeout, no retries)."""
        if self._w3 is None:
            self._w3 = _http_web3(str(self.rpc_url), self.request_timeout_s)
        return self._w3

    def _rpc(self, method: str, params: list[Any]) -> Any:
        try:
            response = self.web3().provider.make_request(method, params)  # type: ignore[arg-type]
        except (requests.RequestException, OSError) as exc:
            raise ChainUnavailableError(f"{method} failed: {exc}") from exc
        if "error" in response:
            raise ChainError(f"{method} failed: {response['error']}")
        return response.get("result")

    def snapshot(self) -> str:
        """Take a snapshot (``evm_snapshot``).

        Returns:
            The snapshot id. anvil forgets it once reverted to: take a new one after each revert.
        """
        return str(self._rpc("evm_snapshot", []))

    def revert(self, snapshot_id: str) -> None:
        """Return to a snapshot (``evm_revert``).

        Raises:
            ChainError: if anvil does not know the snapshot.
        """
        if self._rpc("evm_revert", [snapshot_id]) is not True:
            raise ChainError(f"cannot revert to snapshot {snapshot_id}")

    def mine(self, timestamp: int | None = None) -> None:
        """Mine one empty block, at ``timestamp`` if given (must be after the latest block)."""
        if timestamp is None:
            self._rpc("evm_mine", [])
        else:
            self._rpc("evm_mine", [timestamp])

    def set_automine(self, enabled: bool) -> None:
        """Switch automine on or off (off: transactions wait in the mempool until mined)."""
        self._rpc("evm_setAutomine", [enabled])


class RpcBackend:
    """Any JSON-RPC node at ``url``; nothing is spawned or stopped.

    Args:
        url: the node's HTTP endpoint.
        request_timeout_s: HTTP timeout of each request.
    """

    def __init__(self, url: str, request_timeout_s: float = 5.0) -> None:
        self.rpc_url: str | None = url
        self.request_timeout_s = request_timeout_s
        self._w3: Web3 | None = None

    def start(self) -> None:
        """Nothing to start: the node is someone else's."""

    def stop(self) -> None:
        """Nothing to stop: the node is someone else's."""

    def web3(self) -> Web3:
        """Return a ``Web3`` over HTTP (a short request timeout, no retries)."""
        if self._w3 is None:
            self._w3 = _http_web3(str(self.rpc_url), self.request_timeout_s)
        return self._w3


def anvil_binary(project_root: Path = PROJECT_ROOT) -> Path:
    """Return the path of the anvil binary installed by npm under ``project_root``.

    Args:
        project_root: the directory holding ``node_modules``.

    Returns:
        ``project_root/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`` (it may not exist;
        :meth:`AnvilBackend.start` checks).
    """
    return Path(project_root) / ANVIL_RELATIVE_PATH


def make_backend(settings: ChainSettings) -> Backend:
    """Build the backend the settings ask for (not started).

    Args:
        settings: the chain settings.

    Returns:
        A :class:`PyEvmBackend`, :class:`AnvilBackend` or :class:`RpcBackend`.

    Raises:
        ChainError: if ``backend`` is ``"rpc"`` and no ``rpc_url`` is set.
    """
    if settings.backend == "pyevm":
        return PyEvmBackend(sender_private_key=settings.private_key())
    if settings.backend == "anvil":
        return AnvilBackend(
            settings.anvil_binary or anvil_binary(),
            host=settings.anvil_host,
            port=settings.anvil_port,
            chain_id=settings.anvil_chain_id,
            state_file=settings.anvil_state_file,
            extra_args=(
                ("--block-time", str(settings.anvil_block_time_s))
                if settings.anvil_block_time_s
                else ()
            ),
            request_timeout_s=settings.request_timeout_s,
        )
    if not settings.rpc_url:
        raise ChainError("backend 'rpc' needs rpc_url")
    return RpcBackend(settings.rpc_url, request_timeout_s=settings.request_timeout_s)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now (for tests; racy by nature)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_answers(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
