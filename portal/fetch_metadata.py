"""CSRF defence in depth (OWASP CSRF cheat sheet, Fetch Metadata): a state-changing request that
the browser says came from another site is refused before any view runs, token or not. Browsers
too old to send `Sec-Fetch-Site` still send `Origin` on a cross-site POST, so that is checked next."""

from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# "same-origin": our own pages; "none": the user typed the address or used a bookmark.
TRUSTED_SITES = frozenset({"same-origin", "none"})


def _our_hosts() -> set[str]:
    """The host the request came to, and the public address when a proxy changes it."""
    hosts = {request.host}
    public = urlsplit(current_app.config.get("PUBLIC_URL", "")).netloc
    if public:
        hosts.add(public)
    return hosts


def _refuse_cross_site() -> None:
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site not in TRUSTED_SITES:
            abort(403)
        return
    origin = request.headers.get("Origin")
    # An opaque origin ("null": sandboxed frames, some redirects) is never ours.
    if origin is not None and urlsplit(origin).netloc not in _our_hosts():
        abort(403)


def init_app(app: Flask) -> None:
    app.before_request(_refuse_cross_site)
