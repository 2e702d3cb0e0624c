"""A believable Xi'an portal to click through: `flask seed-demo`, or `seed-demo-if-empty` under `make run`.

The records live in demo_data.json so that they can be read and corrected without touching code;
they refer to each other by stable keys (area codes, organization keys, e-mail addresses), which
the loader turns into UUIDs. Referrals are taken through the referral services step by step, so
they leave what a real one leaves (history, places taken, notices, audit events).
"""

import json
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlmodel import Session, col, select

from portal.auth.passwords import hash_password
from portal.clock import local_date
from portal.consent_text import DEFAULT_DISCLOSER, REVOCATION_STATEMENT_VERSION, text_sha256_in
from portal.db import session_scope
from portal.hours import services as hours
from portal.i18n import LOCALES
from portal.models import (
    ActivityKind,
    Area,
    CheckResult,
    Consent,
    ExpiryEvent,
    Need,
    Offer,
    Organization,
    Person,
    Programme,
    ProgrammeAgreement,
    ProgrammeCheck,
    RecipientKind,
    User,
    VerificationStatus,
    utcnow,
)
from portal.programme import services as programme
from portal.referrals.services import propose, transition
from portal.referrals.states import MOVES

DATA_FILE = Path(__file__).with_name("demo_data.json")

# Present once the demo is loaded; its absence is what makes loading safe to repeat.
MARKER_EMAIL = "admin@bridge.example"

# Keys in the JSON that link records or stand for computed values, never column values.
LINK_KEYS = frozenset(
    "key parent area organization owner caseworker verified days_ago next_contact_in_days needs consents".split()
)


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name not in LINK_KEYS}


def _flushed(session: Session, records: dict[str, Any]) -> None:
    # The models declare no ORM relationships that would order the inserts, and the database checks
    # foreign keys row by row, so each batch is written before the batches that refer to it.
    session.add_all(records.values())
    session.flush()


def load_demo_data(session: Session) -> bool:
    """Insert the demo data set and commit; False, changing nothing, when it is already there."""
    if session.exec(select(User).where(User.email == MARKER_EMAIL)).first() is not None:
        return False
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    now = utcnow()

    areas: dict[str, Area] = {}
    for row in data["areas"]:  # parents come before their children in the file
        parent = areas[row["parent"]].id if row["parent"] else None
        areas[row["code"]] = Area.model_validate({**_columns(row), "parent_id": parent})
    _flushed(session, areas)

    def area_id(code: str | None) -> uuid.UUID | None:
        return areas[code].id if code else None

    organizations: dict[str, Organization] = {}
    for row in data["organizations"]:
        verified = row["status"] == VerificationStatus.VERIFIED
        organizations[row["key"]] = Organization.model_validate(
            {**_columns(row), "area_id": area_id(row["area"]), "verified_at": now if verified else None}
        )
    _flushed(session, organizations)

    # Argon2 is deliberately slow, and every demo account shares the one password.
    password_hash = hash_password(data["password"])
    users: dict[str, User] = {}
    for row in data["users"]:
        users[row["email"]] = User.model_validate(
            {
                **_columns(row),
                "password_hash": password_hash,
                "organization_id": organizations[row["organization"]].id if row["organization"] else None,
                "area_id": area_id(row["area"]),
                "verified_at": now if row["verified"] else None,
            }
        )
    _flushed(session, users)

    offers: dict[str, Offer] = {}
    for row in data["offers"]:
        confirmed = now - timedelta(days=row["days_ago"])
        offers[row["key"]] = Offer.model_validate(
            {
                **_columns(row),
                "organization_id": organizations[row["organization"]].id if "organization" in row else None,
                "volunteer_id": users[row["owner"]].id if "owner" in row else None,
                "area_id": area_id(row["area"]),
                "last_confirmed_at": confirmed,
                "created_at": confirmed,
                "updated_at": confirmed,
            }
        )
    people: dict[str, Person] = {}
    for row in data["people"]:
        people[row["code"]] = Person.model_validate(
            {
                **_columns(row),
                "caseworker_id": users[row["caseworker"]].id,
                "area_id": area_id(row["area"]),
                # Relative, so the caseload shows the same mix of due and overdue contacts whenever it is loaded.
                "next_contact_due": local_date(now) + timedelta(days=row["next_contact_in_days"]),
            }
        )
    _flushed(session, {**offers, **people})

    needs: dict[str, list[Need]] = {}
    for row in data["people"]:
        person = people[row["code"]]
        needs[row["code"]] = [
            Need.model_validate({**need, "person_id": person.id, "created_by_id": person.caseworker_id})
            for need in row["needs"]
        ]
        session.add_all(needs[row["code"]])
        session.add_all(
            _consent(consent, index, person, organizations, local_date(now))
            for index, consent in enumerate(row.get("consents", []))
        )
    session.commit()
    for row in data["referrals"]:
        need = needs[row["person"]][row["need"]]
        _refer(session, need, offers[row["offer"]], row["steps"])
    for row in data["programme_agreements"]:
        _agreement(session, people[row["person"]], users[row["specialist"]], row, local_date(now))
    for row in data["volunteer_hours"]:
        _volunteer_hours(session, users[row["volunteer"]], organizations[row["organization"]], row, local_date(now))
    return True


def _agreement(session: Session, person: Person, specialist: User, row: dict[str, Any], today: date) -> None:
    """An agreement recorded by the specialist, and its checks' results in the order they came due,
    through the programme's services, so each schedules the next as it would in the portal."""
    starts_on = today - timedelta(days=row["started_days_ago"])
    person.specialist_id = specialist.id
    session.commit()
    agreement = ProgrammeAgreement(
        person_id=person.id,
        programme=Programme(row["programme"]),
        signed_on=starts_on,
        starts_on=starts_on,
        ends_on=starts_on.replace(year=starts_on.year + row["years"]),
        check_in_every_days=row["check_in_every_days"],
        test_every_days=row["test_every_days"],
        note=row["note"],
    )
    programme.record_agreement(session, specialist, person, agreement)
    for kind, results in row["results"].items():
        for result in results:
            due = session.exec(
                select(ProgrammeCheck).where(
                    ProgrammeCheck.person_id == person.id,
                    ProgrammeCheck.kind == kind,
                    col(ProgrammeCheck.done_on).is_(None),
                )
            ).one()
            programme.record_check(session, specialist, person, due.id, due.due_on, CheckResult(result), "")


def _volunteer_hours(session: Session, volunteer: User, host: Organization, row: dict[str, Any], today: date) -> None:
    """Hours the volunteer logged with an organization, confirmed or returned by its staff as the
    row says (or left waiting), through the hours' services like any in the portal."""
    activity = hours.log(
        session,
        volunteer,
        hours.Activity(
            today - timedelta(days=row["days_ago"]),
            int(row["hours"] * 60),
            ActivityKind(row["kind"]),
            row["description"],
            None,
            host.id,
        ),
    )
    if row["decision"]:
        decision, _, reason = row["decision"].partition(":")
        staff = session.exec(select(User).where(User.organization_id == host.id).limit(1)).one()
        hours.decide(session, staff, activity, decision == "confirm", reason)


def _refer(session: Session, need: Need, offer: Offer, steps: list[str]) -> None:
    """A referral taken through the referral services step by step ("action" or "action:reason"),
    each by whoever takes it in the portal: the person's caseworker, or the offer's provider, so
    the demo's inboxes, timelines, places left and notifications are those the steps would leave."""
    caseworker = session.get(User, need.created_by_id)
    provider = (
        session.get(User, offer.volunteer_id)
        if offer.volunteer_id
        else session.exec(select(User).where(User.organization_id == offer.organization_id)).first()
    )
    referral = propose(session, need, offer.id, caseworker, None, [])
    session.commit()
    for step in steps:
        action, _, reason = step.partition(":")
        actor = caseworker if MOVES[action].side == "case" else provider
        transition(session, referral, action, actor, reason=reason)


def _consent(
    row: dict[str, Any], index: int, person: Person, organizations: dict[str, Organization], today: date
) -> Consent:
    """A consent given `days_ago`, naming "organization:<key>" or "kind:<recipient kind>", signed on
    paper by the person on the current consent text (in Chinese where the catalogue is loaded, as under
    the seed-demo command), ending with their programme."""
    scheme, _, name = row["recipient"].partition(":")
    return Consent(
        person_id=person.id,
        recipient_organization_id=organizations[name].id if scheme == "organization" else None,
        recipient_kind=RecipientKind(name) if scheme == "kind" else None,
        purpose=row["purpose"],
        data_categories=row["data_categories"],
        valid_from=today - timedelta(days=row["days_ago"]),
        method=row["method"],
        recorded_by_id=person.caseworker_id,
        discloser=DEFAULT_DISCLOSER,
        signature_ref=f"DEMO-{person.code}-{index + 1}",
        signed_at=today - timedelta(days=row["days_ago"]),
        expiry_event=ExpiryEvent.PROGRAMME_END,
        revocation_statement_version=REVOCATION_STATEMENT_VERSION,
        text_version_sha256=text_sha256_in(LOCALES["zh"]),
    )


def load_if_empty(session: Session) -> bool:
    """Load the demo only into a database without accounts, so it never mixes with real ones."""
    if session.exec(select(User.id).limit(1)).first() is not None:
        return False
    return load_demo_data(session)


def _refuse_in_production() -> None:
    # The demo accounts share a password printed in the README: never in a real deployment.
    if current_app.config["ENV"] == "production":
        raise click.ClickException("Refusing to create demo accounts in production; run with PORTAL_ENV=development.")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Load the demo data set (demo accounts share the password bridge-demo-2026)."""
    _refuse_in_production()
    with session_scope() as session:
        loaded = load_demo_data(session)
    click.echo("Demo data loaded." if loaded else "Demo data already present; nothing changed.")


@click.command("seed-demo-if-empty")
@with_appcontext
def seed_demo_if_empty_command() -> None:
    """Load the demo data set, but only into a database that has no users yet."""
    _refuse_in_production()
    with session_scope() as session:
        loaded = load_if_empty(session)
    click.echo("Demo data loaded." if loaded else "Database already has users; demo data not loaded.")


def init_app(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(seed_demo_if_empty_command)
