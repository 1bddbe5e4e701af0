"""Print files read back with real decoders: zxing-cpp for QR, pdfium for PDF, resvg for SVG."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pypdfium2 as pdfium
import pytest
import resvg_py
import zxingcpp
from PIL import Image

from service.factory.domain.errors import InvalidLabelLayoutError
from service.factory.domain.labels import Label, LabelLayout, grid
from service.factory.storage.printing import QrLabelPrinter

ITEM_URI = "https://id.example.com/01/09506000134352/10/L2026-11-001/21/0123456789ABCDEFGHJK"
CASE_URI = "https://id.example.com/00/106141410000000011"
#: The most bytes a version 40 QR code holds at error correction level M.
MAX_BYTES_AT_LEVEL_M = 2331

printer = QrLabelPrinter()


def item_labels(count: int, start: int = 0) -> Iterator[Label]:
    for number in range(start, start + count):
        serial = f"{number:010d}ABCDEFGHJK"
        yield Label(
            data=f"https://id.example.com/01/09506000134352/10/L2026-11-001/21/{serial}",
            text=serial,
            caption="Lot L2026-11-001",
        )


def decode(image: Image.Image) -> list[str]:
    results = zxingcpp.read_barcodes(image)
    assert all(r.format == zxingcpp.BarcodeFormat.QRCode for r in results)
    return [r.text for r in results]


def pdf_pages(pdf: bytes | str, scale: float) -> Iterator[Image.Image]:
    document = pdfium.PdfDocument(pdf)
    try:
        for page in document:
            yield page.render(scale=scale, grayscale=True).to_pil()
    finally:
        document.close()


def decode_label_by_label(page: Image.Image, layout: LabelLayout, scale: float) -> list[list[str]]:
    """Return what each grid cell of a rendered page decodes to, in reading order.

    zxing's search for many symbols in one image misses some on dense sheets (150 labels of
    15 mm on a page) that decode alone, so each label is cut out and decoded on its own.
    """
    columns, rows = grid(layout)
    px_per_mm = scale * 72 / 25.4
    cells = []
    for slot in range(columns * rows):
        left = layout.page_margin_mm + (slot % columns) * (layout.label_width_mm + layout.gap_mm)
        top = layout.page_margin_mm + (slot // columns) * (layout.label_height_mm + layout.gap_mm)
        box = (left, top, left + layout.label_width_mm, top + layout.label_height_mm)
        cells.append(decode(page.crop(tuple(round(mm * px_per_mm) for mm in box))))
    return cells


def pdf_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def page_count(pdf: bytes | str) -> int:
    document = pdfium.PdfDocument(pdf)
    try:
        return len(document)
    finally:
        document.close()


def write(labels, layout=None, **kwargs) -> bytes:
    out = io.BytesIO()
    printer.write_label_sheets(labels, layout or LabelLayout(), out, **kwargs)
    return out.getvalue()


# ----------------------------------------------------------------------------- matrix
def test_matrix_of_a_short_string_is_a_version_1_square_of_booleans():
    matrix = printer.qr_matrix("tracecert")
    assert len(matrix) == 21
    assert all(len(row) == 21 and all(type(m) is bool for m in row) for row in matrix)


@pytest.mark.parametrize("data", ["tracecert", CASE_URI, ITEM_URI, "x" * MAX_BYTES_AT_LEVEL_M])
def test_matrix_is_square_with_a_qr_version_size_and_three_finder_patterns(data):
    matrix = printer.qr_matrix(data)
    size = len(matrix)
    version = (size - 17) // 4
    assert 1 <= version <= 40 and size == 21 + 4 * (version - 1)
    assert all(len(row) == size for row in matrix)
    finder = [[r in (0, 6) or c in (0, 6) or (2 <= r <= 4 and 2 <= c <= 4) for c in range(7)]
              for r in range(7)]  # fmt: skip
    for top, left in [(0, 0), (0, size - 7), (size - 7, 0)]:
        assert [row[left : left + 7] for row in matrix[top : top + 7]] == finder


def test_the_longest_byte_string_a_level_m_code_holds_makes_a_version_40_code():
    assert len(printer.qr_matrix("x" * MAX_BYTES_AT_LEVEL_M)) == 177


# ----------------------------------------------------------------------------- bad data
@pytest.mark.parametrize("render", ["qr_matrix", "qr_png", "qr_svg"])
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("", "empty"),
        ("x" * (MAX_BYTES_AT_LEVEL_M + 1), "more than a QR code at error correction level M holds"),
        ("lone \ud800 surrogate", "not valid Unicode"),
    ],
)
def test_data_that_cannot_be_encoded_is_refused_with_value_error(render, data, reason):
    with pytest.raises(ValueError, match=reason):
        getattr(printer, render)(data)


@pytest.mark.parametrize(
    ("render", "options"),
    [
        ("qr_png", {"module_px": 0}),
        ("qr_png", {"module_px": 65}),
        ("qr_png", {"quiet_zone": 3}),
        ("qr_png", {"quiet_zone": 11}),
        ("qr_svg", {"module_size": 0}),
        ("qr_svg", {"module_size": math.nan}),
        ("qr_svg", {"quiet_zone": 3}),
    ],
)
def test_image_options_out_of_range_are_refused_with_value_error(render, options):
    with pytest.raises(ValueError):
        getattr(printer, render)(ITEM_URI, **options)


# ----------------------------------------------------------------------------- PNG
@pytest.mark.parametrize("data", [ITEM_URI, CASE_URI])
def test_png_of_a_gs1_digital_link_uri_decodes_to_exactly_that_uri(data):
    png = printer.qr_png(data)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.mode in ("1", "L")
    assert decode(image) == [data]


def test_png_has_the_requested_module_size_and_a_white_quiet_zone():
    modules = len(printer.qr_matrix(ITEM_URI))
    image = Image.open(io.BytesIO(printer.qr_png(ITEM_URI, module_px=3, quiet_zone=6)))
    border = 6 * 3
    assert image.size == ((modules + 12) * 3, (modules + 12) * 3)
    pixels = image.convert("L")
    width = pixels.width
    quiet = [
        pixels.getpixel((x, y))
        for y in range(width)
        for x in range(width)
        if min(x, y) < border or max(x, y) >= width - border
    ]
    assert set(quiet) == {255}
    # the finder pattern's dark corner starts right inside the quiet zone
    assert pixels.getpixel((border, border)) == 0


# ----------------------------------------------------------------------------- SVG
def test_svg_rendered_by_resvg_decodes_to_exactly_the_uri():
    svg = printer.qr_svg(ITEM_URI, module_size=4)
    png = resvg_py.svg_to_bytes(svg_string=svg.decode())
    assert decode(Image.open(io.BytesIO(png))) == [ITEM_URI]


def test_svg_is_one_crisp_path_on_a_white_square_sized_by_the_module_size():
    modules = len(printer.qr_matrix(CASE_URI))
    root = ET.fromstring(printer.qr_svg(CASE_URI, module_size=2.5, quiet_zone=5))
    ns = "{http://www.w3.org/2000/svg}"
    size = modules + 10
    assert root.tag == f"{ns}svg"
    assert (root.get("width"), root.get("height")) == (f"{size * 2.5:g}", f"{size * 2.5:g}")
    assert root.get("viewBox") == f"0 0 {size} {size}"
    (background,) = root.findall(f"{ns}rect")
    assert (background.get("width"), background.get("fill")) == (str(size), "#fff")
    (path,) = root.findall(f"{ns}path")
    assert path.get("shape-rendering") == "crispEdges"
    assert path.get("fill") == "#000"
    # the first dark module is the finder pattern's corner, inside the quiet zone
    assert path.get("d").startswith("M5 5h7v1h-7z")


# ----------------------------------------------------------------------------- PDF
def test_every_label_of_a_pdf_decodes_and_the_pages_follow_the_grid():
    labels = list(item_labels(150))
    pdf = write(iter(labels), title="Lot L2026-11-001")

    columns, rows = grid(LabelLayout())
    assert page_count(pdf) == math.ceil(150 / (columns * rows)) == 4
    decoded: list[str] = []
    # a 30 mm QR square of 45 modules: ~0.67 mm modules, 4.7 px at scale 2.5
    for page in pdf_pages(pdf, scale=2.5):
        decoded.extend(decode(page))
    assert sorted(decoded) == sorted(label.data for label in labels)


def test_a_pdf_page_holds_a_full_grid_of_labels_in_reading_order():
    pdf = write(item_labels(43))
    first, second = pdf_pages(pdf, scale=2.5)
    assert len(decode(first)) == 42
    assert decode(second) == [next(item_labels(1, start=42)).data]


def test_the_pdf_prints_each_labels_text_and_caption_and_its_title():
    pdf = write(item_labels(3), title="Lot L2026-11-001")
    text = pdf_text(pdf)
    for label in item_labels(3):
        assert label.text in text
    assert text.count("Lot L2026-11-001") == 3
    document = pdfium.PdfDocument(pdf)
    assert document.get_metadata_dict()["Title"] == "Lot L2026-11-001"
    document.close()


def test_text_too_long_for_the_label_keeps_its_start_and_end_around_an_ellipsis():
    item_id = "A" * 28 + "-middle-" + "Z" * 28  # 64 characters, the longest item id
    (line,) = [t for t in pdf_text(write([Label(data=CASE_URI, text=item_id)])).split() if t]
    start, end = line.split("\u2026")
    assert item_id.startswith(start) and item_id.endswith(end)
    assert len(start) >= 10 and len(end) >= 10 and "-middle-" not in line


@pytest.mark.parametrize(
    ("layout", "scale"),
    [
        (LabelLayout(label_width_mm=50, label_height_mm=60, page_margin_mm=10, gap_mm=5), 2),
        (LabelLayout(label_width_mm=15, label_height_mm=18, quiet_zone_modules=6), 4.5),
        (LabelLayout(label_width_mm=60, label_height_mm=20, page_margin_mm=0, gap_mm=0), 3),
        (LabelLayout(label_width_mm=10, label_height_mm=10), 6),
    ],
)
def test_custom_label_sizes_change_the_grid_and_each_label_decodes_in_its_place(layout, scale):
    columns, rows = grid(layout)
    per_page = columns * rows
    labels = list(item_labels(per_page + 3))
    pdf = write(labels, layout)

    first, second = pdf_pages(pdf, scale=scale)
    assert decode_label_by_label(first, layout, scale) == [[lab.data] for lab in labels[:per_page]]
    assert decode_label_by_label(second, layout, scale) == (
        [[lab.data] for lab in labels[per_page:]] + [[]] * (per_page - 3)
    )


def test_a_serial_too_wide_for_a_small_label_is_narrowed_not_cut():
    # 20 characters of 4 pt Courier are 17 mm wide; a 15 mm label has 13.5 mm for text
    layout = LabelLayout(label_width_mm=15, label_height_mm=18)
    labels = list(item_labels(2))
    text = pdf_text(write(labels, layout))
    assert all(label.text in text for label in labels)
    assert "\u2026" not in text


def test_labels_without_a_caption_and_for_cases_decode_too():
    labels = [
        Label(data=f"https://id.example.com/00/10614141{n:09d}1", text=f"{n}") for n in range(30)
    ]
    pdf = write(labels)
    decoded = [text for page in pdf_pages(pdf, scale=2.5) for text in decode(page)]
    assert sorted(decoded) == sorted(label.data for label in labels)


def test_labels_are_read_lazily_as_progress_is_reported():
    consumed = 0

    def labels() -> Iterator[Label]:
        nonlocal consumed
        for label in item_labels(1000):
            consumed += 1
            yield label

    reports: list[tuple[int, int]] = []
    written = printer.write_label_sheets(
        labels(),
        LabelLayout(),
        io.BytesIO(),
        progress=lambda done: reports.append((done, consumed)),
    )

    assert written == 1000
    assert reports == [(250, 250), (500, 500), (750, 750), (1000, 1000)]


def test_progress_ends_with_the_total_once_the_file_is_written():
    reports: list[int] = []
    assert write(item_labels(260), progress=reports.append)
    assert reports == [250, 260]


def test_a_label_with_data_that_cannot_be_encoded_fails_the_file_and_writes_nothing():
    labels = [*item_labels(5), Label(data="", text="blank"), *item_labels(5)]
    out = io.BytesIO()
    with pytest.raises(ValueError, match=r"Label 6 cannot be printed: .*empty"):
        printer.write_label_sheets(labels, LabelLayout(), out)
    assert out.getvalue() == b""


def test_no_labels_write_nothing_and_count_zero():
    out = io.BytesIO()
    reports: list[int] = []
    assert printer.write_label_sheets(iter([]), LabelLayout(), out, progress=reports.append) == 0
    assert out.getvalue() == b""
    assert reports == []


def test_a_layout_that_does_not_fit_a4_is_refused_before_any_label_is_read():
    def labels() -> Iterator[Label]:
        raise AssertionError("the labels were read")
        yield

    with pytest.raises(InvalidLabelLayoutError, match="does not fit on an A4 sheet"):
        write(labels(), LabelLayout(label_width_mm=196))


@pytest.mark.slow
def test_ten_thousand_labels_fit_in_one_pdf(tmp_path):
    # ~9 s and ~1.3 MB; one core does the work
    path = tmp_path / "labels.pdf"
    reports: list[int] = []
    with path.open("wb") as out:
        written = printer.write_label_sheets(
            item_labels(10_000), LabelLayout(), out, progress=reports.append
        )

    assert written == 10_000
    assert reports[-1] == 10_000
    columns, rows = grid(LabelLayout())
    assert page_count(str(path)) == math.ceil(10_000 / (columns * rows)) == 239
    document = pdfium.PdfDocument(str(path))
    last_page = document[238].render(scale=2.5, grayscale=True).to_pil()
    document.close()
    assert sorted(decode(last_page)) == sorted(
        label.data for label in item_labels(10_000 - 238 * 42, start=238 * 42)
    )
