"""How responses travel: compressed when the client accepts it, static files under
content-hashed URLs cached for a year, and nothing that makes a shared cache keep one copy per
visitor of what is the same for everyone.

- Compression is Flask-Compress (zstd, brotli or gzip, whichever the client accepts first in
  that order) for text types, SVG, JSON and CSV. Images are already compressed and are never
  recompressed; partial (206) answers are left alone, since their byte ranges refer to the file
  as stored. Streamed responses (the CSV exports) stay streamed: chunks are compressed as they
  pass, with no Content-Length.
- ``url_for('static', filename=...)`` adds ``v=<first 12 hex digits of the file's SHA-256>``.
  The digest of each file is computed once per process (on first use), except in debug mode,
  where an edited file gets a new digest at once. A request that names the current digest is
  answered ``public, max-age=31536000, immutable``; any other (an old page's URL during a
  deploy, or none) gets ``no-cache`` so it revalidates and never pins old bytes for a year.
"""

import hashlib
from pathlib import Path

from flask import Flask, request
from flask_compress import Compress

ONE_YEAR = 365 * 24 * 3600

#: What is compressed; images (WebP, PNG, JPEG) are already compressed.
COMPRESSED_TYPES = [
    "text/html",
    "text/css",
    "text/plain",
    "text/csv",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/manifest+json",
    "image/svg+xml",
]

compress = Compress()


class StaticVersions:
    """Content digests of the files under the static folder, one computation per file per
    process (``fresh=True`` recomputes when the file changes, for the debug server)."""

    def __init__(self, folder: str, *, fresh: bool = False):
        self.folder = Path(folder).resolve()
        self.fresh = fresh
        self._known: dict[str, tuple[float, str]] = {}

    def version(self, filename: str) -> str | None:
        known = self._known.get(filename)
        if known is not None and not self.fresh:
            return known[1]
        path = (self.folder / filename).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            return None
        mtime = path.stat().st_mtime
        if known is not None and known[0] == mtime:
            return known[1]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        self._known[filename] = (mtime, digest)
        return digest


def init_app(app: Flask) -> None:
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ["zstd", "br", "gzip"])
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["zstd", "br", "gzip"])
    app.config["COMPRESS_REGISTER"] = False  # registered below, with the 206 rule
    compress.init_app(app)
    versions = StaticVersions(app.static_folder, fresh=app.debug)
    app.extensions["static_versions"] = versions

    @app.url_defaults
    def _static_version(endpoint, values):
        if endpoint == "static" and "v" not in values:
            found = versions.version(values.get("filename", ""))
            if found:
                values["v"] = found

    @app.after_request
    def _deliver(response):
        if request.endpoint == "static" and response.status_code in (200, 304):
            wanted = versions.version(request.view_args.get("filename", ""))
            if wanted and request.args.get("v") == wanted:
                response.cache_control.public = True
                response.cache_control.max_age = ONE_YEAR
                response.cache_control.immutable = True
                response.cache_control.no_cache = None
            else:
                response.cache_control.no_cache = True
        if response.status_code == 206:
            return response
        if response.direct_passthrough and response.mimetype in compress.compress_mimetypes_set:
            # A file being sent (static CSS or SVG): read it whole, so it is compressed as one
            # body and its file closed with the response. Flask-Compress would otherwise treat
            # it as a stream and drop the file's close.
            response.direct_passthrough = False
            response.make_sequence()
        return compress.after_request(response)
