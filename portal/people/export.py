"""A person's whole record in one place, for their right of access and portability (GDPR Art. 15
and 20, PIPL Art. 45): every row that names the person, their needs or their referrals."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic_core import to_jsonable_python
from sqlmodel import Session, SQLModel, col, or_, select

from portal.audit.services import record
from portal.models import (
    Area,
    Consent,
    ConsentOverride,
    ContactLog,
    Dismissal,
    ErasureRequest,
    FollowUp,
    Handover,
    Need,
    Offer,
    Organization,
    Person,
    ProgrammeAgreement,
    ProgrammeCheck,
    Referral,
    ReferralEvent,
    User,
    VolunteerActivity,
)
from portal.redisclosure import REDISCLOSURE_NOTICE, REDISCLOSURE_NOTICE_VERSION

Model = TypeVar("Model", bound=SQLModel)


@dataclass(frozen=True)
class ExportedReferral:
    """A referral with whom it went to (the recipients the person has a right to know) and its steps."""

    referral: Referral
    offer_title: str
    organization_name: str
    events: list[ReferralEvent]


@dataclass(frozen=True)
class PersonRecord:
    """Every row linked to one person."""

    person: Person
    area: Area | None
    caseworker: User | None
    needs: list[Need]
    contacts: list[ContactLog]
    handovers: list[Handover]
    referrals: list[ExportedReferral]
    consents: list[Consent]
    overrides: list[ConsentOverride]
    dismissals: list[Dismissal]
    follow_ups: list[FollowUp]
    erasure_requests: list[ErasureRequest]
    agreements: list[ProgrammeAgreement]
    checks: list[ProgrammeCheck]
    volunteer_activities: list[VolunteerActivity]


def collect(session: Session, person: Person) -> PersonRecord:
    """Read the person's whole record; the caller has already checked who may see it."""
    needs = list(session.exec(select(Need).where(Need.person_id == person.id).order_by(col(Need.created_at))))
    need_ids = [need.id for need in needs]
    referrals = (
        list(
            session.exec(select(Referral).where(col(Referral.need_id).in_(need_ids)).order_by(col(Referral.created_at)))
        )
        if need_ids
        else []
    )
    referral_ids = [referral.id for referral in referrals]
    events: dict[uuid.UUID, list[ReferralEvent]] = {referral_id: [] for referral_id in referral_ids}
    if referral_ids:
        for event in session.exec(
            select(ReferralEvent)
            .where(col(ReferralEvent.referral_id).in_(referral_ids))
            .order_by(col(ReferralEvent.at), col(ReferralEvent.id))
        ):
            events[event.referral_id].append(event)
    offers = {offer.id: offer for offer in _rows(session, Offer, {r.offer_id for r in referrals})}
    organizations = {
        org.id: org
        for org in _rows(session, Organization, {o.organization_id for o in offers.values() if o.organization_id})
    }
    dismissals = (
        list(session.exec(select(Dismissal).where(col(Dismissal.need_id).in_(need_ids)).order_by(col(Dismissal.at))))
        if need_ids
        else []
    )
    follow_ups_linked = col(FollowUp.person_id) == person.id
    if referral_ids:
        follow_ups_linked = or_(follow_ups_linked, col(FollowUp.referral_id).in_(referral_ids))
    return PersonRecord(
        person=person,
        area=session.get(Area, person.area_id) if person.area_id else None,
        caseworker=session.get(User, person.caseworker_id) if person.caseworker_id else None,
        needs=needs,
        contacts=list(
            session.exec(
                select(ContactLog).where(ContactLog.person_id == person.id).order_by(col(ContactLog.occurred_on))
            )
        ),
        handovers=list(
            session.exec(select(Handover).where(Handover.person_id == person.id).order_by(col(Handover.at)))
        ),
        referrals=[
            ExportedReferral(
                referral=referral,
                offer_title=offers[referral.offer_id].title if referral.offer_id in offers else "",
                organization_name=_organization_name(offers.get(referral.offer_id), organizations),
                events=events[referral.id],
            )
            for referral in referrals
        ],
        consents=list(
            session.exec(select(Consent).where(Consent.person_id == person.id).order_by(col(Consent.recorded_at)))
        ),
        overrides=(
            list(
                session.exec(
                    select(ConsentOverride)
                    .where(col(ConsentOverride.referral_id).in_(referral_ids))
                    .order_by(col(ConsentOverride.at))
                )
            )
            if referral_ids
            else []
        ),
        dismissals=dismissals,
        follow_ups=list(session.exec(select(FollowUp).where(follow_ups_linked).order_by(col(FollowUp.due_on)))),
        erasure_requests=list(
            session.exec(
                select(ErasureRequest)
                .where(ErasureRequest.person_id == person.id)
                .order_by(col(ErasureRequest.requested_at))
            )
        ),
        agreements=list(
            session.exec(
                select(ProgrammeAgreement)
                .where(ProgrammeAgreement.person_id == person.id)
                .order_by(col(ProgrammeAgreement.starts_on))
            )
        ),
        checks=list(
            session.exec(
                select(ProgrammeCheck).where(ProgrammeCheck.person_id == person.id).order_by(col(ProgrammeCheck.due_on))
            )
        ),
        volunteer_activities=(
            list(
                session.exec(
                    select(VolunteerActivity)
                    .where(col(VolunteerActivity.referral_id).in_(referral_ids))
                    .order_by(col(VolunteerActivity.done_on))
                )
            )
            if referral_ids
            else []
        ),
    )


def _rows(session: Session, model: type[Model], ids: set[uuid.UUID]) -> list[Model]:
    if not ids:
        return []
    return list(session.exec(select(model).where(col(model.id).in_(ids))))  # type: ignore[attr-defined]


def _organization_name(offer: Offer | None, organizations: dict[uuid.UUID, Organization]) -> str:
    if offer is None or offer.organization_id is None:
        return ""
    organization = organizations.get(offer.organization_id)
    return organization.name if organization else ""


def _dump(row: SQLModel) -> dict[str, Any]:
    """Every column of a row as JSON values (enumerations come back from the database as strings)."""
    return {name: to_jsonable_python(getattr(row, name)) for name in type(row).model_fields}


def as_json(person_record: PersonRecord, exported_at: datetime) -> dict[str, Any]:
    """The record as plain JSON: every column of every row, with the notice that travels with it."""
    return {
        "notice": {"text": str(REDISCLOSURE_NOTICE), "version": REDISCLOSURE_NOTICE_VERSION},
        "exported_at": exported_at.isoformat(),
        "person": _dump(person_record.person),
        "area": person_record.area.code if person_record.area else None,
        "caseworker": person_record.caseworker.name if person_record.caseworker else None,
        "needs": [_dump(need) for need in person_record.needs],
        "contacts": [_dump(contact) for contact in person_record.contacts],
        "handovers": [_dump(handover) for handover in person_record.handovers],
        "referrals": [
            {
                **_dump(item.referral),
                "offer_title": item.offer_title,
                "organization": item.organization_name,
                "events": [_dump(event) for event in item.events],
            }
            for item in person_record.referrals
        ],
        "consents": [_dump(consent) for consent in person_record.consents],
        "consent_overrides": [_dump(override) for override in person_record.overrides],
        "dismissals": [_dump(dismissal) for dismissal in person_record.dismissals],
        "follow_ups": [_dump(follow_up) for follow_up in person_record.follow_ups],
        "erasure_requests": [_dump(request) for request in person_record.erasure_requests],
        "programme_agreements": [_dump(agreement) for agreement in person_record.agreements],
        "programme_checks": [_dump(check) for check in person_record.checks],
        "volunteer_hours": [_dump(activity) for activity in person_record.volunteer_activities],
    }


def log_export(session: Session, user: User, person: Person) -> None:
    """Audit the export in its own transaction: the request that reads the record writes nothing."""
    record(session, user, "export", "person", person.id)
    session.commit()
