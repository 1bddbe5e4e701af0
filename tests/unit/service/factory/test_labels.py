import dataclasses
import math

import pytest

from service.factory.domain.errors import InvalidLabelLayoutError
from service.factory.domain.labels import (
    MAX_LABELS_PER_FILE,
    Label,
    LabelLayout,
    grid,
    validate_layout,
)
from service.kernel.errors import ErrorKind


# ----------------------------------------------------------------------------- grid
def test_default_layout_puts_six_columns_and_seven_rows_on_a4():
    # 6 x 30 + 5 x 2 = 190 <= 210 - 2 x 8 = 194 < 7 x 30 + 6 x 2 = 222
    # 7 x 36 + 6 x 2 = 264 <= 297 - 2 x 8 = 281 < 8 x 36 + 7 x 2 = 302
    assert grid(LabelLayout()) == (6, 7)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        # a 24-up sheet: 3 x 70 = 210 and 8 x 37 = 296 <= 297, edge to edge
        (LabelLayout(label_width_mm=70, label_height_mm=37, page_margin_mm=0, gap_mm=0), (3, 8)),
        (LabelLayout(label_width_mm=100, label_height_mm=100, page_margin_mm=5, gap_mm=0), (2, 2)),
        # the smallest label: 16 x 10 + 15 x 2 = 190 <= 194, 23 x 10 + 22 x 2 = 274 <= 281
        (LabelLayout(label_width_mm=10, label_height_mm=10), (16, 23)),
        # the largest label on a page with 5 mm margins: 200 x 287 mm printable
        (LabelLayout(label_width_mm=200, label_height_mm=200, page_margin_mm=5), (1, 1)),
        (LabelLayout(label_width_mm=50, label_height_mm=60, page_margin_mm=10, gap_mm=5), (3, 4)),
    ],
)
def test_grid_counts_the_labels_that_fit_inside_margins_and_gaps(layout, expected):
    assert grid(layout) == expected


def test_labels_that_fill_the_width_exactly_all_fit_despite_float_rounding():
    # 11 x 19.0 + 10 x 0.1 = 210 exactly, but (210 + 0.1) / 19.1 is 10.999999999999998
    layout = LabelLayout(label_width_mm=19.0, label_height_mm=36, page_margin_mm=0, gap_mm=0.1)
    assert grid(layout)[0] == 11


def test_a_label_a_hair_too_wide_for_the_last_column_drops_that_column():
    layout = LabelLayout(label_width_mm=19.001, label_height_mm=36, page_margin_mm=0, gap_mm=0.1)
    assert grid(layout)[0] == 10


def test_a_label_wider_than_the_printable_area_gives_no_columns():
    assert grid(LabelLayout(label_width_mm=195))[0] == 0


# ----------------------------------------------------------------------------- accepted layouts
@pytest.mark.parametrize(
    "layout",
    [
        LabelLayout(),
        LabelLayout(label_width_mm=10, label_height_mm=10),
        LabelLayout(label_width_mm=200, label_height_mm=200, page_margin_mm=5),
        LabelLayout(page_margin_mm=0, gap_mm=0),
        LabelLayout(quiet_zone_modules=4),
        LabelLayout(quiet_zone_modules=10),
        # exactly the printable width and height inside 48.5 mm margins
        LabelLayout(label_width_mm=113, label_height_mm=200, page_margin_mm=48.5),
        LabelLayout(label_width_mm=25, label_height_mm=30.5, page_margin_mm=7.25, gap_mm=1.5),
    ],
)
def test_layouts_within_the_limits_are_returned_unchanged(layout):
    assert validate_layout(layout) is layout


# ----------------------------------------------------------------------------- refused layouts
@pytest.mark.parametrize("field", ["label_width_mm", "label_height_mm", "page_margin_mm", "gap_mm"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "30", None, True])
def test_a_size_that_is_not_a_finite_number_is_refused(field, value):
    layout = dataclasses.replace(LabelLayout(), **{field: value})
    with pytest.raises(InvalidLabelLayoutError, match=f"{field} must be a finite number"):
        validate_layout(layout)


@pytest.mark.parametrize("field", ["label_width_mm", "label_height_mm"])
@pytest.mark.parametrize("value", [0, 0.0, -30])
def test_a_label_size_of_zero_or_less_is_refused(field, value):
    layout = dataclasses.replace(LabelLayout(), **{field: value})
    with pytest.raises(InvalidLabelLayoutError, match=f"{field} is .*greater than 0"):
        validate_layout(layout)


@pytest.mark.parametrize("field", ["page_margin_mm", "gap_mm"])
def test_a_negative_margin_or_gap_is_refused(field):
    layout = dataclasses.replace(LabelLayout(), **{field: -0.5})
    with pytest.raises(InvalidLabelLayoutError, match=f"{field} is -0.5; it must be 0 or more"):
        validate_layout(layout)


@pytest.mark.parametrize("field", ["label_width_mm", "label_height_mm"])
def test_a_label_under_ten_millimetres_is_refused_as_unreadable(field):
    layout = dataclasses.replace(LabelLayout(), **{field: 9.99})
    with pytest.raises(InvalidLabelLayoutError, match=r"at least 10 mm.*use a larger label"):
        validate_layout(layout)


@pytest.mark.parametrize("field", ["label_width_mm", "label_height_mm"])
def test_a_label_over_two_hundred_millimetres_is_refused(field):
    layout = dataclasses.replace(LabelLayout(page_margin_mm=0), **{field: 200.01})
    with pytest.raises(InvalidLabelLayoutError, match=r"at most 200 mm.*use a smaller label"):
        validate_layout(layout)


@pytest.mark.parametrize(
    "layout",
    [
        # 194 mm printable width
        LabelLayout(label_width_mm=194.01),
        # 281 mm printable height is fine for 200 mm, but 60 mm margins leave only 177 mm
        LabelLayout(label_height_mm=190, page_margin_mm=60),
        # margins wider than half the sheet leave nothing
        LabelLayout(page_margin_mm=105),
    ],
)
def test_a_label_that_does_not_fit_inside_the_margins_is_refused(layout):
    with pytest.raises(
        InvalidLabelLayoutError, match=r"does not fit on an A4 sheet.*make the label or the margins"
    ):
        validate_layout(layout)


def test_the_refusal_says_how_much_room_the_margins_leave():
    with pytest.raises(InvalidLabelLayoutError, match=r"which leave 194 x 281 mm"):
        validate_layout(LabelLayout(label_width_mm=195))


@pytest.mark.parametrize("quiet_zone", [3, 0, -4, 11, 4.0, True, "4"])
def test_a_quiet_zone_outside_four_to_ten_whole_modules_is_refused(quiet_zone):
    with pytest.raises(InvalidLabelLayoutError, match=r"from 4 .*to 10"):
        validate_layout(LabelLayout(quiet_zone_modules=quiet_zone))


def test_a_layout_error_is_an_invalid_request_with_a_stable_code():
    error = InvalidLabelLayoutError()
    assert (error.code, error.kind) == ("invalid_label_layout", ErrorKind.INVALID)
    assert "change the label size or margins" in error.detail


# ----------------------------------------------------------------------------- labels
def test_a_label_has_no_caption_unless_given_one_and_cannot_be_changed():
    label = Label(data="https://id.example.com/00/106141410000000011", text="106141410000000011")
    assert label.caption == ""
    with pytest.raises(dataclasses.FrozenInstanceError):
        label.text = "other"  # type: ignore[misc]


def test_a_print_file_may_hold_at_least_ten_thousand_labels():
    assert MAX_LABELS_PER_FILE >= 10_000
