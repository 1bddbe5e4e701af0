"""Print labels: what a label carries and how labels are laid out on an A4 sheet.

Sizes are in millimetres. Labels are placed in a grid from the top-left corner of the sheet,
``page_margin_mm`` in from the top and left edges, with ``gap_mm`` between neighbours; this
matches how label-sheet makers specify their sheets (top/left margin, label size, pitch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.factory.domain.errors import InvalidLabelLayoutError

A4_WIDTH_MM = 210.0
A4_HEIGHT_MM = 297.0

#: Below this a QR code for a ~100-character GS1 Digital Link URI has modules too small to print.
MIN_LABEL_SIZE_MM = 10.0
MAX_LABEL_SIZE_MM = 200.0

#: ISO/IEC 18004 and the GS1 General Specifications require a quiet zone of at least 4 modules.
MIN_QUIET_ZONE_MODULES = 4
MAX_QUIET_ZONE_MODULES = 10

#: The most labels the API accepts for one print file.
MAX_LABELS_PER_FILE = 50_000

#: Tolerance for labels that fit exactly (e.g. 3 x 64 mm + 2 x 1 mm in 194 mm) despite
#: binary floating point.
_FIT_TOLERANCE_MM = 1e-6


@dataclass(frozen=True)
class Label:
    """One label: the QR code content and the human-readable lines printed under it."""

    #: What the QR code encodes, e.g. a GS1 Digital Link URI.
    data: str
    #: The human-readable line under the QR code, e.g. the serial number.
    text: str
    #: An optional smaller second line, e.g. "Lot L2026-11-001".
    caption: str = ""


@dataclass(frozen=True)
class LabelLayout:
    """The size of each label and its placement on an A4 sheet, in millimetres.

    The defaults fit a typical 30 x 36 mm bottle-neck label.
    """

    label_width_mm: float = 30.0
    label_height_mm: float = 36.0
    page_margin_mm: float = 8.0
    gap_mm: float = 2.0
    #: White border around the QR code, in modules, inside the label.
    quiet_zone_modules: int = 4


def _fitting(available_mm: float, size_mm: float, gap_mm: float) -> int:
    """Return how many items of ``size_mm`` with ``gap_mm`` between them fit in ``available_mm``."""
    if available_mm + _FIT_TOLERANCE_MM < size_mm:
        return 0
    return math.floor((available_mm + gap_mm + _FIT_TOLERANCE_MM) / (size_mm + gap_mm))


def grid(layout: LabelLayout) -> tuple[int, int]:
    """Return the (columns, rows) of labels that fit on an A4 page inside the margins."""
    columns = _fitting(
        A4_WIDTH_MM - 2 * layout.page_margin_mm, layout.label_width_mm, layout.gap_mm
    )
    rows = _fitting(A4_HEIGHT_MM - 2 * layout.page_margin_mm, layout.label_height_mm, layout.gap_mm)
    return columns, rows


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_layout(layout: LabelLayout) -> LabelLayout:
    """Return ``layout`` if at least one label of it can be printed on A4.

    Margins and gaps may be zero (edge-to-edge and butted label sheets exist); label sizes may not.

    Raises:
        InvalidLabelLayoutError: a size is not a finite number, is negative, or is out of range;
            the label does not fit on A4 inside the margins; or the quiet zone is out of range.
    """
    sizes = {
        "label_width_mm": layout.label_width_mm,
        "label_height_mm": layout.label_height_mm,
        "page_margin_mm": layout.page_margin_mm,
        "gap_mm": layout.gap_mm,
    }
    for name, value in sizes.items():
        if not _is_number(value) or not math.isfinite(value):
            raise InvalidLabelLayoutError(f"{name} must be a finite number of millimetres.")
        if value < 0 or (value == 0 and name.startswith("label_")):
            lowest = "greater than 0" if name.startswith("label_") else "0 or more"
            raise InvalidLabelLayoutError(f"{name} is {value:g}; it must be {lowest} millimetres.")

    quiet_zone = layout.quiet_zone_modules
    if (
        not isinstance(quiet_zone, int)
        or isinstance(quiet_zone, bool)
        or not MIN_QUIET_ZONE_MODULES <= quiet_zone <= MAX_QUIET_ZONE_MODULES
    ):
        raise InvalidLabelLayoutError(
            f"quiet_zone_modules is {quiet_zone!r}; use a whole number from "
            f"{MIN_QUIET_ZONE_MODULES} (the GS1 minimum) to {MAX_QUIET_ZONE_MODULES}."
        )

    for name in ("label_width_mm", "label_height_mm"):
        value = sizes[name]
        if value < MIN_LABEL_SIZE_MM:
            raise InvalidLabelLayoutError(
                f"{name} is {value:g} mm; labels must be at least {MIN_LABEL_SIZE_MM:g} mm "
                "in each direction for their QR code to be readable, so use a larger label."
            )
        if value > MAX_LABEL_SIZE_MM:
            raise InvalidLabelLayoutError(
                f"{name} is {value:g} mm; labels may be at most {MAX_LABEL_SIZE_MM:g} mm "
                "in each direction, so use a smaller label."
            )

    columns, rows = grid(layout)
    if columns < 1 or rows < 1:
        margin = layout.page_margin_mm
        width = max(0.0, A4_WIDTH_MM - 2 * margin)
        height = max(0.0, A4_HEIGHT_MM - 2 * margin)
        raise InvalidLabelLayoutError(
            f"A {layout.label_width_mm:g} x {layout.label_height_mm:g} mm label does not fit "
            f"on an A4 sheet inside {margin:g} mm margins (which leave {width:g} x {height:g} mm); "
            "make the label or the margins smaller."
        )
    return layout
