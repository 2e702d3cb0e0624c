"""Browser hardening on every response: a strict Content-Security-Policy with a per-request nonce,
no framing, no sniffing, no referrer leaks, no caching of pages with personal data, HSTS in production."""

import secrets

from flask import Flask, Response, g, request

from portal.maps import tile_origin

# Pages of signed-in users carry personal data; only static files may be cached.
CACHEABLE_PREFIXES = ("/static/",)


def csp_nonce() -> str:
    """The nonce of this response, for the rare inline script that must exist (none so far)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    nonce: str = g.csp_nonce
    return nonce


def _policy(nonce: str, tiles: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'",
            f"img-src 'self' data:{' ' + tiles if tiles else ''}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    production = app.config["ENV"] not in ("development", "testing")
    tiles = tile_origin(app)  # the map's tiles are images from their own server

    @app.after_request
    def _harden(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = _policy(csp_nonce(), tiles)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if not request.path.startswith(CACHEABLE_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        if production:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response
