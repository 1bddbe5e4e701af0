"""The web scanner page (``GET /scanner``) with its script, stylesheet and decoder.

The decoder is the npm package ``zxing-wasm`` (ZXing-C++ built to WebAssembly), served from
the project's ``node_modules`` so the page makes no request outside our origin: by default
the package would fetch its ``.wasm`` from a CDN, and the page overrides that (scanner.js).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from service.api.errors import error_response
from service.api.static import CSS, JS, NODE_MODULES, WASM, WEB_DIR, StaticFile, gzip_page

router = APIRouter(tags=["web"], include_in_schema=False)

#: The page's own files (``/scanner/{file}``): nothing else in service/web is served. The
#: page links them with their version, so a browser keeps them a year (static.py).
PAGE_FILES: dict[str, StaticFile] = {
    "scanner.js": StaticFile(WEB_DIR / "scanner.js", JS),
    "scanner.css": StaticFile(WEB_DIR / "scanner.css", CSS),
}
#: The page itself: its links to its own files get their versions when it is served.
_PAGE = WEB_DIR / "scanner.html"

#: ``/scanner/vendor/<name>`` -> (path under node_modules, content type). The names keep the
#: package's ES layout so its relative import (reader/index.js -> ../share.js) resolves here.
VENDOR_FILES: dict[str, tuple[str, str]] = {
    "zxing-wasm/reader/index.js": ("zxing-wasm/dist/es/reader/index.js", JS),
    "zxing-wasm/share.js": ("zxing-wasm/dist/es/share.js", JS),
    "zxing-wasm/reader/zxing_reader.wasm": ("zxing-wasm/dist/reader/zxing_reader.wasm", WASM),
}
_VENDOR: dict[Path, StaticFile] = {}

#: Only our origin. 'wasm-unsafe-eval' lets the page compile the decoder's WebAssembly (it
#: allows no JavaScript eval); the decoder runs on the page, so no worker or blob: is needed.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "media-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _not_found() -> JSONResponse:
    return error_response(404, "not_found", "No such file for the scanner page; check the path.")


@router.get("/scanner", response_class=HTMLResponse)
def scanner_page(request: Request) -> HTMLResponse:
    """The scanner page: camera or typed codes, offline queue, upload."""
    html = _PAGE.read_text(encoding="utf-8")
    for name, file in PAGE_FILES.items():
        html = html.replace(f'"scanner/{name}"', f'"{file.url(f"scanner/{name}")}"')
    page = HTMLResponse(
        html,
        headers={
            **_COMMON_HEADERS,
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
        },
    )
    return gzip_page(request, page)


@router.get("/scanner/vendor/{file:path}", response_model=None)
def scanner_vendor(file: str, request: Request) -> Response:
    """The decoder's browser build from node_modules (a fixed list of files)."""
    entry = VENDOR_FILES.get(file)
    if entry is None:
        return _not_found()
    if not NODE_MODULES.is_dir():
        return error_response(
            503,
            "scanner_decoder_missing",
            "The scanner's decoder is not installed (node_modules is missing); "
            "run scripts/run or scripts/test, which install node_modules.",
        )
    relative, media_type = entry
    path = NODE_MODULES / relative
    if not path.is_file():
        return error_response(
            503,
            "scanner_decoder_missing",
            f"node_modules has no {relative}; run scripts/run or scripts/test, "
            "which install node_modules from package-lock.json.",
        )
    # The package version is pinned in package.json, yet an upgrade keeps these names and the
    # decoder imports them by relative URL (no version): revalidated (ETag, 304), compressed.
    served = _VENDOR.get(path)
    if served is None:
        served = _VENDOR.setdefault(path, StaticFile(path, media_type))
    return served.respond(request)


def scanner_asset(request: Request) -> Response:
    """scanner.js and scanner.css (ETag, 304, gzip; a year when versioned); any other name is
    404."""
    found = PAGE_FILES.get(request.url.path.rsplit("/", 1)[-1])
    if found is None:
        return _not_found()
    return found.respond(request)


# One route per file rather than ``/scanner/{file}``: that pattern also matched
# ``/scanner/sessions`` (the scanner's device sessions, POST only), whose 405 then named GET.
for _name in PAGE_FILES:
    router.add_api_route(f"/scanner/{_name}", scanner_asset, methods=["GET"], response_model=None)
