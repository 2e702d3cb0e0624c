"""In a real browser, on the demo data, in both languages and on a 390 × 844 phone: the rest of
what issue 15 asked for, one role at a time. A volunteer logs hours, the volunteer group confirms
them, and the volunteer prints the certificate; an NGO imports its offers from the template; an
admin reads the papers an organization signed up with, and the volunteers' hours in the indicators.
Each page is checked for sideways scrolling and by axe-core, and photographed."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from portal.demo import load_demo_data
from tests.browser.test_accessibility_browser import LOCALES, VIEWPORTS, _serious_violations, _sign_in

pytestmark = pytest.mark.browser

WORDS = {
    "en": {
        "log": "Log hours",
        "logged": "1.5 hours logged.",
        "confirm": "Confirm",
        "confirmed": "1.5 hours confirmed.",
        "certificate": "Certificate of volunteer service",
        "total": "6.5 hours",
        "check": "Check the file",
        "imported": "1 new (drafts)",
        "credit": "Unified social credit code",
        "hours_indicator": "Volunteer hours confirmed",
    },
    "zh": {
        "log": "登记时长",
        "logged": "已登记 1.5 小时",
        "confirm": "确认",
        "confirmed": "已确认 1.5 小时。",
        "certificate": "志愿服务证明",
        "total": "共 6.5 小时",
        "check": "检查文件",
        "imported": "新增 1 项",
        "credit": "统一社会信用代码",
        "hours_indicator": "已确认的志愿服务时长",
    },
}

Phone = Callable[[str], Page]


@pytest.fixture(params=["en", "zh"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def phone_as(browser: Browser, live_server: str, session: Session, language: str) -> Iterator[Phone]:
    """A phone signed in as a demo account, reading the portal in the test's language."""
    assert load_demo_data(session)
    contexts = []

    def open_as(email: str) -> Page:
        context = browser.new_context(viewport=VIEWPORTS["phone"], locale=LOCALES[language])
        contexts.append(context)
        page = context.new_page()
        _sign_in(page, live_server, email)
        page.locator(f".lang-switch button[name=lang][value={language}]").click()
        return page

    yield open_as
    for context in contexts:
        context.close()


def _fits_and_reads_well(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS["phone"]["width"]
    assert _serious_violations(page) == []


def test_a_volunteer_logs_hours_the_group_confirms_them_and_the_certificate_counts_them(
    phone_as: Phone, live_server: str, language: str, screenshot_dir: Path
) -> None:
    words = WORDS[language]
    volunteer = phone_as("volunteer@bridge.example")
    volunteer.locator(f"a[href='{'/hours/new'}']").first.click()
    expect(volunteer.get_by_role("heading", level=1)).to_have_text(words["log"])
    volunteer.locator("#hours").fill("1.5")
    volunteer.locator("#kind").select_option("tutoring")
    volunteer.locator("#description").fill("Homework club at the community centre")
    # The volunteer's organization of last time is chosen already.
    expect(volunteer.locator("#served option:checked")).to_have_text("春晖志愿服务队")
    _fits_and_reads_well(volunteer)
    volunteer.screenshot(path=str(screenshot_dir / f"hours-log-{language}-phone.png"), full_page=True)
    volunteer.locator("main form button[type=submit]").click()
    expect(volunteer.locator(".flashes")).to_contain_text(words["logged"])
    _fits_and_reads_well(volunteer)
    volunteer.screenshot(path=str(screenshot_dir / f"hours-list-{language}-phone.png"), full_page=True)

    staff = phone_as("staff.chunhui@bridge.example")
    staff.locator("a[href='/hours/confirm']").first.click()
    card = staff.locator("li.card", has_text="Homework club at the community centre")
    expect(card).to_contain_text("周婷")
    _fits_and_reads_well(staff)
    staff.screenshot(path=str(screenshot_dir / f"hours-confirm-{language}-phone.png"), full_page=True)
    card.get_by_role("button", name=words["confirm"], exact=True).click()
    expect(staff.locator(".flashes")).to_contain_text(words["confirmed"])
    staff.goto(f"{live_server}/hours/export")
    expect(staff.locator("tbody")).to_contain_text("6.5")
    _fits_and_reads_well(staff)
    staff.screenshot(path=str(screenshot_dir / f"hours-export-{language}-phone.png"), full_page=True)

    volunteer.goto(f"{live_server}/")
    expect(volunteer.locator("dl.summary-figures")).to_contain_text("6.5")
    volunteer.goto(f"{live_server}/hours/certificate?start=2000-01-01")
    expect(volunteer.get_by_role("heading", level=1)).to_have_text(words["certificate"])
    expect(volunteer.locator(".certificate-total")).to_contain_text(words["total"])
    _fits_and_reads_well(volunteer)
    volunteer.screenshot(path=str(screenshot_dir / f"hours-certificate-{language}-phone.png"), full_page=True)


def test_an_ngo_imports_its_offers_from_the_template(
    phone_as: Phone, live_server: str, language: str, screenshot_dir: Path, tmp_path: Path
) -> None:
    words = WORDS[language]
    page = phone_as("ngo@bridge.example")
    page.goto(f"{live_server}/offers/import")
    template = page.request.get(f"{live_server}/offers/import/template?format=csv&lang={language}")
    assert template.ok
    upload = tmp_path / "offers.csv"
    upload.write_bytes(template.body())
    page.locator("#file").set_input_files(str(upload))
    page.get_by_role("button", name=words["check"]).click()
    expect(page.locator("main table tbody tr")).to_have_count(1)  # the example row
    _fits_and_reads_well(page)
    page.screenshot(path=str(screenshot_dir / f"offers-import-check-{language}-phone.png"), full_page=True)
    page.locator("main form button.primary").click()
    expect(page.locator(".flashes")).to_contain_text(words["imported"])
    page.screenshot(path=str(screenshot_dir / f"offers-imported-{language}-phone.png"), full_page=True)


def test_an_admin_reads_the_papers_and_the_volunteer_hours_in_the_indicators(
    phone_as: Phone, live_server: str, language: str, screenshot_dir: Path
) -> None:
    words = WORDS[language]
    admin = phone_as("admin@bridge.example")
    admin.goto(f"{live_server}/organizations/")
    admin.get_by_role("link", name="曙光心理健康公益服务中心").first.click()
    expect(admin.locator("main")).to_contain_text(words["credit"])
    _fits_and_reads_well(admin)
    admin.screenshot(path=str(screenshot_dir / f"organization-papers-{language}-phone.png"), full_page=True)

    admin.goto(f"{live_server}/indicators?period=90")
    figure = admin.locator("section:has(#ind-volunteer-hours)")
    expect(figure.locator("h2")).to_have_text(words["hours_indicator"])
    expect(figure.locator(".stat-number")).to_have_text("5")  # the demo's two confirmed activities
    _fits_and_reads_well(admin)
    figure.scroll_into_view_if_needed()
    admin.screenshot(path=str(screenshot_dir / f"indicators-volunteer-hours-{language}-phone.png"))
