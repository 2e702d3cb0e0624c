"""A grid worker's day on a 390 × 844 phone, in both languages (issue 16): the visits, and a contact
recorded with the network cut, kept on the phone, sent once when the network returns and counted
once. Screenshots are saved for a person to look at."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session, select

from portal.demo import load_demo_data
from portal.models import ContactLog, Person
from tests.browser.test_accessibility_browser import LOCALES, VIEWPORTS, _serious_violations, _sign_in

pytestmark = pytest.mark.browser

WORDS = {
    "en": {"everyone": "Everyone in your grids", "record": "Record a contact", "kept": "1 contact is kept"},
    "zh": {"everyone": "您网格内的全部人员", "record": "记录联系", "kept": "1 条联系记录保存在本机"},
}


@pytest.fixture(params=["en", "zh"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def phone(browser: Browser, live_server: str, session: Session, language: str) -> Iterator[tuple[BrowserContext, Page]]:
    assert load_demo_data(session)
    context = browser.new_context(viewport=VIEWPORTS["phone"], locale=LOCALES[language])
    page = context.new_page()
    _sign_in(page, live_server, "grid@bridge.example")
    page.locator(f".lang-switch button[name=lang][value={language}]").click()
    yield context, page
    context.close()


def _fits_and_reads_well(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS["phone"]["width"]
    assert _serious_violations(page) == []


def _contacts(session: Session, person: Person, note: str) -> int:
    session.commit()
    return [
        contact.note for contact in session.exec(select(ContactLog).where(ContactLog.person_id == person.id))
    ].count(note)


def _record_offline(context: BrowserContext, page: Page, outcome: str, note: str) -> None:
    """On the open contact form: fill it in, cut the network, send it; the form says it is kept."""
    page.locator("#outcome").select_option(outcome)
    page.locator("#note").fill(note)
    context.set_offline(True)
    page.locator("form.grid-contact button[type=submit]").click()
    expect(page.locator("[data-kept]")).to_be_visible()


def test_a_contact_recorded_offline_is_sent_once_when_the_network_returns(
    phone: tuple[BrowserContext, Page], live_server: str, session: Session, language: str, screenshot_dir: Path
) -> None:
    context, page = phone
    words = WORDS[language]
    person = session.exec(select(Person).where(Person.code == "XA-2026-0004")).one()
    note = f"Visited at home, doing well ({language})"

    page.goto(f"{live_server}/grid/?show=all")
    expect(page.get_by_role("heading", level=1)).to_have_text(words["everyone"])
    card = page.locator(f"#person-{person.id}")
    expect(card).to_contain_text("XA-2026-0004")
    _fits_and_reads_well(page)
    page.screenshot(path=str(screenshot_dir / f"grid-visits-{language}-phone.png"), full_page=True)

    card.get_by_role("link", name=words["record"]).click()
    _record_offline(context, page, "reached", note)
    expect(page.locator("#waiting-contacts")).to_contain_text(words["kept"])
    _fits_and_reads_well(page)
    page.screenshot(path=str(screenshot_dir / f"grid-contact-offline-{language}-phone.png"), full_page=True)
    assert _contacts(session, person, note) == 0

    context.set_offline(False)
    expect(page.locator("#waiting-contacts")).to_be_hidden(timeout=10_000)
    assert _contacts(session, person, note) == 1
    page.goto(f"{live_server}/grid/")  # a later page sends again whatever still waits: nothing does
    expect(page.locator("#waiting-contacts")).to_be_hidden()
    assert _contacts(session, person, note) == 1
    page.screenshot(path=str(screenshot_dir / f"grid-contact-sent-{language}-phone.png"), full_page=True)


def test_signing_out_deletes_what_waits_on_the_phone(
    phone: tuple[BrowserContext, Page], live_server: str, session: Session
) -> None:
    context, page = phone
    person = session.exec(select(Person).where(Person.code == "XA-2026-0001")).one()
    page.goto(f"{live_server}/grid/contact?person={person.id}")
    _record_offline(context, page, "not_reached", "Nobody home")
    assert page.evaluate(KEPT) == 1
    # Signing out with a contact waiting asks first, then deletes it from the phone (the sign-out
    # itself needs the network, which is still down: the session stays, the contact does not).
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_event("requestfailed"):  # the sign-out, sent after the phone was emptied
        page.locator("form[action$='/auth/logout'] button").click()
    context.set_offline(False)
    later = context.new_page()
    later.goto(f"{live_server}/grid/")
    later.wait_for_load_state("load")  # the deferred scripts have run
    assert later.evaluate(KEPT) == 0
    assert _contacts(session, person, "Nobody home") == 0


KEPT = "idbKeyval.keys(idbKeyval.createStore('bridge-waiting-contacts', 'contacts')).then(keys => keys.length)"


def test_a_kept_contact_is_sent_even_when_the_pages_token_expired_meanwhile(
    phone: tuple[BrowserContext, Page], live_server: str, session: Session
) -> None:
    context, page = phone
    person = session.exec(select(Person).where(Person.code == "XA-2026-0004")).one()
    page.goto(f"{live_server}/grid/contact?person={person.id}")
    _record_offline(context, page, "reached", "Met at the market")
    # Hours offline: the page's token is no longer one the portal accepts.
    page.evaluate("document.querySelector('meta[name=csrf-token]').content = 'expired'")
    context.set_offline(False)
    expect(page.locator("#waiting-contacts")).to_be_hidden(timeout=10_000)
    assert _contacts(session, person, "Met at the market") == 1
