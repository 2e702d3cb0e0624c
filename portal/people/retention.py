"""Retention: a person's record is anonymised a configured time after their programme ends,
unless a supervisor put it on legal hold. What stays is a tombstone the indicators still count:
the code, the area, the programme and its dates, the year of birth, the statuses and dates of
needs, contacts and referrals. Names, numbers, places and every free-text note are gone for good."""

import uuid
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from portal.audit.services import record
from portal.models import ContactLog, Dismissal, FollowUp, Handover, Need, Person, Referral, ReferralEvent


def due_for_anonymisation(session: Session, today: date, keep_days: int) -> list[uuid.UUID]:
    """People whose programme ended more than `keep_days` ago, not on hold, not yet anonymised."""
    ended_before = today - timedelta(days=keep_days)
    return list(
        session.exec(
            select(Person.id).where(
                col(Person.programme_end) < ended_before,
                col(Person.legal_hold).is_(False),
                col(Person.anonymised_at).is_(None),
            )
        )
    )


def anonymise(session: Session, person_id: uuid.UUID, now: datetime) -> bool:
    """Replace everything that identifies the person, in one transaction; False if nothing was due
    (anonymised or put on hold by someone else meanwhile)."""
    person = session.exec(select(Person).where(Person.id == person_id).with_for_update()).one()
    session.refresh(person)
    if person.anonymised_at is not None or person.legal_hold:
        session.rollback()
        return False
    person.full_name = ""
    person.phone = ""
    person.id_number = ""
    person.address = ""
    person.latitude = None
    person.longitude = None
    person.skills = []
    # The year is enough for age-group indicators; 1 July is how the form records an age, too.
    person.birth_date = date(person.birth_date.year, 7, 1) if person.birth_date else None
    person.anonymised_at = now
    person.updated_at = now
    needs = list(session.exec(select(Need).where(Need.person_id == person.id)))
    need_ids = [need.id for need in needs]
    for need in needs:
        need.description = ""
    for contact in session.exec(select(ContactLog).where(ContactLog.person_id == person.id)):
        contact.note = ""
    for handover in session.exec(select(Handover).where(Handover.person_id == person.id)):
        handover.note = ""
    for follow_up in session.exec(select(FollowUp).where(FollowUp.person_id == person.id)):
        follow_up.note = ""
    if need_ids:
        referrals = list(session.exec(select(Referral).where(col(Referral.need_id).in_(need_ids))))
        for referral in referrals:
            referral.note = ""
            # The matching engine's reasons quote the person's skills and needs.
            referral.reasons = []
        referral_ids = [referral.id for referral in referrals]
        if referral_ids:
            for event in session.exec(select(ReferralEvent).where(col(ReferralEvent.referral_id).in_(referral_ids))):
                event.note = ""
        for dismissal in session.exec(select(Dismissal).where(col(Dismissal.need_id).in_(need_ids))):
            dismissal.note = ""
    record(session, None, "anonymised", "person", person.id)
    session.commit()
    return True
