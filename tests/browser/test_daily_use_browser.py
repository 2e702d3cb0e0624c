"""In a real browser, on the demo data, in both languages and on a 390 × 844 phone: what providers
and caseworkers missed when they tried the portal (issue 15). A provider looks back on its
referrals and its figures, and is told what pausing an offer does to the people on it; a caseworker
reads a person's summary, jumps to a section, opens the consent form on request, and decides on a
match in one place, seeing which words matched. Screenshots are saved for a person to look at."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session, select

from portal.demo import load_demo_data
from portal.models import Need, Person
from tests.browser.test_accessibility_browser import LOCALES, VIEWPORTS, _serious_violations, _sign_in

pytestmark = pytest.mark.browser

WORDS = {
    "en": {"declined": "Declined", "history": "Referral history", "pause": "Pause", "keep": "Keep it as it is"},
    "zh": {"declined": "未接收", "history": "转介记录", "pause": "暂停", "keep": "保持不变"},
}


@pytest.fixture(params=["en", "zh"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def phone(browser: Browser, live_server: str, session: Session, language: str) -> Iterator[Page]:
    assert load_demo_data(session)
    context = browser.new_context(viewport=VIEWPORTS["phone"], locale=LOCALES[language])
    page = context.new_page()
    yield page
    context.close()


def _in_language(page: Page, language: str) -> None:
    page.locator(f".lang-switch button[name=lang][value={language}]").click()


def _fits_and_reads_well(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS["phone"]["width"]
    assert _serious_violations(page) == []


def test_a_provider_looks_back_and_is_told_what_pausing_does(
    phone: Page, live_server: str, language: str, screenshot_dir: Path
) -> None:
    page, words = phone, WORDS[language]
    _sign_in(page, live_server, "ngo@bridge.example")
    _in_language(page, language)
    page.goto(f"{live_server}/referrals/history")
    expect(page.get_by_role("heading", level=1)).to_have_text(words["history"])
    expect(page.locator("dl.summary-figures")).to_contain_text("4")  # referrals received
    page.locator("#state").select_option("declined")
    page.locator("form.filters button[type=submit]").click()
    expect(page.locator("#history tbody tr")).to_have_count(1)
    expect(page.locator("#history tbody")).to_contain_text("XA-2026-0007")
    expect(page.locator("#history tbody")).to_contain_text(words["declined"])
    _fits_and_reads_well(page)
    page.screenshot(path=str(screenshot_dir / f"provider-history-{language}-phone.png"), full_page=True)

    page.goto(f"{live_server}/offers/mine")
    page.get_by_role("link", name="职业指导与简历面试工作坊").click()
    page.get_by_role("button", name=words["pause"], exact=True).click()
    expect(page.locator("main")).to_contain_text("1")
    expect(page.get_by_role("link", name=words["keep"])).to_be_visible()
    _fits_and_reads_well(page)
    page.screenshot(path=str(screenshot_dir / f"offer-pause-warning-{language}-phone.png"), full_page=True)


def test_a_caseworker_reads_the_summary_and_decides_on_a_match_in_one_place(
    phone: Page, live_server: str, session: Session, language: str, screenshot_dir: Path
) -> None:
    page = phone
    person = session.exec(select(Person).where(Person.code == "XA-2026-0002")).one()
    need = session.exec(select(Need).where(Need.person_id == person.id, Need.category == "counselling")).one()
    _sign_in(page, live_server, "caseworker@bridge.example")
    _in_language(page, language)
    page.goto(f"{live_server}/people/{person.id}")
    summary = page.locator(".person-summary")
    expect(summary.locator("dd").first).to_have_text("2")  # open needs
    consent_form = page.locator("form.consent-form")
    expect(consent_form).to_be_hidden()
    summary.locator("a[href='#consents']").first.click()
    assert page.url.endswith("#consents")
    page.locator(".consent-add > summary").click()
    expect(consent_form).to_be_visible()
    _fits_and_reads_well(page)
    page.screenshot(path=str(screenshot_dir / f"person-summary-{language}-phone.png"))

    page.goto(f"{live_server}/matches/needs/{need.id}")
    card = page.locator(".match-item:has(.decide)").first  # the first is already referred
    expect(card.locator(".decide > details > summary")).to_have_count(2)
    expect(card.locator("textarea[name=summary]")).to_be_hidden()
    card.locator(".decide-approve > summary").click()
    expect(card.locator("textarea[name=summary]")).to_be_visible()
    expect(page.locator(".reasons").first).to_contain_text("“")  # the words that matched, quoted
    _fits_and_reads_well(page)
    page.screenshot(path=str(screenshot_dir / f"match-decide-{language}-phone.png"), full_page=True)
