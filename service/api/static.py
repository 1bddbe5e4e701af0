"""Static files of the pages: cacheable, revalidated, versioned and compressed.

* Every answer carries a strong ``ETag`` (a hash of the content) and ``Last-Modified``; a
  matching ``If-None-Match`` (or, without one, an ``If-Modified-Since`` not older than the
  file) gets a ``304`` with no body.
* A page links each file with its version (``?v=<hash>``, :meth:`StaticFile.url`); fetched
  with the current version, the answer may be kept a year (``immutable``): a new file has a
  new URL. Anything else (no version, an old one) is ``no-cache``: used, but revalidated.
* Text (scripts, styles, WebAssembly too) is sent gzip-compressed to clients that accept it,
  with ``Vary: Accept-Encoding``; each encoding has its own ETag.

Files are read once and kept, compressed, until their modification time changes.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

#: The pages' files (service/web); node_modules sits beside service/ at the project root.
WEB_DIR = Path(__file__).resolve().parents[1] / "web"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = PROJECT_ROOT / "node_modules"

JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
WASM = "application/wasm"

#: How long a versioned URL may be kept: a year, the most RFC 9111 caches honour.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Files below this size are sent as they are (compression would gain nothing).
MIN_GZIP_BYTES = 512
R = TypeVar("R", bound=Response)
_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@dataclass(frozen=True)
class _Content:
    mtime_ns: int
    body: bytes
    gzipped: bytes | None
    digest: str
    last_modified: str


class StaticFile:
    """One file of service/web (or node_modules), served as the module docstring says."""

    def __init__(self, path: Path, media_type: str, *, compress: bool = True) -> None:
        self.path = path
        self.media_type = media_type
        self.compress = compress
        self._lock = threading.Lock()
        self._content: _Content | None = None

    def _load(self) -> _Content:
        mtime_ns = self.path.stat().st_mtime_ns
        with self._lock:
            content = self._content
            if content is not None and content.mtime_ns == mtime_ns:
                return content
        body = self.path.read_bytes()
        gzipped = None
        if self.compress and len(body) >= MIN_GZIP_BYTES:
            # mtime=0: the same bytes every time, so the gzip ETag holds across restarts.
            gzipped = gzip.compress(body, compresslevel=9, mtime=0)
        content = _Content(
            mtime_ns, body, gzipped, hashlib.sha256(body).hexdigest()[:20], _http_date(mtime_ns)
        )
        with self._lock:
            self._content = content
        return content

    def version(self) -> str:
        """The content's version, as :meth:`url` puts it in the query."""
        return self._load().digest[:12]

    def url(self, path: str) -> str:
        """``path`` with the current version: the URL a page links to."""
        return f"{path}?v={self.version()}"

    def respond(self, request: Request, *, headers: dict[str, str] | None = None) -> Response:
        """The file, or a 304, for ``request`` (GET or HEAD)."""
        content = self._load()
        gzipped = content.gzipped is not None and accepts_gzip(request)
        etag = f'"{content.digest}-gz"' if gzipped else f'"{content.digest}"'
        versioned = request.query_params.get("v") == content.digest[:12]
        out = {
            **_COMMON,
            **(headers or {}),
            "ETag": etag,
            "Last-Modified": content.last_modified,
            "Cache-Control": IMMUTABLE if versioned else "no-cache",
            "Vary": "Accept-Encoding",
        }
        if _not_modified(request, content, etag):
            return Response(status_code=304, headers=out)
        body = content.body
        if gzipped:
            assert content.gzipped is not None
            body = content.gzipped
            out["Content-Encoding"] = "gzip"
        if request.method == "HEAD":
            out["Content-Length"] = str(len(body))
            return Response(status_code=200, headers=out, media_type=self.media_type)
        return Response(body, headers=out, media_type=self.media_type)


def _http_date(mtime_ns: int) -> str:
    """An HTTP date (whole seconds) for a modification time in nanoseconds."""
    return format_datetime(datetime.fromtimestamp(mtime_ns // 1_000_000_000, UTC), usegmt=True)


def accepts_gzip(request: Request) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (``gzip`` or ``*`` with a q-value above 0)."""
    for part in request.headers.get("accept-encoding", "").split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if name.lower() not in ("gzip", "*"):
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


def _not_modified(request: Request, content: _Content, etag: str) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    match = request.headers.get("if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    return when >= parsedate_to_datetime(content.last_modified)


def gzip_page(request: Request, response: R) -> R:
    """Compress a rendered page for a client that accepts gzip (pages are no-store, never
    cached, so no ETag); the response is changed in place and returned."""
    body = bytes(response.body)
    vary = response.headers.get("Vary")
    response.headers["Vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
    if len(body) < MIN_GZIP_BYTES or not accepts_gzip(request):
        return response
    response.body = gzip.compress(body, compresslevel=6)
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Content-Length"] = str(len(response.body))
    return response
