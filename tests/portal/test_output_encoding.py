"""Output encoding (security.md items 19, 20): what users type is shown as text, never run.

Hostile values go into every text a user can enter about an offer, an organization, a person and a
need; the pages that show them are parsed, and no element, attribute or script may come from them.
Gates on the source keep the dangerous constructs out: no `|safe`, no `Markup(`, no autoescape
switched off, no `hx-on` or `js:` values, and the htmx configuration exactly as reviewed."""

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from flask.testing import FlaskClient
from markupsafe import escape
from sqlmodel import Session

from portal.models import (
    DataCategory,
    Need,
    Offer,
    Organization,
    Person,
    RecipientKind,
    Referral,
    ReferralStatus,
    Role,
    User,
)
from tests.conftest import record_consent

ROOT = Path(__file__).resolve().parents[2]
MARK = "xss7731"
PAYLOADS = [
    f'"><img src=x onerror=alert("{MARK}")>',
    f"<script>alert('{MARK}')</script>",
    f"<div hx-get=/users/ hx-trigger=load>{MARK}</div>",
    f'<a href="javascript:alert(1)" hx-on:click="alert(1)">{MARK}</a>',
    f"' onmouseover='alert(1)' data-hx-post='/{MARK}'",
    f"<svg onload=alert('{MARK}')>",
    f"{{{{7*7}}}} {{% print('{MARK}') %}}",
    f"<style>body{{display:none}}</style>{MARK}",
    f"<iframe src=//evil.example/{MARK}>",
    f"<math><mtext></p><img src=x onerror=alert('{MARK}')></mtext></math>",
]
HOSTILE = " ".join(PAYLOADS)
DANGEROUS_ATTRIBUTE = re.compile(r"^(on|hx-|data-hx-)")


class _Elements(HTMLParser):
    """Every element and attribute of a page, and the text inside its scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def injected(html: str) -> list[str]:
    """Elements or attributes that came from the payloads rather than from the templates."""
    parser = _Elements()
    parser.feed(html)
    found = [f"<{tag}>" for tag, _ in parser.tags if tag in ("img", "svg", "iframe", "math", "style")]
    for tag, attrs in parser.tags:
        for name, value in attrs:
            if MARK in name or (DANGEROUS_ATTRIBUTE.match(name) and value and MARK in value):
                found.append(f"<{tag} {name}={value!r}>")
            if name == "href" and value and value.strip().lower().startswith("javascript:"):
                found.append(f"<{tag} href={value!r}>")
    found += [text for text in parser.script_text if MARK in text]
    return found


def test_hostile_values_are_shown_as_text_on_every_page_that_shows_them(
    session: Session,
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    make_organization: Callable[..., Organization],
    make_offer: Callable[..., Offer],
) -> None:
    organization = make_organization(name=HOSTILE[:200], description=HOSTILE)
    provider = make_user(Role.PROVIDER, organization=organization, name=PAYLOADS[0][:120])
    offer = make_offer(provider, title=PAYLOADS[1], description=HOSTILE, address=PAYLOADS[2], skills=[PAYLOADS[3]])
    caseworker = make_user(Role.CASEWORKER, name=PAYLOADS[4][:120])
    supervisor = make_user(Role.SUPERVISOR)
    person = Person(code="XA-XSS-1", caseworker_id=caseworker.id, full_name=PAYLOADS[5][:120], address=PAYLOADS[6])
    session.add(person)
    session.commit()
    need = Need(person_id=person.id, category="counselling", description=HOSTILE[:2000])
    session.add(need)
    session.commit()
    session.add(
        Referral(
            need_id=need.id, offer_id=offer.id, status=ReferralStatus.SENT, note=PAYLOADS[7], summary=HOSTILE[:300]
        )
    )
    session.commit()
    # Consented, so that the provider's inbox shows the person's details.
    record_consent(session, person, kind=RecipientKind.NGO, categories=tuple(DataCategory), note=HOSTILE[:2000])

    pages = {
        caseworker: [
            "/",
            "/people/",
            f"/people/{person.id}",
            f"/people/{person.id}/consents",
            f"/matches/needs/{need.id}",
            "/offers/",
            f"/offers/{offer.id}",
        ],
        supervisor: [f"/organizations/{organization.id}"],
        provider: ["/", "/offers/mine", "/referrals/inbox", f"/offers/{offer.id}"],
    }
    for user, paths in pages.items():
        login(user)
        for path in paths:
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(path, headers=headers)
                assert response.status_code == 200, path
                html = response.get_data(as_text=True)
                assert injected(html) == [], (path, headers)
        client.post("/auth/logout")
    # The values did reach the pages, as text.
    login(caseworker)
    assert str(escape(person.full_name)) in client.get(f"/people/{person.id}").get_data(as_text=True)
    login(provider)  # providers read the caseworker's summary, never the need's description
    assert str(escape(HOSTILE[:300])) in client.get("/referrals/inbox").get_data(as_text=True)


def test_the_payload_check_finds_an_injected_element() -> None:
    assert injected(f"<p>{PAYLOADS[0]}</p>") != []
    assert injected(f"<p>{PAYLOADS[0].replace('<', '&lt;')}</p>") == []


def _sources(*patterns: str) -> list[Path]:
    return [path for pattern in patterns for path in ROOT.glob(pattern)]


def test_no_template_or_module_turns_escaping_off_or_allows_htmx_scripting() -> None:
    banned = re.compile(
        r"\|\s*safe\b|Markup\(|autoescape\s+false|hx-on|\bjs:|hx-vars|hx-trigger=\"(?:[^\"]*[,\s])?[\w-]+\["
    )
    hits = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _sources("templates/**/*", "portal/**/*.py")
        if path.is_file()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if banned.search(line)
    ]
    assert hits == []


def test_every_template_is_autoescaped() -> None:
    templates = [path for path in _sources("templates/**/*") if path.is_file()]
    assert templates
    assert [path.name for path in templates if path.suffix != ".html"] == []


def test_htmx_runs_without_eval_scripts_history_or_cross_origin_requests() -> None:
    base = (ROOT / "templates" / "base.html").read_text(encoding="utf-8")
    match = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", base)
    assert match is not None
    config = json.loads(match.group(1))
    assert config["allowEval"] is False
    assert config["selfRequestsOnly"] is True
    assert config["historyCacheSize"] == 0
    assert config["includeIndicatorStyles"] is False
    assert config.get("allowScriptTags", True) is False
