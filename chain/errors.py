"""The one error tree of the ``chain`` package.

Nothing from web3, requests or eth-tester leaves ``chain/``: every such exception is re-raised as
a :class:`ChainError` subclass with ``raise ... from exc`` so that the cause stays visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chain.client import ChainIdentity


class ChainError(Exception):
    """Root of every error raised by ``chain``.

    Raised when the chain layer fails in a way no more specific subclass describes, for example
    a node rejecting a transaction for a reason other than its nonce.
    """


class ChainUnavailableError(ChainError):
    """Raised when the node cannot be reached: connection refused, reset, or a request timed out.

    The operation may be retried once the node is back; nothing is known about its effect.
    """


class TransactionTimeoutError(ChainError):
    """Raised when a transaction is not mined (or not confirmed) within the allowed time."""


class ContractRevertError(ChainError):
    """Raised when a contract call or gas estimate reverts.

    Attributes:
        name: the decoded custom error name (e.g. ``"CertificateRegistryAlreadyClaimed"``),
            ``"Error"`` for ``Error(string)``, ``"Panic"`` for ``Panic(uint256)``, or
            ``"Unknown"`` when the selector matches no known ABI (then ``args`` holds the raw
            revert data as one ``0x`` hex string).
        args: the decoded error arguments, in ABI order.
    """

    def __init__(self, name: str, args: tuple[Any, ...] = ()) -> None:
        super().__init__(name, args)
        self.name = name
        # The spec names the decoded arguments ``args``; BaseException.args is a plain settable
        # attribute, so it carries them (``__reduce__``/``__repr__`` are adjusted to match).
        self.args = tuple(args)

    def __str__(self) -> str:
        rendered = ", ".join(_render(a) for a in self.args)
        return f"{self.name}({rendered})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.args!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.args))


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value)


class GenesisMismatchError(ChainError):
    """Raised when the node's chain id or genesis hash differs from the stored identity.

    This means a fresh chain is running under an old database (or the wrong node is
    configured); nothing may be sent until an operator resolves it.
    """

    def __init__(self, expected: ChainIdentity, actual: ChainIdentity) -> None:
        super().__init__(
            f"chain identity mismatch: expected chain {expected.chain_id} genesis "
            f"0x{expected.genesis_hash.hex()}, node has chain {actual.chain_id} genesis "
            f"0x{actual.genesis_hash.hex()}"
        )
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.expected, self.actual))


class NonceTooLowError(ChainError):
    """Raised when the node rejects a raw transaction because its nonce is already used.

    ``ChainClient.send_raw`` raises it only when the node does not know this very transaction,
    i.e. the nonce was consumed by a different transaction (for example a fee-bumped
    replacement that got mined first).
    """


class TransactionRejectedError(ChainError):
    """Raised when the node refuses a raw transaction for another reason than its nonce.

    Examples: insufficient funds, a replacement fee that is too low, a nonce gap on a node
    without a mempool (eth-tester). ``reason`` is the node's message.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ArtifactNotFoundError(ChainError):
    """Raised when a compiled contract artifact cannot be found or lacks ``abi``/``bytecode``."""
