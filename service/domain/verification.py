"""What a scan of an item code says: the verdict and whether it must alert the brand."""

from __future__ import annotations

from enum import StrEnum

from service.domain.batches import BatchStatus


class Verdict(StrEnum):
    """The answer to "is this bottle genuine?"."""

    #: Activated, in an anchored batch, and its proof accepted by the contract.
    GENUINE = "genuine"
    #: No such code, or a known serial under another product or lot: likely counterfeit.
    UNKNOWN = "unknown"
    #: The code exists but was never activated at the line: a leaked or over-printed code.
    NOT_ACTIVATED = "not_activated"
    #: Activated, but its batch is not anchored on chain yet, so it cannot be proven yet.
    NOT_ANCHORED = "not_anchored"
    #: Its batch was recalled by the brand.
    RECALLED = "recalled"
    #: Its certificate was redeemed for the physical bottle: the code is dead; a bottle
    #: showing it now is a refill or a copy.
    REDEEMED = "redeemed"
    #: The database says anchored but the chain rejects the proof: the records were altered.
    MISMATCH = "mismatch"
    #: Genuine, but its code was scanned from too many regions or devices lately: it may be
    #: printed on copies. A flag that informs; it never stops a claim (``service.domain.scans``).
    SUSPECTED_CLONE = "suspected_clone"


#: Verdicts of a code we made, activated and proven on chain (``genuine`` in the answer).
PROVEN = frozenset({Verdict.GENUINE, Verdict.SUSPECTED_CLONE})


def verdict(
    status: BatchStatus,
    activated: bool,
    proof_valid: bool,
    on_chain: bool | None,
    redeemed: bool = False,
) -> Verdict:
    """Return the verdict for a known item.

    ``on_chain`` is the contract's answer, or None when the chain was not asked (the batch is
    not anchored) — an anchored batch always asks it. A recall outranks everything (it is a
    safety notice); a redeemed certificate comes next (the code is dead).
    """
    if status is BatchStatus.RECALLED:
        return Verdict.RECALLED
    if redeemed:
        return Verdict.REDEEMED
    if not activated:
        return Verdict.NOT_ACTIVATED
    if status is not BatchStatus.ANCHORED:
        return Verdict.NOT_ANCHORED
    if proof_valid and on_chain:
        return Verdict.GENUINE
    return Verdict.MISMATCH


def alerts_brand(result: Verdict, anonymous: bool) -> bool:
    """Return whether a scan with this verdict raises an alert for the brand.

    A consumer (anonymous) scan of an inert code may mean a leaked code file; a partner
    scanning at the line sees the same verdict without an alert. A mismatch always alerts.
    """
    if result is Verdict.MISMATCH:
        return True
    return anonymous and result is Verdict.NOT_ACTIVATED
