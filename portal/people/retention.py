"""Retention: a person's record is anonymised a configured time after their programme ends,
unless a supervisor put it on legal hold. What stays is a tombstone the indicators still count:
the code, the area, the programme and its dates, the year of birth, the statuses and dates of
needs, contacts and referrals. Names, numbers, places and every free-text note are gone for good,
and referrals still open are withdrawn. Erasure at the person's request (`erase_person`) goes
further: only the code, the area and the dates stay."""

import uuid
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from portal.audit.services import record
from portal.exceptions import OnLegalHold
from portal.matches.learning import delete_rankings
from portal.models import (
    Consent,
    ConsentOverride,
    ContactLog,
    Dismissal,
    ErasureRequest,
    FollowUp,
    FollowUpStatus,
    Handover,
    Need,
    Person,
    ProgrammeAgreement,
    ProgrammeCheck,
    Referral,
    ReferralEvent,
    User,
    VolunteerActivity,
)
from portal.referrals.services import withdraw_for_closed_record
from portal.referrals.states import OPEN_STATES


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
    person = _locked(session, person_id)
    if person.anonymised_at is not None or person.legal_hold:
        session.rollback()
        return False
    _scrub_person(person, now)
    # The year is enough for age-group indicators; 1 July is how the form records an age, too.
    person.birth_date = date(person.birth_date.year, 7, 1) if person.birth_date else None
    _scrub_linked(session, person, None, now)
    record(session, None, "anonymised", "person", person.id)
    session.commit()
    return True


def erase_person(session: Session, actor: User, person_id: uuid.UUID, basis: str, now: datetime) -> Person:
    """Erase the person at their request: what anonymisation removes, and also what the indicators
    kept (birth year, gender, programme and its dates, languages), leaving a tombstone with the
    code, the area and the dates the record was made and erased. Irreversible. Does not commit:
    the caller records the request's outcome and the basis in the same transaction.

    :raise OnLegalHold: with the hold's reason, changing nothing.
    """
    person = _locked(session, person_id)
    if person.legal_hold:
        raise OnLegalHold(person.legal_hold_reason)
    _scrub_person(person, now)
    person.birth_date = None
    person.gender = None
    person.languages = []
    person.availability = []
    person.max_travel_km = None
    person.programme = None
    person.programme_start = None
    person.programme_end = None
    person.next_contact_due = None
    _scrub_linked(session, person, actor, now)
    for consent in session.exec(select(Consent).where(Consent.person_id == person.id)):
        # A record erased is a record nobody may disclose any more.
        consent.revoked_at = consent.revoked_at or now
        consent.revoked_by_id = consent.revoked_by_id or actor.id
    # The basis goes on the trail as a code: ids and actions only, nothing about the person.
    record(session, actor, f"erased:{basis}", "person", person.id)
    return person


def _locked(session: Session, person_id: uuid.UUID) -> Person:
    person = session.exec(select(Person).where(Person.id == person_id).with_for_update()).one()
    session.refresh(person)
    return person


def _scrub_person(person: Person, now: datetime) -> None:
    person.full_name = ""
    person.phone = ""
    person.id_number = ""
    person.address = ""
    person.latitude = None
    person.longitude = None
    person.skills = []
    # A hold lifted earlier leaves its reason, which may name the person or their case.
    person.legal_hold_reason = ""
    person.anonymised_at = person.anonymised_at or now
    person.updated_at = now


def _scrub_linked(session: Session, person: Person, actor: User | None, now: datetime) -> None:
    """Every free text in a table linked to the person, emptied; their open referrals withdrawn, so
    providers stop seeing a person whose record is closed."""
    needs = list(session.exec(select(Need).where(Need.person_id == person.id)))
    need_ids = [need.id for need in needs]
    for need in needs:
        need.description = ""
    for contact in session.exec(select(ContactLog).where(ContactLog.person_id == person.id)):
        contact.note = ""
        contact.latitude = contact.longitude = None
    for handover in session.exec(select(Handover).where(Handover.person_id == person.id)):
        handover.note = ""
    for follow_up in session.exec(select(FollowUp).where(FollowUp.person_id == person.id)):
        follow_up.note = ""
        # Nobody is to be called about a closed record: it leaves every attention list.
        if follow_up.status != FollowUpStatus.DONE:
            follow_up.status = FollowUpStatus.DONE
            follow_up.resolved_at = now
            follow_up.resolved_by_id = actor.id if actor else None
    for consent in session.exec(select(Consent).where(Consent.person_id == person.id)):
        consent.note = ""
        consent.representative_name = ""
        consent.expiry_event_text = ""
        # Typed on the form too: the paper form's number, and a discloser other than this programme.
        consent.signature_ref = ""
        consent.discloser = ""
    for agreement in session.exec(select(ProgrammeAgreement).where(ProgrammeAgreement.person_id == person.id)):
        agreement.note = ""
    for check in session.exec(select(ProgrammeCheck).where(ProgrammeCheck.person_id == person.id)):
        check.note = ""
    for request in session.exec(select(ErasureRequest).where(ErasureRequest.person_id == person.id)):
        request.outcome = ""  # an earlier refusal quoted the hold, which may name the person
    if not need_ids:
        return
    # The signals of the rankings shown say how near the person lived to each offer and how close
    # the need's words were to it: they go with the rest.
    delete_rankings(session, need_ids)
    referrals = list(session.exec(select(Referral).where(col(Referral.need_id).in_(need_ids))))
    for referral in referrals:
        if referral.status in OPEN_STATES:
            withdraw_for_closed_record(session, referral, actor)
    for referral in referrals:
        referral.note = ""
        referral.summary = ""
        # The matching engine's reasons quote the person's skills and needs.
        referral.reasons = []
    referral_ids = [referral.id for referral in referrals]
    if referral_ids:
        for event in session.exec(select(ReferralEvent).where(col(ReferralEvent.referral_id).in_(referral_ids))):
            event.note = ""
        for override in session.exec(select(ConsentOverride).where(col(ConsentOverride.referral_id).in_(referral_ids))):
            override.note = ""
        # A volunteer's words about the hours they gave may name the person they accompanied.
        for activity in session.exec(
            select(VolunteerActivity).where(col(VolunteerActivity.referral_id).in_(referral_ids))
        ):
            activity.description = ""
            activity.returned_reason = ""
    for dismissal in session.exec(select(Dismissal).where(col(Dismissal.need_id).in_(need_ids))):
        dismissal.note = ""
