"""Every main page of every role, on the demo data, checked by axe-core in both languages, on a
desktop and on a 390 × 844 phone: no serious or critical accessibility violation, no sideways
scrolling on the phone. Screenshots of each page are saved for a person to look at."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlmodel import Session, col, select

from portal.demo import load_demo_data
from portal.models import Need, Offer, Person, User

pytestmark = pytest.mark.browser

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
DEMO_PASSWORD = json.loads((Path(__file__).parents[2] / "portal" / "demo_data.json").read_text("utf-8"))["password"]
LOCALES = {"en": "en-GB", "zh": "zh-CN"}
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def _pages_by_account(session: Session) -> dict[str | None, list[str]]:
    """The main pages of each demo account (None: someone not signed in)."""
    caseworker = session.exec(select(User).where(User.email == "caseworker@bridge.example")).one()
    person = session.exec(
        select(Person).where(Person.caseworker_id == caseworker.id).order_by(col(Person.code))
    ).first()
    assert person is not None
    need = session.exec(select(Need).where(Need.person_id == person.id)).first()
    assert need is not None
    offer = session.exec(select(Offer).order_by(col(Offer.title))).first()
    assert offer is not None
    return {
        None: ["/auth/login", "/auth/signup", "/auth/signup/organization", "/auth/signup/volunteer"],
        "caseworker@bridge.example": [
            "/",
            "/people/",
            "/people/?contact=overdue",
            "/followups/",
            f"/people/{person.id}",
            f"/matches/needs/{need.id}",
            "/offers/",
            f"/offers/{offer.id}",
            "/notifications/",
            f"/people/{person.id}/export",
            "/auth/account",
        ],
        "supervisor@bridge.example": [
            "/",
            "/people/",
            "/followups/",
            "/organizations/",
            "/indicators",
            "/erasure-requests/",
            "/hours/confirm",
            "/hours/export",
            "/indicators/grids",
        ],
        "admin@bridge.example": [
            "/",
            "/users/",
            "/users/new",
            "/organizations/",
            "/notifications/outbox",
            "/indicators",
            "/audit/",
            "/erasure-requests/",
        ],
        "ngo@bridge.example": [
            "/",
            "/referrals/inbox",
            "/referrals/history",
            "/offers/mine",
            "/offers/new",
            "/offers/import",
        ],
        "volunteer@bridge.example": ["/", "/offers/mine", "/hours/", "/hours/new", "/hours/certificate"],
        "staff.chunhui@bridge.example": ["/", "/hours/confirm", "/hours/export"],
        "grid@bridge.example": ["/", "/grid/", "/grid/?show=all", f"/grid/contact?person={person.id}"],
        "specialist@bridge.example": ["/", "/programme/", f"/programme/person?person={person.id}"],
    }


@pytest.fixture
def demo_pages(live_server: str, session: Session) -> dict[str | None, list[str]]:
    assert load_demo_data(session)
    return _pages_by_account(session)


@pytest.fixture(params=list(LOCALES))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def localized_page(browser: Browser, language: str) -> Iterator[Page]:
    context = browser.new_context(locale=LOCALES[language], viewport=VIEWPORTS["desktop"])
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/auth/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("form.login button[type=submit], main form button[type=submit]").first.click()
    page.wait_for_selector("form[action$='/auth/logout']")


def _serious_violations(page: Page) -> list[str]:
    page.evaluate(AXE_SOURCE)
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    assert result["passes"], "axe checked nothing on this page"
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_main_pages_have_no_serious_accessibility_violations_and_fit_a_phone(
    localized_page: Page,
    live_server: str,
    demo_pages: dict[str | None, list[str]],
    language: str,
    screenshot_dir: Path,
) -> None:
    page = localized_page
    found: dict[str, list[str]] = {}
    too_wide: dict[str, int] = {}
    for account, paths in demo_pages.items():
        if account is not None:
            page.set_viewport_size(VIEWPORTS["desktop"])
            _sign_in(page, live_server, account)
        who = account.split("@")[0] if account else "anonymous"
        for path in paths:
            for name, viewport in VIEWPORTS.items():
                page.set_viewport_size(viewport)
                response = page.goto(f"{live_server}{path}")
                assert response is not None and response.status == 200, (who, path, response and response.status)
                problems = _serious_violations(page)
                if problems:
                    found[f"{who} {path} {name}"] = problems
                if name == "phone":
                    width = page.evaluate("document.documentElement.scrollWidth")
                    if width > viewport["width"]:
                        too_wide[f"{who} {path}"] = width
                slug = path.strip("/").replace("/", "-")[:40] or "home"
                page.screenshot(path=str(screenshot_dir / f"a11y-{language}-{who}-{slug}-{name}.png"), full_page=True)
        if account is not None:
            # On the grid pages signing out first empties the phone's waiting contacts, so the
            # next sign-in waits for the sign-out to have happened, not merely been clicked.
            page.locator("form[action$='/auth/logout'] button").click()
            page.wait_for_selector("input[name=email]")
    assert found == {}
    assert too_wide == {}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_check_itself_catches_a_button_without_a_name(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/auth/login")
    assert _serious_violations(page) == []
    page.evaluate("document.querySelector('main').append(document.createElement('button'))")
    assert any(problem.startswith("button-name") for problem in _serious_violations(page))
