"""A person with a row in every table that links to them, every free text marked with a sentinel,
for the export and retention tests."""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session

from portal.models import (
    Area,
    Consent,
    ConsentOverride,
    ContactLog,
    Dismissal,
    FollowUp,
    Handover,
    Need,
    Offer,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    User,
    utcnow,
)
from tests.conftest import CONSENT_ELEMENTS

SENTINEL = "SENTINEL"


@dataclass
class Record:
    person: Person
    needs: list[Need]
    referral: Referral


def build_record(
    session: Session,
    caseworker: User,
    area: Area,
    offer: Offer,
    code: str = "XA-2020-0001",
    mark: str = SENTINEL,
    programme_end: date | None = date(2021, 6, 30),
) -> Record:
    """A person on `caseworker`'s caseload with needs, contacts, a hand-over, a referral and its
    steps, a consent signed by a representative, an override, a dismissal and follow-ups; `mark` is
    in every text that could identify them."""
    person = Person(
        code=code,
        caseworker_id=caseworker.id,
        area_id=area.id,
        full_name=f"{mark} 王小明",
        phone=f"{mark}-phone",
        id_number=f"{mark}-id",
        address=f"{mark} 北院门 12 号",
        latitude=34.2611,
        longitude=108.9422,
        birth_date=date(1990, 5, 17),
        skills=[f"{mark}-welding"],
        languages=["zh"],
        programme="community_rehab",
        programme_start=date(2018, 7, 1),
        programme_end=programme_end,
    )
    session.add(person)
    session.commit()
    needs = [
        Need(person_id=person.id, category="housing", description=f"{mark} needs a room near the hospital"),
        Need(person_id=person.id, category="employment", description=f"{mark} wants to drive again"),
    ]
    session.add_all(needs)
    session.add_all(
        [
            ContactLog(
                person_id=person.id,
                caseworker_id=caseworker.id,
                kind="visit",
                occurred_on=date(2019, 3, 1),
                outcome="reached",
                note=f"{mark} spoke about their brother",
            ),
            ContactLog(
                person_id=person.id,
                caseworker_id=caseworker.id,
                kind="call",
                occurred_on=date(2019, 4, 1),
                outcome="not_reached",
                note=f"{mark} phone off",
            ),
            Handover(
                person_id=person.id,
                from_caseworker_id=None,
                to_caseworker_id=caseworker.id,
                note=f"{mark} prefers afternoon visits",
            ),
            Consent(
                person_id=person.id,
                purpose="referral",
                data_categories=["contact", "needs"],
                valid_from=date(2019, 1, 1),
                method="paper",
                recorded_by_id=caseworker.id,
                **{
                    **CONSENT_ELEMENTS,
                    "signed_by_role": "representative",
                    "representative_name": f"{mark} mother",
                    "note": f"{mark} paper form in the blue folder",
                },
            ),
        ]
    )
    session.commit()
    referral = Referral(
        need_id=needs[0].id,
        offer_id=offer.id,
        status=ReferralStatus.SENT,
        reasons=[f"{mark} skills: welding"],
        note=f"{mark} please call in the morning",
        summary=f"{mark} looks for a room near the hospital",
        respond_by=utcnow() + timedelta(days=3),
    )
    session.add(referral)
    session.commit()
    session.add_all(
        [
            ReferralEvent(referral_id=referral.id, to_status=ReferralStatus.APPROVED, note=f"{mark} approved"),
            ReferralEvent(
                referral_id=referral.id,
                from_status=ReferralStatus.APPROVED,
                to_status=ReferralStatus.SENT,
                note=f"{mark} sent",
            ),
            Dismissal(
                need_id=needs[1].id, offer_id=offer.id, reason="too_far_in_practice", note=f"{mark} too far from home"
            ),
            ConsentOverride(
                referral_id=referral.id, by_id=caseworker.id, basis="vital_interests", note=f"{mark} was in danger"
            ),
            FollowUp(
                key=f"lost_contact:{person.id}",
                kind="lost_contact",
                person_id=person.id,
                due_on=date(2019, 5, 1),
                note=f"{mark} moved to another district",
            ),
            FollowUp(
                key=f"referral_overdue:{person.id}:{referral.id}",
                kind="referral_overdue",
                person_id=person.id,
                referral_id=referral.id,
                due_on=date(2019, 6, 1),
                note=f"{mark} provider did not answer",
            ),
        ]
    )
    session.commit()
    return Record(person, needs, referral)
