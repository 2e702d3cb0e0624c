"""No page scrolls sideways on a 390 × 844 phone, in English or in Chinese: every page each demo
account can open, found from the app's routes (the pages without ids, and those of one record of
each kind: a person with their consents, edit form and printable record, a need's matches, an
offer, an organization), with a referral waiting in the NGO's inbox. Screenshots of each page are
saved for a person to look at."""

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page
from sqlmodel import Session, col, select

from portal import create_app
from portal.db import get_engine
from portal.demo import load_demo_data
from portal.hsds import imports
from portal.hsds.reading import Report, problem
from portal.models import (
    DataCategory,
    DirectoryImport,
    ImportState,
    Need,
    Offer,
    Organization,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    User,
    utcnow,
)
from tests.browser.test_accessibility_browser import LOCALES, VIEWPORTS, _sign_in
from tests.conftest import TEST_CONFIG, record_consent

pytestmark = pytest.mark.browser

PHONE, DESKTOP = VIEWPORTS["phone"], VIEWPORTS["desktop"]
ACCOUNTS = [
    None,  # not signed in
    "caseworker@bridge.example",
    "supervisor@bridge.example",
    "admin@bridge.example",
    "ngo@bridge.example",
    "employer@bridge.example",
    "volunteer@bridge.example",
    "staff.chunhui@bridge.example",
    "grid@bridge.example",
    "specialist@bridge.example",
]
# Pages that name their person in the query: opened for the records' person.
QUERY_NAMED = {"grid.contact", "programme.person"}
# GET routes that are no page to look at: files, data for machines, links only a mail carries.
NOT_PAGES = {
    "static",
    "home.health",
    "indicators.export_csv",
    "indicators.grids_csv",
    "people.export_json",
    "people.export_caseload",
    "hours.export",
    "grid.service_worker",
    "offers.import_template",
    "auth.reset_password",
    "auth.mfa_verify",
    # The directory API answers JSON, not pages (its admins' page of tokens is a page).
    "hsds.index",
    "hsds.openapi_document",
    "hsds.services_list",
    "hsds.service",
    "hsds.service_at_locations_list",
    "hsds.service_at_location",
    "hsds.organizations_list",
    "hsds.organization",
    "hsds.taxonomies_list",
    "hsds.taxonomy_detail",
    "hsds.taxonomy_terms_list",
    "hsds.taxonomy_term",
    # The HSDS import's progress, polled by its page: a fragment.
    "hsds.import_progress",
}
# Pages the check must have reached, so that it cannot pass by opening nothing.
MUST_SEE = {
    "caseworker": {"/people/new", "/people/{person}", "/matches/needs/{need}", "/offers/{offer}"},
    "ngo": {"/referrals/inbox", "/referrals/history", "/offers/new", "/offers/{offer}/edit"},
    "grid": {"/grid/", "/grid/contact?person={person}"},
    "specialist": {"/programme/", "/programme/person?person={person}"},
    "volunteer": {"/hours/", "/hours/new", "/hours/certificate"},
    "admin": {"/users/new", "/indicators"},
}

# The page is wider than the window: name the element that sticks out furthest, outside any
# element that scrolls or clips its own overflow (a table in .table-wrap may be wide).
WIDEST = r"""() => {
  const doc = document.documentElement;
  if (doc.scrollWidth <= window.innerWidth) return null;
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== doc; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  let worst = null, right = window.innerWidth;
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > window.innerWidth + 0.5 && r.right >= right && !clipped(el)) {
      right = r.right;
      worst = el;
    }
  }
  const name = worst ? worst.tagName.toLowerCase() + (worst.id ? '#' + worst.id : '')
    + [...worst.classList].map(c => '.' + c).join('')
    + (worst.getAttribute('name') ? '[name=' + worst.getAttribute('name') + ']' : '')
    + ' "' + (worst.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 40) + '"' : '?';
  return `${doc.scrollWidth}px wide, widest: ${name} (right edge ${Math.round(right)}px)`;
}"""


def _candidates(app: Flask, ids: dict[str, str]) -> dict[str, str]:
    """Every GET page of the app, ids filled in with the records', each with a name for its
    screenshot (the route, without ids)."""
    pages = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint in NOT_PAGES:
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<uuid:{argument}>", ids[argument])
        if rule.endpoint in QUERY_NAMED:
            path = f"{path}?person={ids['person_id']}"
        pages[path] = re.sub(r"<uuid:(\w+)_id>", r"\1", rule.rule).strip("/").replace("/", "-") or "home"
    return dict(sorted(pages.items()))


@pytest.fixture
def records(live_server: str, session: Session) -> dict[str, str]:
    """The demo data, plus a referral the NGO has to answer; the ids of one record of each kind."""
    assert load_demo_data(session)
    caseworker = session.exec(select(User).where(User.email == "caseworker@bridge.example")).one()
    ngo_user = session.exec(select(User).where(User.email == "ngo@bridge.example")).one()
    ngo = session.get(Organization, ngo_user.organization_id)
    assert ngo is not None
    person = session.exec(
        select(Person).where(Person.caseworker_id == caseworker.id).order_by(col(Person.code))
    ).first()
    assert person is not None
    need = session.exec(select(Need).where(Need.person_id == person.id)).first()
    offer = session.exec(select(Offer).where(Offer.organization_id == ngo.id).order_by(col(Offer.title))).first()
    assert need is not None and offer is not None
    record_consent(session, person, organization=ngo, categories=tuple(DataCategory))
    referral = Referral(
        need_id=need.id, offer_id=offer.id, status=ReferralStatus.SENT, respond_by=utcnow() + timedelta(days=3)
    )
    session.add(referral)
    session.commit()
    session.add_all(
        [
            ReferralEvent(referral_id=referral.id, to_status=ReferralStatus.APPROVED),
            ReferralEvent(referral_id=referral.id, from_status=ReferralStatus.APPROVED, to_status=ReferralStatus.SENT),
        ]
    )
    session.commit()
    # An admin's HSDS import whose check found a problem: its page shows the problems' table.
    found = [problem("locations.csv", 2, "latitude", "whole_number", value="100.5", low=-90, high=90)]
    directory_import = DirectoryImport(
        source="partner-directory.zip",
        state=ImportState.REFUSED,
        report=imports.report_document(Report(source="partner-directory.zip", problems=found, services_read=1)),
    )
    session.add(directory_import)
    session.commit()
    return {
        "person_id": str(person.id),
        "need_id": str(need.id),
        "offer_id": str(offer.id),
        "organization_id": str(ngo.id),
        "import_id": str(directory_import.id),
    }


@pytest.fixture
def url_map_app(database_url: str) -> Iterator[Flask]:
    """An app of the same configuration, to read its routes from."""
    app = create_app({**TEST_CONFIG, "DATABASE_URL": database_url})
    yield app
    get_engine(app).dispose()


def _openable(context: BrowserContext, base: str, pages: dict[str, str]) -> dict[str, str]:
    """The pages this account gets as HTML (not refused, not redirected elsewhere)."""
    found = {}
    for path, name in pages.items():
        response = context.request.get(f"{base}{path}", max_redirects=0)
        if response.status == 200 and response.headers.get("content-type", "").startswith("text/html"):
            found[path] = name
    return found


def _check_account(
    page: Page, base: str, pages: dict[str, str], language: str, who: str, screenshot_dir: Path
) -> dict[str, str]:
    too_wide = {}
    for path, name in pages.items():
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 200, (language, who, path)
        problem = page.evaluate(WIDEST)
        if problem:
            too_wide[f"{language} {who} {path}"] = problem
        page.screenshot(path=str(screenshot_dir / f"phone-{language}-{who}-{name}.png"), full_page=True)
    return too_wide


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_page_of_any_role_scrolls_sideways_on_a_phone_in_either_language(
    browser: Browser,
    live_server: str,
    url_map_app: Flask,
    records: dict[str, str],
    session: Session,
    screenshot_dir: Path,
) -> None:
    candidates = _candidates(url_map_app, records)
    short = {
        "person": records["person_id"],
        "need": records["need_id"],
        "offer": records["offer_id"],
    }
    too_wide: dict[str, str] = {}
    seen: dict[str, set[str]] = {}
    for language in LOCALES:
        # Signed-in pages follow the account's saved language, not the browser's.
        for user in session.exec(select(User)):
            user.locale = language
            session.add(user)
        session.commit()
        for account in ACCOUNTS:
            who = account.split("@")[0] if account else "anonymous"
            context = browser.new_context(locale=LOCALES[language], viewport=DESKTOP)
            context.set_default_timeout(15_000)
            page = context.new_page()
            if account is not None:
                _sign_in(page, live_server, account)  # on a desktop, where the sign-out button shows
            page.set_viewport_size(PHONE)
            pages = _openable(context, live_server, candidates)
            seen.setdefault(who, set()).update(pages)
            too_wide |= _check_account(page, live_server, pages, language, who, screenshot_dir)
            context.close()
    for who, required in MUST_SEE.items():
        assert {path.format(**short) for path in required} <= seen[who], who
    assert not too_wide, "pages that scroll sideways at 390 px:\n" + "\n".join(f"{k}: {v}" for k, v in too_wide.items())


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_menu_of_the_role_with_most_pages_fits_one_line_on_a_desktop(
    browser: Browser, live_server: str, session: Session, screenshot_dir: Path, language: str
) -> None:
    """The administrator's menu at 1280 px: one row of links; who is signed in and the way out sit
    in the header's top row beside the languages."""
    assert load_demo_data(session)
    context = browser.new_context(viewport=DESKTOP, locale=LOCALES[language])
    page = context.new_page()
    _sign_in(page, live_server, "admin@bridge.example")
    page.locator(f".lang-switch button[name=lang][value={language}]").click()
    tops = page.locator(".main-nav a").evaluate_all("links => links.map(link => link.getBoundingClientRect().top)")
    assert len(tops) >= 8 and len(set(tops)) == 1, tops
    header_row = page.locator(".header-row").bounding_box()
    sign_out = page.locator("form[action$='/auth/logout'] button").bounding_box()
    assert header_row and sign_out and sign_out["y"] < header_row["y"] + header_row["height"]
    page.screenshot(path=str(screenshot_dir / f"admin-menu-1280-{language}.png"))
    context.close()
