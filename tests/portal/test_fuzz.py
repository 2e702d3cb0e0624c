"""Hostile input, everywhere: every route and method, as every role, with random and hostile path
parameters, query strings and form fields, with and without htmx. Nothing may answer 5xx or show
a traceback. Bounded for CI: derandomized, one request per example, 3 examples per page and 6 per
form for each role, and one more per page with url_for's own names in the query (2,340 requests a
database, printed with -s), one database and app per role."""

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlmodel import Session

from portal.auth import forms as auth_forms
from portal.db import get_engine
from portal.hsds import taxonomy
from portal.hsds.documents import linked_id
from portal.models import (
    Category,
    ContactKind,
    Gender,
    NeedStatus,
    OfferStatus,
    Programme,
    ReferralStatus,
    Role,
    ScheduleSlot,
)
from portal.offers import forms as offer_forms
from portal.people import forms as people_forms
from portal.users import forms as user_forms
from tests.conftest import sign_in_with_session
from tests.portal.test_access import cast  # noqa: F401 - the same cast of users and records

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Plain inputs, and the form macros: input(form, errors, "name").
FIELD_NAME = r'name="([a-z_]+)"|\(\w+, \w+, "([a-z_]+)"'
# Forms have more to get wrong than pages: more examples for POST.
EXAMPLES_PER_ROUTE = {"GET": 3, "POST": 6}
ROLES = [None, *Role]

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "x" * 20_001,
    "-1",
    "-99999999999999999999",
    "99999999999999999999999",
    "2147483648",
    "1e999",
    "nan",
    "inf",
    "0x10",
    "'; DROP TABLE person; --",
    "' OR 1=1 --",
    '"><script>alert(1)</script>',
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }}",
    "%(name)s",
    "%s%s%s%n",
    "../../etc/passwd",
    "😀" * 50,
    "\u202e\u200b\ufeff",
    "李" * 300,
    "00000000-0000-0000-0000-000000000000",
    "not-a-uuid",
    "0000-13-45",
    "1899-12-31",
    "9999-12-31",
    "true",
    "on",
    "//evil.example",
    "https://evil.example/",
    # Digits to str.isdigit() but not to int() or secrets.compare_digest: superscript, Arabic-Indic,
    # full-width (a Chinese keyboard's), as a page number, a version, a snooze, a two-step code.
    "²",
    "¹²³⁴⁵⁶",
    "٣",
    "１２",
]
ENUM_VALUES = [
    str(value)
    for enum in (
        Category,
        ContactKind,
        Gender,
        NeedStatus,
        OfferStatus,
        Programme,
        ReferralStatus,
        ScheduleSlot,
        Role,
    )
    for value in enum
] + ["accept", "decline", "withdraw", "pause", "open", "zh", "en", "1", "0", "2", "2026-01-01"]


def form_field_names() -> list[str]:
    """The field names the app reads: from its pydantic form schemas and from its rendered forms."""
    names: set[str] = set()
    for module in (auth_forms, offer_forms, people_forms, user_forms):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
                names.update(value.model_fields)
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        names.update(a or b for a, b in re.findall(FIELD_NAME, text))
    return sorted(names - {"csrf_token", "viewport"})


def fields_by_endpoint() -> dict[str, set[str]]:
    """Each rendered form's field names, under the endpoint it posts to (its action's url_for, or
    the `{% set url = url_for(...) %}` just before it)."""
    found: dict[str, set[str]] = {}
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        for form in re.finditer(r"<form\b[^>]*>.*?</form>", text, re.DOTALL):
            opening = re.match(r"<form\b[^>]*>", form.group(0))
            assert opening is not None
            targets = (
                re.findall(r"url_for\('([\w.]+)'", opening.group(0))
                or re.findall(r"url_for\('([\w.]+)'", text[max(0, form.start() - 400) : form.start()])[-1:]
            )
            names = {a or b for a, b in re.findall(FIELD_NAME, form.group(0))} - {"csrf_token"}
            for endpoint in targets:
                found.setdefault(endpoint, set()).update(names)
    return found


FIELDS = form_field_names()
ENDPOINT_FIELDS = fields_by_endpoint()
# The names url_for keeps for itself: a page that builds links from its query must not pass them on.
RESERVED_QUERY = {"_method": "POST", "_external": "1", "_anchor": "x", "_scheme": "ftp", "endpoint": "x", "values": "x"}
QUERY_NAMES = ["q", "category", "area", "language", "status", "page", "caseworker", "next", "lang", *RESERVED_QUERY]


def routes(app: Flask) -> list[tuple[Any, str]]:
    return sorted(
        (
            (rule, method)
            for rule in app.url_map.iter_rules()
            if rule.endpoint != "static"
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        ),
        key=lambda pair: (pair[0].rule, pair[1]),
    )


def values(known: list[str]) -> st.SearchStrategy[Any]:
    """One value or several for one name: hostile, random, or real enough to get past the first check."""
    scalar = st.one_of(
        st.sampled_from(HOSTILE),
        st.text(max_size=40),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.floats().map(repr),
        st.uuids().map(str),
        st.sampled_from(ENUM_VALUES + known),
    )
    return st.one_of(scalar, st.lists(scalar, min_size=2, max_size=3))


def fields(names: list[str], known: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Any of these fields, each present or missing (missing ones are part of the test), hostile values."""
    return st.fixed_dictionaries({}, optional={name: values(known) for name in names})


def path_value(real: list[str]) -> st.SearchStrategy[Any]:
    """Mostly a real record, so the request gets past the lookup into the view; otherwise anything."""
    if not real:
        return values([])
    return st.one_of(st.sampled_from(real), st.sampled_from(real), st.sampled_from(real), values([]))


def any_fields(known: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A few fields of any form: a view must cope with fields it does not expect, too."""
    return st.lists(st.sampled_from(FIELDS), max_size=4, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({name: values(known) for name in chosen})
    )


def real_ids(records: dict[Any, Any]) -> dict[str, list[str]]:
    """The cast's records by the path parameter that names them, so requests also reach the views."""
    return {
        "offer_id": [str(offer.id) for offer in records["offers"].values()],
        "organization_id": [str(records["organization"].id)],
        "user_id": [str(records["volunteer"].id)],
        "person_id": [str(records["person"].id)],
        "need_id": [str(records["need"].id)],
        "referral_id": [str(referral.id) for referral in records["referrals"].values()],
        "follow_up_id": [str(records["follow_up"].id)],
        "consent_id": [str(records["consent"].id)],
        "request_id": [str(records["erasure_request"].id)],
        "activity_id": [str(activity.id) for activity in records["activities"].values()],
        "token": ["a-reset-link-that-was-never-sent"],
        "service_id": [str(offer.id) for offer in records["offers"].values()],
        "service_at_location_id": [linked_id("service_at_location", records["offers"][Role.PROVIDER].id)],
        "taxonomy_id": [str(taxonomy.CATEGORIES.id)],
        "term_id": [str(taxonomy.category_term(Category.HOUSING).id)],
        "token_id": [str(records["api_token"].id)],
        "import_id": [str(records["directory_import"].id)],
    }


SENT = {"requests": 0}


@pytest.fixture(autouse=True)
def small_pages(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page of the directory and of the audit trail holds one row, so their pagers show."""
    app.config["DIRECTORY_PAGE_SIZE"] = 1
    monkeypatch.setattr("portal.audit.views.PER_PAGE", 1)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: str(r or "anonymous"))
def test_no_input_anywhere_causes_a_server_error(
    app: Flask,
    client: FlaskClient,
    cast: dict[Any, Any],  # noqa: F811 - the fixture imported above
    role: Role | None,
) -> None:
    ids = real_ids(cast)
    known = [value for group in ids.values() for value in group] + [
        str(cast["person"].area_id),
        str(cast["users"][Role.CASEWORKER].id),
    ]
    user = cast["users"][role] if role is not None else None
    served = routes(app)
    sent_before = SENT["requests"]

    for rule, method in served:
        own_fields = sorted(ENDPOINT_FIELDS.get(rule.endpoint, set()) | rendered_fields(client, user, rule, ids))
        fuzz_route(client, user, rule, method, own_fields, ids, known)
        if method == "GET":
            reserved_names(client, user, rule, ids)
    print(f"fuzz as {role or 'anonymous'}: {SENT['requests'] - sent_before} requests to {len(served)} routes")


def fuzz_route(
    client: FlaskClient,
    user: Any,
    rule: Any,
    method: str,
    own_fields: list[str],
    ids: dict[str, list[str]],
    known: list[str],
) -> None:
    """A few hostile requests to one route and method; every answer below 500, none with a traceback."""

    @settings(
        max_examples=EXAMPLES_PER_ROUTE[method],
        derandomize=True,
        deadline=None,
        database=None,
        # Derandomized, a failure reproduces as it is; the assertion names the request.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def send(data: st.DataObject) -> None:
        path_values = {name: data.draw(path_value(ids.get(name, [])), label=name) for name in rule.arguments}
        # Quoted here: the uuid converter puts a value into the path as it is.
        url = rule.build({k: quote(v if isinstance(v, str) else v[0], safe="") for k, v in path_values.items()})[1]
        query = data.draw(fields(QUERY_NAMES, known), label="query")
        form = None
        if method == "POST":
            form = {
                **data.draw(any_fields(known), label="other"),
                **data.draw(fields(own_fields, known), label="form"),
            }
        headers = {"HX-Request": "true"} if data.draw(st.booleans(), label="htmx") else {}
        _sign_in(client, user)
        response = client.open(url, method=method, query_string=query, data=form, headers=headers)
        SENT["requests"] += 1
        assert response.status_code < 500, (method, url, query, form, response.status_code)
        assert "Traceback" not in response.get_data(as_text=True), (method, url)

    send()


def reserved_names(client: FlaskClient, user: Any, rule: Any, ids: dict[str, list[str]]) -> None:
    """Every name url_for keeps for itself at once, with a page number "²" (a digit to isdigit(),
    not to int()); random draws would rarely put them together. Pages are one offer or event long
    here (`small_pages`), so the pagers that rebuild their query are on the page."""
    if not set(rule.arguments) <= set(ids):
        return
    _sign_in(client, user)
    url = rule.build({name: ids[name][0] for name in rule.arguments})[1]
    response = client.get(url, query_string={**RESERVED_QUERY, "page": "²"})
    SENT["requests"] += 1
    assert response.status_code < 500, (url, RESERVED_QUERY, response.status_code)


def rendered_fields(client: FlaskClient, user: Any, rule: Any, ids: dict[str, list[str]]) -> set[str]:
    """The fields of a form that posts back to its own page, read from the page as this role sees it."""
    if "GET" not in (rule.methods or set()) or "POST" not in (rule.methods or set()):
        return set()
    _sign_in(client, user)
    page = client.get(rule.build({name: ids[name][0] for name in rule.arguments})[1])
    if page.status_code != 200:
        return set()
    return set(re.findall(r'name="([a-z_]+)"', page.get_data(as_text=True))) - {"csrf_token", "viewport"}


def _sign_in(client: FlaskClient, user: Any) -> None:
    """Each request as the role under test again: a fuzzed sign-out or language change ends the session."""
    if user is None:
        with client.session_transaction() as flask_session:
            flask_session.clear()
        return
    with Session(get_engine(client.application), expire_on_commit=False) as session:
        sign_in_with_session(client, session, user)


def test_the_fuzzer_knows_the_fields_of_every_form(
    app: Flask,
    client: FlaskClient,
    cast: dict[Any, Any],  # noqa: F811 - the fixture imported above
) -> None:
    """If the field discovery broke, the fuzzer would only send fields no view reads."""
    for expected in ("full_name", "description", "legal_hold_reason", "to_user_id", "password", "pay_min"):
        assert expected in FIELDS
    assert {"legal_hold", "legal_hold_reason"} <= ENDPOINT_FIELDS["people.legal_hold"]
    assert {"description", "category", "urgency"} <= ENDPOINT_FIELDS["people.add_need"]
    rules = {rule.endpoint: rule for rule, _method in routes(app)}
    caseworker, provider = cast["users"][Role.CASEWORKER], cast["users"][Role.PROVIDER]
    ids = real_ids(cast)
    assert {"full_name", "id_number", "next_contact_due"} <= rendered_fields(
        client, caseworker, rules["people.update"], ids
    )
    assert {"title", "capacity", "pay_min"} <= rendered_fields(client, provider, rules["offers.create"], ids)
    assert len(rules) >= 40
