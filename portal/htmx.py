"""Everything the server knows about htmx: full page or partial from the same URL."""

from typing import Any

from flask import Response, make_response, render_template
from flask_htmx import HTMX

htmx = HTMX()


def wants_partial() -> bool:
    """An htmx request that swaps a fragment (a history restore needs the whole page)."""
    return bool(htmx) and not htmx.history_restore_request


def render(page: str, partial: str, status: int = 200, **context: Any) -> Response:
    """Render the partial for htmx requests and the page otherwise; caches must tell them apart."""
    template = partial if wants_partial() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response
