"""``/docs``: Swagger UI served from our own origin.

FastAPI's default page loads Swagger UI from a CDN, so it is blank offline and wherever CDNs are
blocked. Here the page and its script are ours (service/web/docs.*) and Swagger UI comes from
the npm package ``swagger-ui-dist``, pinned in package.json and installed into node_modules
(like the scanner's decoder); the Content-Security-Policy allows no other origin. ReDoc is off.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse

from service.api.errors import error_response
from service.api.static import CSS, JS, NODE_MODULES, WEB_DIR

router = APIRouter(tags=["web"], include_in_schema=False)

#: ``/docs/assets/<name>`` -> (path, content type): our init script and the package's build.
ASSETS: dict[str, tuple[str, str]] = {
    "docs.js": ("docs.js", JS),
    "swagger-ui-bundle.js": ("swagger-ui-dist/swagger-ui-bundle.js", JS),
    "swagger-ui.css": ("swagger-ui-dist/swagger-ui.css", CSS),
    "favicon-32x32.png": ("swagger-ui-dist/favicon-32x32.png", "image/png"),
}

#: Only our origin. Swagger UI sets style attributes (hence 'unsafe-inline' for styles only) and
#: draws its icons from data: URIs.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/docs", response_class=FileResponse)
def docs_page() -> FileResponse:
    """The interactive API documentation."""
    return FileResponse(
        WEB_DIR / "docs.html",
        media_type="text/html; charset=utf-8",
        headers={**_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


@router.get("/docs/assets/{name}", response_model=None)
def docs_asset(name: str) -> FileResponse | JSONResponse:
    """Swagger UI's files (a fixed list) and the page's script; any other name is 404."""
    entry = ASSETS.get(name)
    if entry is None:
        return error_response(404, "not_found", "No such file for /docs; check the path.")
    relative, media_type = entry
    path = WEB_DIR / relative if relative == name else NODE_MODULES / relative
    if not path.is_file():
        return error_response(
            503,
            "docs_assets_missing",
            f"node_modules has no {relative}; run scripts/run or scripts/test, which install "
            "node_modules from package-lock.json.",
        )
    # The package is pinned, yet an upgrade keeps these names: revalidate.
    return FileResponse(path, media_type=media_type, headers=_HEADERS)
