"""No personal data in URLs: what is typed about a person (a name, a phone number) is sent in a POST
body, never in a query string, where access logs, proxies and browser history would keep it."""

import logging
import re
import threading
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session
from werkzeug.serving import make_server

from portal.models import Person, Role
from tests.conftest import PASSWORD, sign_in_with_session
from tests.portal.test_access import cast  # noqa: F401 - the same cast of users and records

# Field names that carry who a person is, or a free-text search that may be a name or a phone number.
PERSON_FIELD = re.compile(r"(^|_)(q|query|search|name|phone|mobile|id_number|birth|email|address)($|_)")
# A GET form may keep a field named so only for a reason written here.
ALLOWED_IN_GET = {
    # The directory searches offers (titles, descriptions, skills), never people.
    ("/offers/", "q"),
}


class GetForms(HTMLParser):
    """The names of the fields of every form sent by GET (a form without a method is one)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_get_form = False
        self.names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.in_get_form = (attributes.get("method") or "get").lower() == "get" and "hx-post" not in attributes
        elif tag in {"input", "select", "textarea"} and self.in_get_form and attributes.get("name"):
            self.names.add(str(attributes["name"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_get_form = False


def get_form_fields(html: str) -> set[str]:
    parser = GetForms()
    parser.feed(html)
    return parser.names


def test_the_form_walk_finds_a_person_field_in_a_get_form() -> None:
    """The check below must be able to fail: the old caseload form would."""
    old = '<form class="filters" method="get" action="/people/"><input name="q"><select name="area"></select></form>'
    assert {name for name in get_form_fields(old) if PERSON_FIELD.search(name)} == {"q"}
    assert get_form_fields('<form method="post"><input name="full_name"></form>') == set()


@pytest.mark.parametrize("role", list(Role))
def test_no_get_form_on_any_page_asks_for_person_data(
    app: Flask,
    client: FlaskClient,
    session: Session,
    cast: dict[Any, Any],  # noqa: F811
    role: Role,
) -> None:
    """Every GET page this role can open (the cast's records filling the URL parameters), as rendered."""
    ids = {
        "person_id": cast["person"].id,
        "need_id": cast["need"].id,
        "offer_id": cast["offers"][Role.PROVIDER].id,
        "organization_id": cast["organization"].id,
        "user_id": cast["volunteer"].id,
        "referral_id": cast["referrals"][Role.PROVIDER].id,
        "follow_up_id": cast["follow_up"].id,
        "consent_id": cast["consent"].id,
        "token": "no-such-token",
        # The directory API's records (JSON, not pages: walked for their forms all the same).
        "service_id": cast["offers"][Role.PROVIDER].id,
        "service_at_location_id": "no-such-record",
        "taxonomy_id": "no-such-record",
        "term_id": "no-such-record",
        # An admin's HSDS import (its pages are the admins').
        "import_id": cast["directory_import"].id,
    }
    pages = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint == "static":
            continue
        sign_in_with_session(client, session, cast["users"][role])
        url = rule.build({name: ids[name] for name in rule.arguments})[1]
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        pages += 1
        for name in get_form_fields(response.get_data(as_text=True)):
            if PERSON_FIELD.search(name):
                assert (url, name) in ALLOWED_IN_GET, f"{url}: the GET form has a field {name!r}"
    print(f"{role}: {pages} GET pages walked")
    assert pages >= 5


# --- The access log ----------------------------------------------------------------------------------

SENTINEL_NAME = "SENTINELNAMEurlx1"
SENTINEL_PHONE = "13712345678"


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The portal behind Werkzeug's own server, which writes the access log (logger "werkzeug")."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    server.server_close()


def test_searching_by_name_or_phone_leaves_neither_in_the_access_log(
    served: str,
    session: Session,
    cast: dict[Any, Any],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caseworker = cast["users"][Role.CASEWORKER]
    session.add(
        Person(
            code="XA-T-0002",
            full_name=SENTINEL_NAME,
            phone=SENTINEL_PHONE,
            caseworker_id=caseworker.id,
            area_id=cast["person"].area_id,
        )
    )
    session.commit()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def send(path: str, form: dict[str, str] | None = None, **headers: str) -> str:
        body = urlencode(form).encode() if form is not None else None
        with browser.open(urllib.request.Request(served + path, data=body, headers=headers)) as response:
            text: str = response.read().decode()
            return text

    caplog.set_level(logging.INFO, logger="werkzeug")
    send("/auth/login", {"email": caseworker.email, "password": PASSWORD})
    found = [
        send("/people/", {"q": SENTINEL_NAME}),
        send("/people/", {"q": SENTINEL_PHONE, "contact": "ok"}),  # numbers are found whole (blind index)
        send("/people/", {"q": SENTINEL_NAME[:10]}, **{"HX-Request": "true"}),
    ]
    assert all("XA-T-0002" in page for page in found)  # the searches worked
    send(f"/people/?area={cast['person'].area_id}&contact=ok")  # a harmless filter may stay in the URL

    log = "\n".join(record.getMessage() for record in caplog.records if record.name == "werkzeug")
    assert log.count('"POST /people/ HTTP/1.1" 200') == 3
    assert f"area={cast['person'].area_id}" in log  # query strings are logged: the check can fail
    assert SENTINEL_NAME not in log and SENTINEL_NAME[:10] not in log and SENTINEL_PHONE[-6:] not in log


def test_a_search_in_an_old_link_is_not_run_and_the_page_says_so(
    client: FlaskClient,
    session: Session,
    cast: dict[Any, Any],  # noqa: F811
) -> None:
    sign_in_with_session(client, session, cast["users"][Role.CASEWORKER])
    page = client.get("/people/?q=nobody-is-called-this").get_data(as_text=True)
    assert "XA-T-0001" in page  # the whole caseload: the text in the URL was not searched
    assert "Some filters were not understood and were ignored." in page
    assert 'value="nobody-is-called-this"' not in page  # not put into the search box either
    assert "XA-T-0001" not in client.post("/people/", data={"q": "nobody-is-called-this"}).get_data(as_text=True)
