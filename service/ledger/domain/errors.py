"""The ledger's errors: a log range out of bounds, no deployment, the chain refusing or out of
reach, the sender held."""

from __future__ import annotations

from service.kernel.errors import (
    ErrorKind,
    TracecertError,
)


class LogRangeError(TracecertError):
    """Raised when a log index or size lies outside the current event log."""

    code = "invalid_log_range"
    kind = ErrorKind.INVALID
    default_detail = "The index or size is outside the event log; ask for sizes up to its size."


class DeploymentNotFoundError(TracecertError):
    """Raised when no registry deployment is recorded for the chain, so writes cannot be queued."""

    code = "chain_not_deployed"
    kind = ErrorKind.UNAVAILABLE
    default_detail = (
        "No contract is deployed on the recorded chain yet; run 'tracecert init' "
        "(or wait for the node to come up) and retry."
    )


class ChainRejectedError(TracecertError):
    """Raised when the contract refuses a call for a reason without a specific mapping."""

    code = "chain_rejected"
    kind = ErrorKind.CONFLICT
    default_detail = "The contract refused the operation; see the detail for its reason."


# ----------------------------------------------------------------------------- unavailable
class LedgerUnavailableError(TracecertError):
    """Raised when the chain cannot be reached for an operation that needs it now."""

    code = "chain_unavailable"
    kind = ErrorKind.UNAVAILABLE
    default_detail = "The chain node cannot be reached; retry later."
    retry_after_s = 5


class LedgerHeldError(TracecertError):
    """Raised when chain access is held because the node is not the recorded chain."""

    code = "chain_held"
    kind = ErrorKind.UNAVAILABLE
    default_detail = (
        "The node is not the chain this database was anchored on (genesis mismatch); "
        "an operator must point the service at the right node."
    )
    #: It takes an operator: ask again in a minute, not at once.
    retry_after_s = 60
