"""In a real browser: one need walked from recording to a provider's acceptance.

A caseworker records a person, their need and their consent, approves the best-ranked offer; the provider sees
the referral under the person's code (never the name) and accepts it; the caseworker then sees
the acceptance among the referral's steps on the person's page.
"""

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from portal.clock import local_today
from portal.models import Area, Offer, OfferStatus, Organization, Role, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

PERSON_NAME = "王建国"
OFFER_TITLE = "仓库分拣员"
CASEWORKER = "Caseworker Zhang"
NEED_TEXT = "想找一份仓库的工作，做分拣或者打包都可以，白天上班。"
SUMMARY = "找仓库分拣或打包的白班工作。"
# Lianhu district, Xi'an: the offer and the person about 1 km apart.
OFFER_AT = (34.2650, 108.9300)
PERSON_AT = (34.2700, 108.9400)


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/auth/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def record_person(page: Page) -> str:
    """Fill the new-person form and save it; returns the person's page address."""
    today = local_today()
    page.get_by_role("link", name="People", exact=True).click()
    page.get_by_role("link", name="Add a person").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a person")
    page.get_by_label("Full name").fill(PERSON_NAME)
    page.get_by_label("Phone", exact=True).fill("138 0000 1234")
    page.get_by_label("Date of birth", exact=True).fill("1985-03-14")
    page.get_by_label("Gender").select_option(label="Male")
    page.get_by_label("Chinese").check()
    page.get_by_role("combobox", name="Community grid (网格)", exact=True).select_option(label="Lianhu")
    page.locator(".place-pin > summary").click()  # the exact place, folded under the grid and address
    page.get_by_label("Latitude").fill(str(PERSON_AT[0]))
    page.get_by_label("Longitude").fill(str(PERSON_AT[1]))
    page.get_by_label("How far they can travel (km)").fill("10")
    page.get_by_label("Weekday daytime").check()
    page.get_by_label("Programme", exact=True).select_option(label="Community rehabilitation")
    page.get_by_label("Programme start").fill((today - timedelta(days=200)).isoformat())
    page.get_by_label("Next contact due").fill((today + timedelta(days=14)).isoformat())
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PERSON_NAME)
    expect(page.get_by_text("is recorded on your caseload")).to_be_visible()
    return page.url


def add_need(page: Page) -> None:
    """The needs form posts through htmx and swaps the needs section in place."""
    needs = page.locator("#needs")
    needs.get_by_label("Category").select_option(label="Employment")
    needs.get_by_label("Urgency").select_option(label="Urgent")
    needs.get_by_label("What the person needs").fill(NEED_TEXT)
    needs.get_by_role("button", name="Add need").click()
    expect(needs.get_by_role("status")).to_have_text("Need added.")
    expect(needs.locator(".need-item")).to_have_count(1)
    expect(needs.locator(".need-item")).to_contain_text(NEED_TEXT)


def give_consent(page: Page, organization: str) -> None:
    """The person consents to the organization seeing their need, for employment (posted through htmx)."""
    consents = page.locator("#consents")
    consents.locator(".consent-add > summary").click()  # the form opens on request
    consents.get_by_label("Recipient").select_option(label=f"{organization} (NGO)")
    consents.get_by_label("Purpose").select_option(label="Employment")
    consents.get_by_label("Needs: what the person needs help with", exact=False).check()
    consents.get_by_label("How it was given").select_option(label="Signed on screen")
    consents.get_by_label("Or until this event").select_option(label="The end of the programme")
    consents.get_by_label("Signature (paper form number or on-screen signature id)").fill("SIG-2026-0001")
    consents.get_by_role("button", name="Record consent").click()
    expect(consents.get_by_role("status")).to_have_text("Consent recorded.")
    expect(consents.locator(".consent-list li")).to_contain_text("In force")


def test_a_need_goes_from_recording_to_the_providers_acceptance(
    page: Page,
    live_server: str,
    session: Session,
    make_user: Callable[..., User],
    make_organization: Callable[..., Organization],
    make_offer: Callable[..., Offer],
    screenshot_dir: Path,
    database_url: str,
) -> None:
    db = "pg" if database_url.startswith("postgresql") else "sqlite"
    area = Area(level="district", name_en="Lianhu", name_zh="莲湖区", code="LH")
    session.add(area)
    session.commit()
    ngo = make_organization(name="西安阳光就业服务中心")
    provider = make_user(Role.PROVIDER, organization=ngo, email="ngo@bridge.example", name="Provider Li")
    make_offer(
        provider,
        category="employment",
        title=OFFER_TITLE,
        description="物流园仓库招聘分拣员，负责货物分拣、打包和搬运，白天上班，欢迎康复人员。",
        languages=["zh"],
        schedule=["weekday_day"],
        capacity=2,
        status=OfferStatus.OPEN,
        area_id=area.id,
        latitude=OFFER_AT[0],
        longitude=OFFER_AT[1],
    )
    make_user(Role.CASEWORKER, email="cw@bridge.example", name=CASEWORKER, area_id=area.id)

    # The caseworker records the person and their need, and approves the best match.
    sign_in(page, live_server, "cw@bridge.example")
    person_url = record_person(page)
    code = page.locator(".person-detail .offer-meta .tag").first.inner_text()
    assert code.startswith("XA")
    add_need(page)
    give_consent(page, ngo.name)
    page.screenshot(path=str(screenshot_dir / f"workflow-person-{db}.png"), full_page=True)

    page.locator("#needs").get_by_role("link", name="See matching offers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(r"^Matching offers for this need\s+Employment$")
    )
    match = page.locator(".match-item").filter(has_text=OFFER_TITLE)
    expect(page.locator(".match-item").first).to_contain_text(OFFER_TITLE)
    expect(match.get_by_text("Same category: Employment")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / f"workflow-matches-{db}.png"), full_page=True)
    match.locator(".decide-approve > summary").click()  # one place to decide: approve opens its form
    match.get_by_label("Summary for the provider").fill(SUMMARY)
    match.get_by_role("button", name="Approve referral").click()
    expect(page.get_by_role("status")).to_have_text("Referral sent to the provider.")
    expect(match.get_by_text("Sent to provider")).to_be_visible()
    sign_out(page)

    # The provider sees the person's code and the caseworker's summary, never the name nor the
    # caseworker's own description of the need, and accepts.
    sign_in(page, live_server, "ngo@bridge.example")
    page.get_by_role("link", name="Referrals", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Referrals to your offers")
    referral = page.locator("#inbox li.card").filter(has_text=OFFER_TITLE)
    expect(referral.get_by_role("heading")).to_have_text(f"{code} · {OFFER_TITLE}")
    expect(referral).to_contain_text(SUMMARY)
    expect(page.get_by_text(PERSON_NAME)).to_have_count(0)
    expect(page.get_by_text(NEED_TEXT)).to_have_count(0)
    page.screenshot(path=str(screenshot_dir / f"workflow-inbox-{db}.png"), full_page=True)
    referral.get_by_role("button", name="Accept", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(f"Referral to {OFFER_TITLE} accepted.")
    expect(referral.locator(".status")).to_have_text("Accepted")
    page.screenshot(path=str(screenshot_dir / f"workflow-accepted-{db}.png"), full_page=True)
    sign_out(page)

    # Back on the person's page, the caseworker sees every step up to the acceptance.
    sign_in(page, live_server, "cw@bridge.example")
    page.goto(person_url)
    timeline = page.locator("#referrals li.card").filter(has_text=OFFER_TITLE)
    expect(timeline.locator("p .status")).to_have_text("Accepted")
    steps = [f"Proposed · {CASEWORKER}", f"Approved · {CASEWORKER}", f"Sent to provider · {CASEWORKER}"]
    steps.append("Accepted · Provider Li")  # each step says who took it
    expect(timeline.locator(".steps li")).to_have_text([re.compile(rf"· {step}$") for step in steps])
    page.screenshot(path=str(screenshot_dir / f"workflow-timeline-{db}.png"), full_page=True)
