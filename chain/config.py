"""Settings of the ``chain`` package (environment prefix ``CHAIN_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Account 0 of anvil's (and Hardhat's) default mnemonic "test test ... junk".
ANVIL_DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#: Account 0 of eth-tester's py-evm backend (private keys 1..10).
PYEVM_DEV_PRIVATE_KEY = "0x" + "00" * 31 + "01"

#: Keys everybody knows: anvil's ten default accounts and eth-tester's ten. A real network must
#: never be driven with one of them (anyone could drain or front-run the sender).
WELL_KNOWN_DEV_KEYS: frozenset[str] = frozenset(
    {
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
        "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
        "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
        "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
        "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
        "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
    }
    | {f"{i:064x}" for i in range(1, 11)}
)


def _normalise_key(key: str) -> str:
    key = key.strip().lower()
    return key[2:] if key.startswith("0x") else key


class ChainSettings(BaseSettings):
    """Where the chain is and how transactions are sent.

    ``sender_private_key`` defaults to account 0 of the dev chain (anvil's for ``anvil``,
    eth-tester's for ``pyevm``). For ``backend == "rpc"`` a key is required and the well-known
    dev keys are refused.
    """

    #: A settings error never prints the values it was given (the private key among them).
    model_config = SettingsConfigDict(
        env_prefix="CHAIN_", extra="ignore", hide_input_in_errors=True
    )

    backend: Literal["anvil", "rpc", "pyevm"] = "anvil"
    rpc_url: str | None = None
    anvil_host: str = "127.0.0.1"
    anvil_port: int = 8545
    anvil_chain_id: int = 31337
    #: Seconds between blocks of the managed anvil (``--block-time``). A devnet that mines only
    #: when a transaction arrives never reaches depth ``confirmations`` for the last write, so
    #: the managed devnet produces blocks like a real chain. ``None`` means automine.
    anvil_block_time_s: int | None = 1
    #: Explicit anvil binary; ``None`` means the one under ``node_modules`` of the project.
    anvil_binary: Path | None = None
    state_dir: Path = Path("data/chain")
    sender_private_key: SecretStr | None = None
    confirmations: int = 2
    #: A confirmed write is still followed (its block hash compared with the canonical one)
    #: until this many blocks bury it and, on a chain that reports one, the ``finalized``
    #: block passes it; a reorg inside this window re-sends it or undoes its effect.
    finality_blocks: int = 64
    poll_interval_s: float = 0.2
    stuck_after_s: float = 30.0
    fee_bump_permille: int = 1125
    artifacts_dir: Path = Path("artifacts")
    request_timeout_s: float = 5.0

    @model_validator(mode="after")
    def _check_backend_and_key(self) -> ChainSettings:
        if self.backend == "rpc":
            if not self.rpc_url:
                raise ValueError("CHAIN_RPC_URL is required when CHAIN_BACKEND is 'rpc'")
            if self.sender_private_key is None:
                raise ValueError("CHAIN_SENDER_PRIVATE_KEY is required when CHAIN_BACKEND is 'rpc'")
            if _normalise_key(self.sender_private_key.get_secret_value()) in WELL_KNOWN_DEV_KEYS:
                raise ValueError(
                    "CHAIN_SENDER_PRIVATE_KEY is a well-known development key; "
                    "refusing to use it with CHAIN_BACKEND 'rpc'"
                )
        elif self.sender_private_key is None:
            default = ANVIL_DEV_PRIVATE_KEY if self.backend == "anvil" else PYEVM_DEV_PRIVATE_KEY
            self.sender_private_key = SecretStr(default)
        if self.confirmations < 0:
            raise ValueError("confirmations must be >= 0")
        if self.finality_blocks < self.confirmations:
            raise ValueError(
                "CHAIN_FINALITY_BLOCKS must be >= CHAIN_CONFIRMATIONS: a write is followed "
                "after its confirmation until it is final"
            )
        if self.fee_bump_permille < 1100:
            # Nodes refuse a replacement below +10 %; 1125 is the house default.
            raise ValueError("fee_bump_permille must be >= 1100")
        return self

    @property
    def anvil_state_file(self) -> Path:
        """The ``--state`` file of the managed anvil (inside ``state_dir``)."""
        return self.state_dir / "anvil-state.json"

    def private_key(self) -> str:
        """Return the sender's private key as a ``0x`` hex string.

        Returns:
            The key; the validator guarantees one is set.
        """
        assert self.sender_private_key is not None  # set by the validator
        key = self.sender_private_key.get_secret_value().strip()
        return key if key.startswith("0x") else "0x" + key
