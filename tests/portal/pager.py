"""Walking a paged list through its "Next" (or "Older") links, as a user does, for the tests of
the lists paged by portal/keyset.py."""

import html
import re

from flask.testing import FlaskClient

NEXT_LINK = re.compile(r'rel="next" href="([^"]+)"')


def walk(client: FlaskClient, address: str) -> list[str]:
    """The HTML of every page, from `address` on through each page's next link (each must answer 200)."""
    pages: list[str] = []
    next_address: str | None = address
    while next_address:
        response = client.get(next_address)
        assert response.status_code == 200, next_address
        pages.append(response.get_data(as_text=True))
        link = NEXT_LINK.search(pages[-1])
        next_address = html.unescape(link.group(1)) if link else None
    return pages


def rows(pages: list[str], shown: str) -> list[list[str]]:
    """What each page shows: the first group of each match of the `shown` pattern, page by page."""
    return [re.findall(shown, page) for page in pages]
