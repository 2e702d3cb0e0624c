"""In a real browser: the idle warning two minutes before the time-out, and the caseload search,
which is POSTed as the caseworker types and never puts the name in the address bar."""

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from portal.models import Person, Role, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/auth/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_the_idle_warning_comes_two_minutes_early_and_keeps_the_session(
    page: Page, live_server: str, make_user: Callable[..., User]
) -> None:
    make_user(Role.CASEWORKER, email="cw@bridge.example")
    page.clock.install()
    sign_in(page, live_server, "cw@bridge.example")
    page.goto(f"{live_server}/notifications/")
    warning = page.get_by_role("alertdialog", name="Are you still there?")
    expect(warning).to_be_hidden()
    page.clock.run_for("12:50")
    expect(warning).to_be_hidden()
    page.clock.run_for("00:20")  # 13 minutes 10 seconds without activity
    expect(warning).to_be_visible()
    stay = warning.get_by_role("button", name="Stay signed in")
    expect(stay).to_be_focused()
    with page.expect_response(re.compile(r"/auth/keep-alive$")) as answer:
        stay.click()
    assert answer.value.status == 204
    expect(warning).to_be_hidden()
    page.clock.run_for("12:00")
    expect(warning).to_be_hidden()  # the keep-alive started the count again


def test_the_caseload_search_is_posted_as_you_type(
    page: Page, live_server: str, make_user: Callable[..., User], session: Session
) -> None:
    caseworker = make_user(Role.CASEWORKER, email="cw@bridge.example")
    session.add_all(
        [
            Person(code="XA-B-0001", full_name="Wang Fang", caseworker_id=caseworker.id),
            Person(code="XA-B-0002", full_name="Liu Qiang", caseworker_id=caseworker.id),
        ]
    )
    session.commit()
    sign_in(page, live_server, "cw@bridge.example")
    page.goto(f"{live_server}/people/")
    rows = page.locator("tr.person-row")
    expect(rows).to_have_count(2)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))
    page.get_by_label("Search").press_sequentially("wang", delay=20)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Wang Fang")
    assert any(line.startswith("POST ") and line.endswith("/people/") for line in requests)
    assert not any("wang" in line for line in requests) and "wang" not in page.url

    # Without JavaScript's help, the button submits the same POST form (CSRF token included).
    page.get_by_role("button", name="Search", exact=True).click()
    expect(rows).to_have_count(1)
    assert "wang" not in page.url
