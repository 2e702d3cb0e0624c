"""In a real browser: a provider signs in and posts an offer; a caseworker finds it as they type."""

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.models import Organization, Role, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/auth/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_provider_signs_in_and_creates_an_offer_that_a_caseworker_finds(
    page: Page,
    live_server: str,
    make_user: Callable[..., User],
    make_organization: Callable[..., Organization],
    screenshot_dir: Path,
    database_url: str,
) -> None:
    db = "pg" if database_url.startswith("postgresql") else "sqlite"
    ngo = make_organization(name="阳光社工服务中心")
    make_user(Role.PROVIDER, organization=ngo, email="ngo@bridge.example")
    make_user(Role.CASEWORKER, email="cw@bridge.example")

    sign_in(page, live_server, "ngo@bridge.example")
    page.get_by_role("link", name="New offer", exact=True).click()
    page.get_by_label("Category").select_option("counselling")
    page.get_by_label("Title").fill("家庭心理咨询 Family counselling")
    page.get_by_label("Description").fill("每周二晚上，为康复人员及其家属提供心理咨询。")
    page.get_by_label("Chinese").check()
    page.get_by_label("Weekday evenings").check()
    page.get_by_label("Places open").fill("4")
    page.screenshot(path=str(screenshot_dir / f"offer-form-{db}.png"), full_page=True)
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("家庭心理咨询 Family counselling")
    expect(page.get_by_text("Offer saved as a draft")).to_be_visible()
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".offer-meta .status-open")).to_have_text("Open")
    page.screenshot(path=str(screenshot_dir / f"offer-detail-{db}.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server, "cw@bridge.example")
    page.get_by_role("link", name="Directory", exact=True).click()
    expect(page.locator(".offer-title")).to_have_count(1)
    page.get_by_label("Search").press_sequentially("nothing like this", delay=20)
    expect(page.get_by_text("No offers match")).to_be_visible()
    page.get_by_label("Search").fill("")
    page.get_by_label("Search").press_sequentially("心理", delay=20)
    expect(page.locator(".offer-title")).to_have_text(["家庭心理咨询 Family counselling"])
    assert "q=" in page.url  # the search is in the address bar, so it can be shared and reloaded
    page.screenshot(path=str(screenshot_dir / f"directory-{db}.png"), full_page=True)


def test_the_interface_switches_to_chinese(
    page: Page, live_server: str, make_user: Callable[..., User], screenshot_dir: Path
) -> None:
    make_user(Role.CASEWORKER, email="cw@bridge.example")
    sign_in(page, live_server, "cw@bridge.example")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans-CN")
    expect(page.get_by_role("link", name="资源目录", exact=True)).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="资源目录", exact=True).click()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 390
    page.screenshot(path=str(screenshot_dir / "directory-zh-phone.png"), full_page=True)
