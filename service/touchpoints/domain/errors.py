"""The touchpoints' errors: a programme's settings, and points a member does not have."""

from __future__ import annotations

from service.kernel.errors import ErrorKind, NotFoundError, TracecertError


class InvalidProgrammeError(TracecertError):
    """Raised when a brand's points programme settings are out of bounds or malformed."""

    code = "invalid_points_programme"
    kind = ErrorKind.INVALID
    default_detail = "The programme's settings are malformed; fix them as the detail says."


class InvalidJourneyRulesError(TracecertError):
    """Raised when a brand's journey rules are out of bounds or malformed."""

    code = "invalid_journey_rules"
    kind = ErrorKind.INVALID
    default_detail = "The journey rules are malformed; fix them as the detail says."


class InvalidRiskRulesError(TracecertError):
    """Raised when a brand's anti-farming rules are out of bounds or malformed."""

    code = "invalid_risk_rules"
    kind = ErrorKind.INVALID
    default_detail = "The risk rules are malformed; fix them as the detail says."


class InsufficientPointsError(TracecertError):
    """Raised when a spend asks for more points than the member has."""

    code = "insufficient_points"
    kind = ErrorKind.CONFLICT
    default_detail = (
        "You do not have enough points for this; earn more, or choose a cheaper reward."
    )

    def __init__(self, balance: int, amount: int) -> None:
        super().__init__(
            f"This needs {amount} points and your balance is {balance}; earn more, or choose "
            "a cheaper reward.",
            balance=balance,
            needed=amount,
        )


class UnknownRewardError(NotFoundError):
    """Raised when a spend names a reward the brand's programme does not offer."""

    code = "unknown_reward"
    default_detail = "The brand offers no such reward; pick one from GET /me/points."


class PointsClosedError(TracecertError):
    """Raised when a spend names a brand whose points programme is switched off."""

    code = "points_programme_closed"
    kind = ErrorKind.CONFLICT
    default_detail = "This brand's points programme is closed; nothing can be spent on it now."


class PointsCatchingUpError(TracecertError):
    """Raised when the touchpoints' feed is too far behind the event log for a spend to see
    every award and reversal before it (after a restart or a rebuild): retry shortly."""

    code = "points_catching_up"
    kind = ErrorKind.UNAVAILABLE
    default_detail = (
        "Points are being brought up to date; send the same request again in a minute (with "
        "the same Idempotency-Key)."
    )
    retry_after_s = 30


class InvalidIdentityError(TracecertError):
    """Raised when an identity an integration posts is malformed or of no known type."""

    code = "invalid_identity"
    kind = ErrorKind.INVALID
    default_detail = "The identity is malformed; fix it as the detail says."


class IdentityBlockedError(TracecertError):
    """Raised when an identity's value is on the brand's blocked list."""

    code = "identity_blocked"
    kind = ErrorKind.CONFLICT
    default_detail = (
        "This value is on the brand's blocked list (a shared or known-bad identifier); it links "
        "nobody. Post another identifier of the member's."
    )


class IdentityLimitError(TracecertError):
    """Raised when a member already carries as many identifiers of a type as allowed."""

    code = "identity_limit"
    kind = ErrorKind.CONFLICT
    default_detail = (
        "The member already has as many identifiers of this type as a person has; if one is "
        "another person's, undo the merge that brought it, or ask the brand to review."
    )


class UnknownMergeError(NotFoundError):
    """Raised when an unmerge names no merge of the brand's that still stands."""

    code = "unknown_merge"
    default_detail = "Your brand has no standing merge at this log index; see the member's merges."
