"""In a real browser, in English and in Chinese: the whole programme in one walk, across every role.

An NGO and an employer sign up; an administrator verifies them; the NGO posts a counselling service and the
employer a job. A caseworker records a person with two needs and their consent, reads the ranked matches and
their reasons, and approves the counselling service. The NGO accepts the referral, starts it and records its
outcome (the product leaves the outcome to the provider: "complete" is a provider action); the caseworker sees
that outcome among the referral's steps. The supervisor's indicators, read before and after, move accordingly.
Only the accounts that have no sign-up (administrator, caseworker, supervisor) and the area are made directly.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from portal.clock import local_today
from portal.models import Area, Role, User
from tests.conftest import ORGANIZATION_PAPERS, PASSWORD

pytestmark = pytest.mark.browser

LOCALES = {"en": "en-GB", "zh": "zh-CN"}
NGO = {"en": "Sunrise Counselling Centre", "zh": "阳光心理咨询中心"}
EMPLOYER = {"en": "Lianhu Logistics", "zh": "莲湖物流园"}
SERVICE = {"en": "Weekly counselling for people in recovery", "zh": "康复人员每周心理咨询"}
JOB = {"en": "Warehouse sorter", "zh": "仓库分拣员"}
PERSON = {"en": "Wang Jianguo", "zh": "王建国"}
# Lianhu district, Xi'an: both offers about 1 km from the person.
OFFER_AT = (34.2650, 108.9300)
PERSON_AT = (34.2700, 108.9400)

# What the page says, in each language (from the catalogue): checking these also checks the translation.
TEXT = {
    "en": {
        "sign_up_welcome": "An administrator will verify your organization",
        "verified": "Verified",
        "new_offer": "New offer",
        "draft_saved": "Offer saved as a draft. Publish it when it is ready.",
        "open": "Open",
        "recorded": "is recorded on your caseload.",
        "need_added": "Need added.",
        "consent_recorded": "Consent recorded.",
        "in_force": "In force",
        "ngo": "NGO",
        "employment": "Employment",
        "counselling": "Counselling",
        "same_category": "Same category: {}",
        "sent": "Sent to provider",
        "referral_sent": "Referral sent to the provider.",
        "referrals": "Referrals",
        "step_accept": "Referral to {offer} accepted.",
        "step_start": "Service at {offer} marked as started.",
        "step_complete": "Outcome at {offer} recorded: Got the help.",
        "accepted": "Accepted",
        "in_progress": "In progress",
        "completed": "Completed",
        "got_help": "Got the help",
        "steps": ["Proposed", "Approved", "Sent to provider", "Accepted", "In progress", "Completed · Got the help"],
        "indicators": "Programme indicators",
    },
    "zh": {
        "sign_up_welcome": "管理员将对您的机构进行认证",
        "verified": "已认证",
        "new_offer": "新建资源",
        "draft_saved": "资源已保存为草稿。准备好后即可发布。",
        "open": "开放中",
        "recorded": "已登记到您的个案名单。",
        "need_added": "需求已添加。",
        "consent_recorded": "已登记同意。",
        "in_force": "有效",
        "ngo": "社会组织",
        "employment": "就业",
        "counselling": "心理咨询",
        "same_category": "类别相同：{}",
        "sent": "已发送至服务机构",
        "referral_sent": "转介已发送至服务机构。",
        "referrals": "转介",
        "step_accept": "转介至“{offer}”已接受。",
        "step_start": "“{offer}”的服务已标记为开始。",
        "step_complete": "“{offer}”的结果已记录：已获得帮助。",
        "accepted": "已接收",
        "in_progress": "服务中",
        "completed": "已完成",
        "got_help": "已获得帮助",
        "steps": ["已提议", "已批准", "已发送至服务机构", "已接收", "服务中", "已完成 · 已获得帮助"],
        "indicators": "项目指标",
    },
}


@pytest.fixture(params=list(LOCALES))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def localized_page(browser: Browser, language: str) -> Iterator[Page]:
    """A browser that prefers the test's language; no account has a saved language, so the pages follow it."""
    context = browser.new_context(locale=LOCALES[language], viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/auth/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("form[action$='/auth/logout'] button")).to_be_visible()


def sign_out(page: Page) -> None:
    page.locator("form[action$='/auth/logout'] button").click()
    expect(page.locator("input[name=email]")).to_be_visible()


def sign_up_organization(page: Page, base: str, text: dict, name: str, kind: str, email: str) -> None:
    page.goto(f"{base}/auth/signup/organization")
    page.locator("input[name=organization_name]").fill(name)
    page.locator("select[name=kind]").select_option(kind)
    page.locator("input[name=name]").fill(f"{name} staff")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    for field, value in ORGANIZATION_PAPERS.items():
        page.locator(f"input[name={field}]").fill(value)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_role("status").filter(has_text=text["sign_up_welcome"])).to_be_visible()


def step_pattern(step: str, actor: str) -> re.Pattern[str]:
    """A timeline step as the page writes it: when · status · who [· reason]."""
    status, _, reason = step.partition(" · ")
    return re.compile(
        rf"· {re.escape(status)} · {re.escape(actor)}" + (rf" · {re.escape(reason)}" if reason else "") + "$"
    )


def post_offer(page: Page, text: dict, fields: dict[str, str], area: str, employment_type: str | None) -> None:
    """Fill the new-offer form, save the draft, publish it."""
    page.get_by_role("link", name=text["new_offer"], exact=True).click()
    page.locator("select[name=category]").select_option(fields["category"])
    page.locator("input[name=title]").fill(fields["title"])
    page.locator("textarea[name=description]").fill(fields["description"])
    page.locator("input[name=languages][value=zh]").check()
    page.locator("input[name=capacity]").fill("3")
    page.locator("select[name=area_id]").select_option(label=area)
    page.locator(".place-pin > summary").click()  # the exact place, folded under the grid and address
    page.locator("input[name=latitude]").fill(str(OFFER_AT[0]))
    page.locator("input[name=longitude]").fill(str(OFFER_AT[1]))
    page.locator("input[name=schedule][value=weekday_day]").check()
    if employment_type:
        page.locator("select[name=employment_type]").select_option(employment_type)
        page.locator("textarea[name=fair_chance_statement]").fill(fields["fair_chance_statement"])
    page.locator("form.offer-form button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(fields["title"])
    expect(page.get_by_text(text["draft_saved"])).to_be_visible()
    page.locator("button[name=action][value=publish]").click()
    expect(page.locator(".offer-meta .status-open")).to_have_text(text["open"])


@dataclass(frozen=True)
class Figures:
    people_active: int
    needs: dict[str, int]
    referrals: dict[str, int]


@pytest.fixture
def live_server_settings() -> dict[str, Any]:
    """The walk follows one person, so every change it checks on the indicators is a count of one:
    small-cell suppression is off here (it is tested in tests/portal/test_indicators_suppression.py).
    It reads the figures before and after within a minute, so it asks for figures computed at each
    view; the stated freshness is tested in tests/portal/test_indicators_snapshots.py."""
    return {"SMALL_CELL_THRESHOLD": 1, "INDICATORS_FRESH_MINUTES": 0}


def read_indicators(page: Page) -> Figures:
    """The figures on the dashboard as a reader sees them: people active, and two tables by label."""

    def table(section: str) -> dict[str, int]:
        rows = page.locator(f"section[aria-labelledby={section}] tbody tr")
        return {
            rows.nth(i).locator("th").inner_text(): int(rows.nth(i).locator("td").inner_text())
            for i in range(rows.count())
        }

    return Figures(
        people_active=int(page.locator("section[aria-labelledby=ind-active] .stat-number").inner_text()),
        needs=table("ind-needs"),
        referrals=table("ind-referrals"),
    )


def changes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The rows whose count changed, by how much."""
    return {row: after[row] - before[row] for row in after if after[row] != before[row]}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_whole_programme_in_one_walk_across_roles(
    localized_page: Page,
    language: str,
    live_server: str,
    session: Session,
    make_user: Callable[..., User],
    screenshot_dir: Path,
) -> None:
    page, text, base = localized_page, TEXT[language], live_server

    def shot(step: str) -> None:
        page.screenshot(path=str(screenshot_dir / f"scenario-{language}-{step}.png"), full_page=True)

    area = Area(level="district", name_en="Lianhu", name_zh="莲湖区", code="LH")
    session.add(area)
    session.commit()
    area_name = area.name(language)
    make_user(Role.ADMIN, email="admin@bridge.example", name="Admin")
    make_user(Role.CASEWORKER, email="cw@bridge.example", name="Caseworker Zhang", area_id=area.id)
    make_user(Role.SUPERVISOR, email="sup@bridge.example", name="Supervisor Liu", area_id=area.id)

    # The supervisor reads the indicators before any work.
    sign_in(page, base, "sup@bridge.example")
    page.goto(f"{base}/indicators")
    expect(page.get_by_role("heading", level=1)).to_have_text(text["indicators"])
    before = read_indicators(page)
    shot("01-indicators-before")
    sign_out(page)

    # An NGO and an employer sign up; the administrator verifies both.
    sign_up_organization(page, base, text, NGO[language], "ngo", "ngo@bridge.example")
    shot("02-ngo-signed-up")
    sign_up_organization(page, base, text, EMPLOYER[language], "employer", "jobs@bridge.example")
    sign_in(page, base, "admin@bridge.example")
    for name in (NGO[language], EMPLOYER[language]):
        page.goto(f"{base}/organizations/")
        page.get_by_role("link", name=name, exact=True).click()
        page.locator("form[action$='/verify'] button").click()
        expect(page.locator(".offer-meta .status")).to_have_text(text["verified"])
    shot("03-organization-verified")
    page.goto(f"{base}/organizations/")
    expect(page.locator("tbody .status-verified")).to_have_count(2)
    shot("04-organizations")
    sign_out(page)

    # The NGO posts a counselling service, the employer a job.
    sign_in(page, base, "ngo@bridge.example")
    service = {
        "category": "counselling",
        "title": SERVICE[language],
        "description": "每周二上午，为康复人员提供一对一心理咨询。 One-to-one counselling on Tuesday mornings.",
    }
    post_offer(page, text, service, area_name, None)
    shot("05-service-posted")
    sign_out(page)
    sign_in(page, base, "jobs@bridge.example")
    job = {
        "category": "employment",
        "title": JOB[language],
        "description": "物流园仓库招聘分拣员，白天上班，欢迎康复人员。 Sorting parcels, day shifts, fair chance.",
        "fair_chance_statement": "不因既往吸毒经历拒绝录用。 We do not ask about drug history.",
    }
    post_offer(page, text, job, area_name, "full_time")
    shot("06-job-posted")
    sign_out(page)

    # The caseworker records a person, two needs and the person's consent to the NGO.
    today = local_today()
    sign_in(page, base, "cw@bridge.example")
    page.goto(f"{base}/people/new")
    page.locator("input[name=full_name]").fill(PERSON[language])
    page.locator("input[name=phone]").fill("138 0000 1234")
    page.locator("input[name=birth_date]").fill("1985-03-14")
    page.locator("select[name=gender]").select_option("male")
    page.locator("input[name=languages][value=zh]").check()
    page.locator("select[name=area_id]").select_option(label=area_name)
    page.locator(".place-pin > summary").click()  # the exact place, folded under the grid and address
    page.locator("input[name=latitude]").fill(str(PERSON_AT[0]))
    page.locator("input[name=longitude]").fill(str(PERSON_AT[1]))
    page.locator("input[name=max_travel_km]").fill("10")
    page.locator("input[name=availability][value=weekday_day]").check()
    page.locator("select[name=programme]").select_option("community_rehab")
    page.locator("input[name=programme_start]").fill((today - timedelta(days=200)).isoformat())
    page.locator("input[name=next_contact_due]").fill((today + timedelta(days=14)).isoformat())
    page.locator("main form button[type=submit]").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PERSON[language])
    expect(page.get_by_text(text["recorded"])).to_be_visible()
    person_url = page.url

    needs = page.locator("#needs")
    for count, (category, description) in enumerate(
        [
            ("employment", "想找一份白天的仓库工作。 A day job in a warehouse."),
            ("counselling", "希望每周有人谈谈心，帮助保持操守。 Someone to talk to each week."),
        ],
        start=1,
    ):
        needs.locator("select[name=category]").select_option(category)
        needs.locator("select[name=urgency]").select_option("3")
        needs.locator("textarea[name=description]").fill(description)
        needs.locator("form:has(textarea[name=description]) button[type=submit]").click()
        expect(needs.get_by_role("status")).to_have_text(text["need_added"])
        expect(needs.locator(".need-item")).to_have_count(count)

    consents = page.locator("#consents")
    consents.locator(".consent-add > summary").click()  # the form opens on request
    consents.locator("select[name=recipient]").select_option(label=f"{NGO[language]} ({text['ngo']})")
    consents.locator("select[name=purpose]").select_option("referral")
    consents.locator("input[name=data_categories][value=needs]").check()
    consents.locator("select[name=method]").select_option("signed_on_screen")
    consents.locator("select[name=expiry_event]").select_option("programme_end")
    consents.locator("input[name=signature_ref]").fill("SIG-2026-0001")
    consents.locator("form.consent-form button[type=submit]").click()
    expect(consents.get_by_role("status")).to_have_text(text["consent_recorded"])
    expect(consents.locator(".consent-list li")).to_contain_text(text["in_force"])
    shot("07-person")

    # Ranked matches with their reasons: the job for the employment need, the service for counselling.
    matches_link = "a[href*='/matches/needs/']"
    needs.locator(".need-item").filter(has_text=text["employment"]).locator(matches_link).click()
    expect(page.locator(".match-item").first).to_contain_text(JOB[language])
    expect(page.locator(".match-item").first.locator(".reasons")).to_contain_text(
        text["same_category"].format(text["employment"])
    )
    shot("08-job-matches")
    page.goto(person_url)
    needs.locator(".need-item").filter(has_text=text["counselling"]).locator(matches_link).click()
    match = page.locator(".match-item").filter(has_text=SERVICE[language])
    expect(page.locator(".match-item").first).to_contain_text(SERVICE[language])
    expect(match.locator(".reasons")).to_contain_text(text["same_category"].format(text["counselling"]))
    shot("09-counselling-matches")
    match.locator(".decide-approve > summary").click()
    match.locator("form[action$='/approve'] button").click()
    expect(page.get_by_role("status")).to_have_text(text["referral_sent"])
    expect(match.get_by_text(text["sent"])).to_be_visible()
    shot("10-approved")
    code = page.locator("main p.muted a").first.inner_text().split(" · ")[0]
    sign_out(page)

    # The NGO sees the person by code only, accepts, starts and records the outcome.
    sign_in(page, base, "ngo@bridge.example")
    page.get_by_role("link", name=text["referrals"], exact=True).click()
    referral = page.locator("#inbox li.card").filter(has_text=SERVICE[language])
    expect(referral.get_by_role("heading")).to_have_text(f"{code} · {SERVICE[language]}")
    expect(page.get_by_text(PERSON[language])).to_have_count(0)
    shot("11-inbox")
    for action, status in (("accept", "accepted"), ("start", "in_progress")):
        referral.locator(f"form:has(input[name=action][value={action}]) button").click()
        expect(page.get_by_role("status")).to_have_text(text[f"step_{action}"].format(offer=SERVICE[language]))
        expect(referral.locator(".status")).to_have_text(text[status])
    outcome = referral.locator("form:has(input[name=action][value=complete])")
    outcome.locator("select[name=reason]").select_option("got_help")
    outcome.locator("button").click()
    expect(page.get_by_role("status")).to_have_text(text["step_complete"].format(offer=SERVICE[language]))
    expect(referral).to_have_count(0)  # the inbox keeps only the referrals still to act on
    shot("12-outcome-recorded")
    sign_out(page)

    # The caseworker sees every step, the provider's outcome last.
    sign_in(page, base, "cw@bridge.example")
    page.goto(person_url)
    timeline = page.locator("#referrals li.card").filter(has_text=SERVICE[language])
    expect(timeline.locator("p .status")).to_have_text(text["completed"])
    # Each step says who took it: the caseworker the first three, the NGO's staff the rest.
    actors = ["Caseworker Zhang"] * 3 + [f"{NGO[language]} staff"] * 3
    expect(timeline.locator(".steps li")).to_have_text(
        [step_pattern(step, actor) for step, actor in zip(text["steps"], actors, strict=True)]
    )
    shot("13-timeline")
    sign_out(page)

    # The supervisor's indicators moved: one more person, two needs, one completed referral.
    sign_in(page, base, "sup@bridge.example")
    page.goto(f"{base}/indicators")
    after = read_indicators(page)
    shot("14-indicators-after")
    assert after.people_active == before.people_active + 1
    assert changes(before.needs, after.needs) == {text["employment"]: 1, text["counselling"]: 1}
    assert changes(before.referrals, after.referrals) == {text["completed"]: 1}
    expect(page.locator("section[aria-labelledby=ind-completion] tbody")).to_contain_text(NGO[language])
