"""The factory's errors: products, batches, codes and their files, labels, anchoring, recall and
attestation."""

from __future__ import annotations

from service.kernel.errors import (
    ErrorKind,
    InvalidRequestError,
    NotFoundError,
    TracecertError,
)


class InvalidBatchError(TracecertError):
    """Raised when a batch breaks a rule: bad or duplicate item ids, too many items, bad lot."""

    code = "invalid_batch"
    kind = ErrorKind.INVALID
    default_detail = "The batch is invalid; fix the items as the detail says and send it again."


class TooManyLabelsError(InvalidRequestError):
    """Raised when one label file would hold more labels than the configured maximum."""

    code = "too_many_labels"
    kind = ErrorKind.INVALID
    default_detail = "Too many labels for one file; ask for a range of them with offset and count."


class InvalidLabelLayoutError(TracecertError):
    """Raised when a label layout cannot be printed: sizes out of range or not fitting A4."""

    code = "invalid_label_layout"
    kind = ErrorKind.INVALID
    default_detail = "The label layout does not fit an A4 sheet; change the label size or margins."


class InvalidProductError(TracecertError):
    """Raised when a product's name or attributes break a rule."""

    code = "invalid_product"
    kind = ErrorKind.INVALID
    default_detail = "The product is invalid; fix it as the detail says and send it again."


class BatchTooLargeError(TracecertError):
    """Raised when a batch asks for more items than the configured cap."""

    code = "batch_too_large"
    kind = ErrorKind.INVALID
    default_detail = "The batch is larger than allowed; split it into several batches."


class BatchNotFoundError(NotFoundError):
    """Raised when a batch is unknown to the caller's organisation."""

    code = "batch_not_found"
    default_detail = "No such batch in your organisation; check the batch id."


class ItemNotFoundError(NotFoundError):
    """Raised when an item id is not registered (in the batch, if one was named)."""

    code = "item_not_found"
    default_detail = "This item id is not registered; it is not a genuine code."


class ProductNotFoundError(NotFoundError):
    """Raised when a GTIN is not a product of the caller's brand."""

    code = "product_not_found"
    default_detail = "No such product for your brand; register it first or check the GTIN."


class LogisticUnitNotFoundError(NotFoundError):
    """Raised when an SSCC is not a case or pallet the caller may see."""

    code = "sscc_not_found"
    default_detail = "No case or pallet has this SSCC in your organisation; check the label."


class CodeNotFoundError(NotFoundError):
    """Raised when a scanned SSCC or serial is not one of ours."""

    code = "code_not_found"
    default_detail = "No case, pallet or item has this code; it is not a genuine label."


class ProductExistsError(TracecertError):
    """Raised when a product with the same GTIN is already registered."""

    code = "product_exists"
    kind = ErrorKind.CONFLICT
    default_detail = "A product with this GTIN is registered already; use it."


class LotExistsError(TracecertError):
    """Raised when the product already has a batch with this lot number."""

    code = "lot_exists"
    kind = ErrorKind.CONFLICT
    default_detail = "This product already has a batch with this lot; choose another lot number."


class BatchStateError(TracecertError):
    """Raised when a batch is not in a state that allows the action (e.g. anchoring a draft).

    The detail names the batch's status and the step that must come first.
    """

    code = "batch_state_conflict"
    kind = ErrorKind.CONFLICT
    default_detail = "The batch is not in a state that allows this; see its status."


class BatchRecalledError(BatchStateError):
    """Raised when an action is asked of a recalled batch (recall is final)."""

    code = "batch_recalled"
    default_detail = "The batch is recalled; nothing more can be done with its codes."


class CodeFileSealedError(TracecertError):
    """Raised when a file with PINs is asked for after the batch's PIN seed was destroyed."""

    code = "code_file_sealed"
    kind = ErrorKind.CONFLICT
    default_detail = (
        "The batch's codes are activated, so its PINs were destroyed and cannot be printed again."
    )


class CodeFileApprovalRequiredError(TracecertError):
    """Raised when a file with PINs was downloaded before and no admin approved another copy."""

    code = "code_file_approval_required"
    kind = ErrorKind.FORBIDDEN
    default_detail = (
        "The code file of this batch was downloaded already; an admin must approve a reprint "
        "(POST /batches/{id}/code-file/approvals) before it can be downloaded again."
    )


class SsccExhaustedError(TracecertError):
    """Raised when the GS1 company prefix has no SSCC serial references left."""

    code = "sscc_exhausted"
    kind = ErrorKind.CONFLICT
    default_detail = "The GS1 company prefix has no SSCCs left; configure a longer-lived prefix."


class AttestationExistsError(TracecertError):
    """Raised when the same report is attested for the same batch again."""

    code = "attestation_exists"
    kind = ErrorKind.CONFLICT
    default_detail = "This report is attested for this batch already."


class BatchAlreadyAnchoredError(TracecertError):
    """Raised when the chain already holds an anchor for this batch."""

    code = "batch_already_anchored"
    kind = ErrorKind.CONFLICT
    default_detail = "The batch is already anchored on chain; nothing more to do."
