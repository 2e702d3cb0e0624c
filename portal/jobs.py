"""Periodic work, one idempotent command: `flask --app wsgi run-due-jobs`, safe from cron every few
minutes. Running it twice does nothing more than running it once: each step looks at state
(statuses, `reminded_at`, follow-up keys) rather than at when it last ran."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlmodel import Session, col, func, select

from portal import idempotency
from portal.audit.services import Anchor, anchor_head, link_pending
from portal.clock import local_date
from portal.db import session_scope
from portal.exceptions import IllegalTransition
from portal.followups.services import open_contact_follow_ups, open_follow_up
from portal.matches.services import LiveIndex, live_index
from portal.models import (
    Category,
    FollowUpKind,
    Need,
    Offer,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    utcnow,
)
from portal.notifications.mail import deliver_outbox
from portal.notifications.services import notify_providers
from portal.people import retention
from portal.referrals import services as referrals

EMPLOYMENT_CHECKS = (
    (30, FollowUpKind.EMPLOYMENT_30),
    (90, FollowUpKind.EMPLOYMENT_90),
    (180, FollowUpKind.EMPLOYMENT_180),
)


@dataclass
class Report:
    """What one run did, for the log and the tests."""

    expired: int = 0
    reminded: int = 0
    follow_ups: dict[str, int] = field(default_factory=dict)
    mailed: int = 0
    anonymised: int = 0
    keys_purged: int = 0
    linked: int = 0
    anchor: Anchor | None = None


def expire_and_remind(session: Session, live: LiveIndex, now: datetime, grace: timedelta, report: Report) -> None:
    """Remind providers a day before the answer is due; expire what stays unanswered past the grace."""
    waiting = (ReferralStatus.SENT, ReferralStatus.WAITLISTED)
    for referral in session.exec(
        select(Referral).where(col(Referral.status).in_(waiting), col(Referral.respond_by) < now - grace)
    ).all():
        try:
            referrals.transition(session, referral, "expire", None, note="no answer in time", live=live)
            report.expired += 1
        except IllegalTransition:  # answered meanwhile
            session.rollback()
    due_soon = select(Referral).where(
        col(Referral.status).in_(waiting),
        col(Referral.reminded_at).is_(None),
        col(Referral.respond_by) < now + timedelta(days=1),
    )
    for referral in session.exec(due_soon).all():
        offer = session.get(Offer, referral.offer_id)
        if offer is None:
            continue
        notify_providers(session, offer, "referral_reminder")
        referral.reminded_at = now
        session.commit()
        report.reminded += 1


def referral_follow_ups(session: Session, now: datetime, report: Report) -> None:
    """Referrals waiting on a provider past the deadline; jobs followed up 30, 90 and 180 days in."""
    rows = session.exec(
        select(Referral, Person, Offer.category)
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .join(Offer, col(Offer.id) == Referral.offer_id)
        .where(
            col(Referral.status).in_((ReferralStatus.SENT, ReferralStatus.WAITLISTED, ReferralStatus.IN_PROGRESS)),
            col(Person.anonymised_at).is_(None),
        )
    ).all()
    # When each job began: one query for all of them, not one per referral.
    job_ids = [
        r.id for r, _p, category in rows if r.status == ReferralStatus.IN_PROGRESS and category == Category.EMPLOYMENT
    ]
    started_at = (
        dict(
            session.exec(
                select(ReferralEvent.referral_id, func.min(ReferralEvent.at))
                .where(
                    col(ReferralEvent.referral_id).in_(job_ids), ReferralEvent.to_status == ReferralStatus.IN_PROGRESS
                )
                .group_by(col(ReferralEvent.referral_id))
            ).all()
        )
        if job_ids
        else {}
    )
    for referral, person, _category in rows:
        if referral.status != ReferralStatus.IN_PROGRESS:
            if referral.respond_by and referral.respond_by < now:
                due = local_date(referral.respond_by)
                if open_follow_up(session, FollowUpKind.REFERRAL_OVERDUE, person, due, referral):
                    report.follow_ups["referral_overdue"] = report.follow_ups.get("referral_overdue", 0) + 1
            continue
        started = started_at.get(referral.id)
        if started is None:  # not a job, or no start recorded
            continue
        for days, kind in EMPLOYMENT_CHECKS:
            due = local_date(started) + timedelta(days=days)
            if due <= local_date(now) and open_follow_up(session, kind, person, due, referral):
                report.follow_ups[str(kind)] = report.follow_ups.get(str(kind), 0) + 1


def anonymise_ended(session: Session, now: datetime, keep_days: int, report: Report) -> None:
    """Anonymise the records kept long enough after their programme ended, one person at a time."""
    for person_id in retention.due_for_anonymisation(session, local_date(now), keep_days):
        session.rollback()  # end the read, so each person is locked and written in its own transaction
        if retention.anonymise(session, person_id, now):
            report.anonymised += 1


def run_due_jobs(session: Session, live: LiveIndex, now: datetime, config: dict[str, object]) -> Report:
    """Everything that is due at `now`; each step safe to repeat."""
    report = Report()
    grace = timedelta(days=int(str(config["REFERRAL_EXPIRY_GRACE_DAYS"])))
    gaps = dict(config["CONTACT_GAP_DAYS"])  # type: ignore[call-overload]
    # First, so that no follow-up is opened for a record closed today.
    anonymise_ended(session, now, int(str(config["ANONYMISE_AFTER_DAYS"])), report)
    expire_and_remind(session, live, now, grace, report)
    for kind, opened in open_contact_follow_ups(session, local_date(now), gaps).items():
        report.follow_ups[str(kind)] = report.follow_ups.get(str(kind), 0) + opened
    referral_follow_ups(session, now, report)
    report.mailed = deliver_outbox(session, config)
    report.keys_purged = idempotency.purge(session, now)
    # Last, so the anchor covers everything this run wrote to the trail, and every event a request
    # left pending (its linker failed, or the server stopped between its commit and the linking).
    report.linked = link_pending(session)
    anchor_file = str(config.get("AUDIT_ANCHOR_FILE") or "")
    report.anchor = anchor_head(session, Path(anchor_file) if anchor_file else None, now)
    return report


@click.command("run-due-jobs")
@with_appcontext
def run_due_jobs_command() -> None:
    """Expire unanswered referrals, remind providers, open the follow-ups that are due, anonymise
    the records kept long enough, send the mail waiting in the outbox, forget create-form keys older
    than a day, link audit events left pending, and anchor the head of the audit trail outside the database."""
    with session_scope() as session:
        report = run_due_jobs(session, live_index(current_app), utcnow(), current_app.config)
    click.echo(
        f"expired {report.expired}, reminded {report.reminded}, follow-ups {report.follow_ups or 'none'}, "
        f"mailed {report.mailed}, anonymised {report.anonymised}, form keys purged {report.keys_purged}, "
        f"audit events linked {report.linked}"
    )
    if report.anchor is not None:
        click.echo(report.anchor.line())


def init_app(app: Flask) -> None:
    app.cli.add_command(run_due_jobs_command)
