"""In a real browser: a supervisor reads the indicators, filters them with htmx, on a desktop and a phone."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from portal.demo import load_demo_data
from portal.models import User
from tests.browser.test_workflow_browser import sign_in
from tests.conftest import PASSWORD_HASH
from tests.portal.test_indicators import simulate_casework

pytestmark = pytest.mark.browser


def test_a_supervisor_filters_the_indicators_and_reads_them_on_a_phone(
    page: Page, live_server: str, session: Session, screenshot_dir: Path, database_url: str
) -> None:
    assert load_demo_data(session)
    simulate_casework(session)
    supervisor = session.exec(select(User).where(User.email == "supervisor@bridge.example")).one()
    supervisor.password_hash, supervisor.locale = PASSWORD_HASH, "en"
    session.add(supervisor)
    session.commit()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    db = "postgresql" if database_url.startswith("postgresql") else "sqlite"

    sign_in(page, live_server, supervisor.email)
    page.get_by_role("link", name="Indicators").first.click()
    expect(page.get_by_role("heading", name="Programme indicators")).to_be_visible()
    expect(page.get_by_role("img", name="Needs by category")).to_be_visible()

    # htmx swaps the dashboard and updates the address. (Before any screenshot: Playwright leaves an
    # empty style attribute behind that htmx would copy, which the CSP rightly reports.)
    page.get_by_label("Period", exact=True).select_option("365")
    expect(page).to_have_url(f"{live_server}/indicators?area={supervisor.area_id}&period=365&start=&end=")
    expect(page.get_by_label("Period", exact=True)).to_have_value("365")
    assert not [text for text in console if "Content Security Policy" in text], console
    page.screenshot(path=str(screenshot_dir / f"indicators-{db}.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_role("img", name="People active")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(screenshot_dir / f"indicators-phone-{db}.png"), full_page=True)
