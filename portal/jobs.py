"""Periodic work, one idempotent command: `flask --app wsgi run-due-jobs`, safe from cron every few
minutes. Running it twice does nothing more than running it once: each step looks at state
(statuses, `reminded_at`, follow-up keys) rather than at when it last ran."""

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import case, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from portal import idempotency, job_runs
from portal.audit.services import Anchor, anchor_head, link_pending, record_list
from portal.clock import local_date, local_midnight
from portal.db import session_scope
from portal.exceptions import IllegalTransition, JobsRunning
from portal.followups.services import Due, open_contact_follow_ups, open_follow_ups
from portal.hsds import imports
from portal.indicators import snapshots
from portal.indicators.services import Rules
from portal.matches.services import LiveIndex, live_index
from portal.models import (
    Category,
    FollowUp,
    FollowUpKind,
    JobLock,
    Need,
    Offer,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    utcnow,
)
from portal.notifications.delivery import deliver_outbox
from portal.notifications.services import notify_all, provider_notices
from portal.people import retention
from portal.referrals import services as referrals
from portal.referrals.states import AWAITING_ANSWER
from portal.versions import bulk_update

LOCK_NAME = "run-due-jobs"
EMPLOYMENT_CHECKS = (
    (30, FollowUpKind.EMPLOYMENT_30),
    (90, FollowUpKind.EMPLOYMENT_90),
    (180, FollowUpKind.EMPLOYMENT_180),
)
# Reminders one transaction sends; follow-up keys one query looks for (well under any database's
# limit on parameters).
REMINDER_BATCH = 500
KEYS_AT_ONCE = 5_000


@dataclass
class Report:
    """What one run did, for the log and the tests."""

    expired: int = 0
    reminded: int = 0
    follow_ups: dict[str, int] = field(default_factory=dict)
    mailed: int = 0
    anonymised: int = 0
    keys_purged: int = 0
    imports_expired: int = 0
    indicators_refreshed: int = 0
    linked: int = 0
    anchor: Anchor | None = None
    index_offers: int = 0


def expire_and_remind(session: Session, live: LiveIndex, now: datetime, grace: timedelta, report: Report) -> None:
    """Remind providers a day before the answer is due; expire what stays unanswered past the grace."""
    for referral in session.exec(
        select(Referral).where(col(Referral.status).in_(AWAITING_ANSWER), col(Referral.respond_by) < now - grace)
    ).all():
        try:
            referrals.transition(session, referral, "expire", None, note="no answer in time", live=live)
            report.expired += 1
        except IllegalTransition:  # answered meanwhile
            session.rollback()
    due_soon = session.exec(
        select(Referral.id).where(
            col(Referral.status).in_(AWAITING_ANSWER),
            col(Referral.reminded_at).is_(None),
            col(Referral.respond_by) < now + timedelta(days=1),
        )
    ).all()
    session.rollback()  # end the read
    for start in range(0, len(due_soon), REMINDER_BATCH):
        report.reminded += remind(session, due_soon[start : start + REMINDER_BATCH], now)


def remind(session: Session, referral_ids: Sequence[uuid.UUID], now: datetime) -> int:
    """Remind the providers of a batch of referrals, in one transaction, with one audit event naming
    them; how many were reminded. One UPDATE marks them reminded and returns the ones it marked: a
    referral reminded or answered meanwhile (by a run that slipped past the job lock) is not among
    them, so no reminder is sent twice. Each marked referral's version moves, as with any change."""
    marked = session.execute(
        bulk_update(
            Referral,
            col(Referral.id).in_(referral_ids),
            col(Referral.reminded_at).is_(None),
            col(Referral.status).in_(AWAITING_ANSWER),
            reminded_at=now,
        ).returning(col(Referral.id), col(Referral.offer_id)),
        execution_options={"synchronize_session": False},
    ).all()
    offers = {
        offer.id: offer for offer in session.exec(select(Offer).where(col(Offer.id).in_({m.offer_id for m in marked})))
    }
    notify_all(session, provider_notices(session, [offers[offer_id] for _id, offer_id in marked], "referral_reminder"))
    record_list(session, None, "reminded", "referral", [referral_id for referral_id, _offer_id in marked])
    session.commit()
    return len(marked)


def _job_checks_due(started: Any, today: date) -> Any:
    """How many of the 30, 90 and 180-day checks of a job that began at `started` are due by today, in
    SQL: the check of day n is due once the local day n days after the start has come."""
    whens = [
        (started < local_midnight(today - timedelta(days=days - 1)), number)
        for number, (days, _kind) in reversed(list(enumerate(EMPLOYMENT_CHECKS, start=1)))
    ]
    return case(*whens, else_=0)


def referral_follow_ups(session: Session, now: datetime, report: Report) -> None:
    """Referrals waiting on a provider past the deadline; jobs followed up 30, 90 and 180 days in.
    Only what may be due is selected, by a few queries over ids and dates; nobody is loaded (and so
    decrypted): a follow-up and its notice need the person's id and code only."""
    today = local_date(now)
    open_record = col(Person.anonymised_at).is_(None)
    overdue = session.execute(
        sa.select(
            col(Referral.id), col(Need.person_id), col(Person.caseworker_id), col(Person.code), col(Referral.respond_by)
        )
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .where(
            col(Referral.status).in_(AWAITING_ANSWER),
            col(Referral.respond_by) < now,
            open_record,
        )
    ).all()
    due = [
        Due(FollowUpKind.REFERRAL_OVERDUE, person_id, caseworker_id, code, local_date(respond_by), referral_id)
        for referral_id, person_id, caseworker_id, code, respond_by in overdue
        if respond_by is not None
    ]
    in_progress = col(Referral.status) == ReferralStatus.IN_PROGRESS
    # When each job began: the first time its referral went in progress.
    starts = (
        select(ReferralEvent.referral_id, func.min(ReferralEvent.at).label("started"))
        .where(
            ReferralEvent.to_status == ReferralStatus.IN_PROGRESS,
            col(ReferralEvent.referral_id).in_(select(Referral.id).where(in_progress)),
        )
        .group_by(col(ReferralEvent.referral_id))
        .subquery()
    )
    opened = (
        select(FollowUp.referral_id, func.count().label("checks"))
        .where(col(FollowUp.kind).in_([kind for _days, kind in EMPLOYMENT_CHECKS]))
        .group_by(col(FollowUp.referral_id))
        .subquery()
    )
    jobs = session.execute(
        sa.select(col(Referral.id), col(Need.person_id), col(Person.caseworker_id), col(Person.code), starts.c.started)
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .join(Offer, col(Offer.id) == Referral.offer_id)
        .join(starts, starts.c.referral_id == Referral.id)
        .outerjoin(opened, opened.c.referral_id == Referral.id)
        .where(
            in_progress,
            col(Offer.category) == Category.EMPLOYMENT,
            open_record,
            func.coalesce(opened.c.checks, 0) < _job_checks_due(starts.c.started, today),
        )
    ).all()
    for referral_id, person_id, caseworker_id, code, started in jobs:
        for days, kind in EMPLOYMENT_CHECKS:
            check_due = local_date(started) + timedelta(days=days)
            if check_due <= today:
                due.append(Due(kind, person_id, caseworker_id, code, check_due, referral_id))
    known: set[str] = set()
    for start in range(0, len(due), KEYS_AT_ONCE):
        keys = [item.key for item in due[start : start + KEYS_AT_ONCE]]
        known.update(session.exec(select(FollowUp.key).where(col(FollowUp.key).in_(keys))).all())
    session.rollback()  # end the read
    for opened_kind, count in open_follow_ups(session, [item for item in due if item.key not in known]).items():
        report.follow_ups[str(opened_kind)] = report.follow_ups.get(str(opened_kind), 0) + count


def anonymise_ended(session: Session, now: datetime, keep_days: int, report: Report) -> None:
    """Anonymise the records kept long enough after their programme ended, one person at a time."""
    for person_id in retention.due_for_anonymisation(session, local_date(now), keep_days):
        session.rollback()  # end the read, so each person is locked and written in its own transaction
        if retention.anonymise(session, person_id, now):
            report.anonymised += 1


def take_lock(session: Session, now: datetime, hold: timedelta) -> str | None:
    """Take the job's lock row for this run, or take over one held longer than `hold` (its run died);
    the holder's name, or None while another run holds it. Committed here, so others see it; any
    read the caller began is ended first (on SQLite it could not turn into this write)."""
    session.rollback()
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]
    session.add(JobLock(name=LOCK_NAME, holder=holder, taken_at=now, expires_at=now + hold))
    try:
        session.commit()
        return holder
    except IntegrityError:  # held by another run
        session.rollback()
    taken = session.exec(
        update(JobLock)
        .where(col(JobLock.name) == LOCK_NAME, col(JobLock.expires_at) < now)
        .values(holder=holder, taken_at=now, expires_at=now + hold)
    )
    session.commit()
    return holder if taken.rowcount == 1 else None


def release_lock(session: Session, holder: str) -> None:
    """Give the lock back, unless a later run took it over (then it is that run's)."""
    session.rollback()
    session.exec(delete(JobLock).where(col(JobLock.name) == LOCK_NAME, col(JobLock.holder) == holder))
    session.commit()


def run_due_jobs(session: Session, live: LiveIndex, now: datetime, config: dict[str, object]) -> Report:
    """Everything that is due at `now`; each step safe to repeat. A run holds the job's lock
    throughout, so two overlapping runs (cron starting one before the last ended) never both act.

    :raise JobsRunning: when another run holds the lock; nothing was done.
    """
    holder = take_lock(session, now, timedelta(minutes=int(str(config["JOB_LOCK_MINUTES"]))))
    if holder is None:
        raise JobsRunning(LOCK_NAME)
    try:
        report = _run_steps(session, live, now, config)
        job_runs.record_success(session, LOCK_NAME, now)
        return report
    finally:
        release_lock(session, holder)


def _run_steps(session: Session, live: LiveIndex, now: datetime, config: dict[str, object]) -> Report:
    report = Report()
    grace = timedelta(days=int(str(config["REFERRAL_EXPIRY_GRACE_DAYS"])))
    gaps = dict(config["CONTACT_GAP_DAYS"])  # type: ignore[call-overload]
    # First, so that no follow-up is opened for a record closed today.
    anonymise_ended(session, now, int(str(config["ANONYMISE_AFTER_DAYS"])), report)
    expire_and_remind(session, live, now, grace, report)
    for kind, opened in open_contact_follow_ups(session, local_date(now), gaps).items():
        report.follow_ups[str(kind)] = report.follow_ups.get(str(kind), 0) + opened
    referral_follow_ups(session, now, report)
    report.mailed = deliver_outbox(session, config, now)
    report.keys_purged = idempotency.purge(session, now)
    report.imports_expired = imports.expire_unconfirmed(session, now)
    # The offer index caught up, and written for the machine's workers when it has no files yet or
    # they lag too far behind: a worker started later maps it instead of assembling its own.
    report.index_offers = len(live.current(session).position_)
    report.indicators_refreshed = snapshots.refresh_stale(
        session,
        Rules(contact_gap_days=gaps),
        int(str(config["SMALL_CELL_THRESHOLD"])),
        timedelta(minutes=int(str(config["INDICATORS_FRESH_MINUTES"]))),
        local_date(now),
        now,
    )
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
    than a day, delete directory imports' uploads left unconfirmed for a week, bring the matches
    index up to date (writing it for the workers when it lags), compute again the indicators people
    are looking at once they are stale, link audit events left pending, and anchor the head of the
    audit trail outside the database."""
    with session_scope() as session:
        try:
            report = run_due_jobs(session, live_index(current_app), utcnow(), current_app.config)
        except JobsRunning:
            # Not a failure: the run under way does the work; cron must not report an error.
            click.echo("another run of run-due-jobs is in progress; this one did nothing")
            return
    click.echo(
        f"expired {report.expired}, reminded {report.reminded}, follow-ups {report.follow_ups or 'none'}, "
        f"mailed {report.mailed}, anonymised {report.anonymised}, form keys purged {report.keys_purged}, "
        f"directory uploads expired {report.imports_expired}, "
        f"indicator views refreshed {report.indicators_refreshed}, audit events linked {report.linked}, "
        f"offers in the matches index {report.index_offers}"
    )
    if report.anchor is not None:
        click.echo(report.anchor.line())


def init_app(app: Flask) -> None:
    app.cli.add_command(run_due_jobs_command)
