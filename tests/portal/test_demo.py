"""The demo data set: loads once, shows every part of the portal, and follows the portal's own rules."""

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlmodel import Session, select
from stdnum.cn import uscc

from portal.auth.services import authenticate
from portal.auth.throttle import Policy
from portal.demo import DATA_FILE, load_demo_data, load_if_empty
from portal.models import (
    Area,
    Category,
    Need,
    Offer,
    OfferStatus,
    Organization,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
    VerificationStatus,
)
from portal.offers.forms import OfferForm
from portal.offers.services import visible_to_staff

DEMO_PASSWORD = "bridge-demo-2026"
TABLES = (Area, Organization, User, Offer, Person, Need)
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def demo(session: Session) -> Session:
    assert load_demo_data(session)
    return session


def row_counts(session: Session) -> dict[str, int]:
    return {table.__name__: session.exec(select(func.count()).select_from(table)).one() for table in TABLES}


def test_loading_twice_changes_nothing(demo: Session) -> None:
    before = row_counts(demo)
    assert all(before.values())
    assert load_demo_data(demo) is False
    assert load_if_empty(demo) is False
    assert row_counts(demo) == before


def test_demo_organizations_carry_what_verifying_them_needs(demo: Session) -> None:
    organizations = demo.exec(select(Organization)).all()
    assert all(uscc.is_valid(o.credit_code) for o in organizations)
    assert len({o.credit_code for o in organizations}) == len(organizations)
    assert all(o.registered_address and o.contact_person and o.contact_phone for o in organizations)


def test_load_if_empty_leaves_real_accounts_alone(session: Session) -> None:
    session.add(User(email="real@bridge.example", name="Real", password_hash="x", role=Role.ADMIN))
    session.commit()
    assert load_if_empty(session) is False
    assert row_counts(session)["User"] == 1


def test_every_category_has_an_open_offer_that_staff_can_see(demo: Session) -> None:
    visible = demo.exec(visible_to_staff(select(Offer).where(Offer.status == OfferStatus.OPEN))).all()
    assert {offer.category for offer in visible} == set(Category)


@pytest.mark.parametrize(
    ("email", "role"),
    [
        ("admin@bridge.example", Role.ADMIN),
        ("supervisor@bridge.example", Role.SUPERVISOR),
        ("caseworker@bridge.example", Role.CASEWORKER),
        ("ngo@bridge.example", Role.PROVIDER),
        ("employer@bridge.example", Role.PROVIDER),
        ("volunteer@bridge.example", Role.VOLUNTEER),
    ],
)
def test_a_demo_account_per_role_can_sign_in(demo: Session, email: str, role: Role) -> None:
    policy = Policy(per_account=5, per_address=20, lockout_failures=5, lockout=timedelta(minutes=15))
    user = authenticate(demo, email, DEMO_PASSWORD, "127.0.0.1", "test-secret", policy)
    assert user is not None and user.role == role


def test_offers_are_written_in_chinese_and_in_english(demo: Session) -> None:
    titles = demo.exec(select(Offer.title)).all()
    assert any(CHINESE.search(title) for title in titles)
    assert any(title.isascii() for title in titles)


def test_verification_and_staleness_have_something_to_show(demo: Session) -> None:
    statuses = demo.exec(select(Organization.status)).all()
    assert VerificationStatus.PENDING in statuses
    assert sum(offer.is_stale() for offer in demo.exec(select(Offer))) == 2


def test_demo_offers_pass_the_offer_form(app: Flask) -> None:
    """Otherwise an owner could not save a demo offer without first repairing it."""
    offers: list[dict[str, Any]] = json.loads(DATA_FILE.read_text(encoding="utf-8"))["offers"]
    with app.test_request_context():  # the form's messages are translated
        for offer in offers:
            fields = {name: value for name, value in offer.items() if name in OfferForm.model_fields}
            OfferForm.model_validate({**fields, "skills": ", ".join(offer["skills"])})


def test_seed_demo_command(app: Flask) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).output == "Demo data loaded.\n"
    assert runner.invoke(args=["seed-demo"]).output == "Demo data already present; nothing changed.\n"
    assert runner.invoke(args=["seed-demo-if-empty"]).output == "Database already has users; demo data not loaded.\n"


def test_demo_accounts_are_never_loaded_outside_development_and_tests(app: Flask) -> None:
    app.config["ENV"] = "production"
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "PORTAL_ENV=development" in result.output


def test_demo_providers_have_referrals_in_every_stage(demo: Session, login: Callable[[User], FlaskClient]) -> None:
    """Signed in as the demo NGO, the inbox holds referrals to answer and to follow; the caseworker's
    person shows the steps each referral went through, taken by whoever takes them in the portal."""
    ngo = demo.exec(select(User).where(User.email == "ngo@bridge.example")).one()
    inbox = login(ngo).get("/referrals/inbox")
    assert inbox.status_code == 200
    page = inbox.get_data(as_text=True)
    for title in ("个体心理辅导", "过渡性住房", "职业指导与简历面试工作坊"):
        assert title in page
    states = dict(demo.exec(select(Referral.status, func.count()).group_by(Referral.status)).all())
    assert {ReferralStatus.SENT, ReferralStatus.WAITLISTED, ReferralStatus.ACCEPTED} <= set(states)
    assert {ReferralStatus.IN_PROGRESS, ReferralStatus.COMPLETED, ReferralStatus.DECLINED} <= set(states)
    completed = demo.exec(select(Referral).where(Referral.status == ReferralStatus.COMPLETED)).one()
    actors = demo.exec(select(ReferralEvent.actor_id).where(ReferralEvent.referral_id == completed.id)).all()
    roles = {demo.get(User, actor).role for actor in actors if actor}  # type: ignore[union-attr]
    assert roles == {Role.CASEWORKER, Role.PROVIDER}
