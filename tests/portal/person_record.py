"""A person with a row in every table that links to them, every free text marked with a sentinel,
for the export, retention and erasure tests. Which columns are free text is read from the models:
every text column but the enumerations and the few below, so a column added later is marked too."""

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from portal.crypto import EncryptedText, aad, keyring_of
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
    ProgrammeAgreement,
    ProgrammeCheck,
    Referral,
    ReferralEvent,
    ReferralStatus,
    User,
    VolunteerActivity,
    utcnow,
)
from tests.conftest import CONSENT_ELEMENTS

SENTINEL = "SENTINEL"
# Text columns that are not free text, and so keep no sentinel: each with the reason.
NOT_FREE_TEXT = {
    ("person", "code"): "the pseudonym the tombstone keeps",
    ("person", "phone_index"): "a keyed hash of the phone, kept in step with it",
    ("person", "id_number_index"): "a keyed hash of the ID number, kept in step with it",
    ("referral", "reason_code"): "a code from a fixed list",
    ("referral", "contact_method"): "a code from a fixed list",
    ("referralevent", "reason_code"): "a code from a fixed list",
    ("contactlog", "outcome"): "a code from a fixed list",
    ("dismissal", "reason"): "a code from a fixed list",
    ("followup", "key"): "the occasion's kind and ids",
    ("followup", "outcome"): "a code from a fixed list",
    ("consent", "revocation_statement_version"): "the version of the portal's own text",
    ("consent", "text_version_sha256"): "the SHA-256 of the portal's own text",
    ("volunteer_activity", "kind"): "a code from a fixed list",
    ("volunteer_activity", "status"): "a code from a fixed list",
    ("programme_agreement", "programme"): "a code from a fixed list",
    ("programme_check", "kind"): "a code from a fixed list",
    ("programme_check", "result"): "a code from a fixed list",
}


@dataclass
class Record:
    person: Person
    needs: list[Need]
    referral: Referral
    # Every text marked, as "table.column", once per row: what a scan of the database must find.
    marked: list[str]


def marked_but(record: Record, *overwritten: str) -> list[str]:
    """What the scan must find after a test wrote over some marked texts (e.g. a legal hold's reason)."""
    return [hit for hit in record.marked if hit not in overwritten]


def free_text_columns(row: SQLModel) -> list[str]:
    """The model's free-text columns: typed `str` (not an enumeration), less those NOT_FREE_TEXT."""
    table = row.__table__  # type: ignore[attr-defined]
    fields = type(row).model_fields
    return [
        column.name
        for column in table.c
        if column.name in fields
        and fields[column.name].annotation is str
        and (table.name, column.name) not in NOT_FREE_TEXT
    ]


def _marked_in(row: SQLModel, mark: str) -> list[str]:
    table = row.__table__  # type: ignore[attr-defined]
    return [f"{table.name}.{column.name}" for column in table.c if mark in str(getattr(row, column.name, ""))]


def _stored_as(column_type: sa.types.TypeEngine[object]) -> object:
    """The database type under a decorated type (SQLModel's AutoString is a String underneath)."""
    return column_type.impl if isinstance(column_type, sa.types.TypeDecorator) else column_type


def texts_holding(session: Session, mark: str) -> list[str]:
    """Every text and JSON column of every table, scanned for `mark`: where it is still found.
    Encrypted columns are read as stored and decrypted here, so the scan sees what they hold."""
    session.rollback()
    ring = keyring_of(session.connection())
    hits = []
    for table in SQLModel.metadata.sorted_tables:
        columns = [c for c in table.c if isinstance(_stored_as(c.type), sa.String | sa.JSON)]
        if not columns:
            continue
        keys = list(table.primary_key.columns)  # `id`, or the pair of a link table (offer_term)
        for row in session.execute(sa.select(*keys, *columns)):
            for c, value in zip(columns, row[len(keys) :], strict=True):
                if isinstance(c.type, EncryptedText) and value is not None:
                    value = ring.open(value, aad(table.name, c.name, row[0]))
                if mark in str(value):
                    hits.append(f"{table.name}.{c.name}")
    return sorted(hits)


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
    linked: list[SQLModel] = [
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
            from_user_id=None,
            to_user_id=caseworker.id,
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
                "discloser": f"{mark} Bridge community drug rehabilitation programme",
                "signature_ref": f"{mark}-FORM-0001",
                "signed_by_role": "representative",
                "representative_name": f"{mark} mother",
                "note": f"{mark} paper form in the blue folder",
            },
        ),
    ]
    session.add_all(linked)
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
    agreement = ProgrammeAgreement(
        person_id=person.id,
        programme="community_rehab",
        signed_on=date(2018, 7, 1),
        starts_on=date(2018, 7, 1),
        ends_on=date(2021, 6, 30),
        check_in_every_days=30,
        test_every_days=60,
        note=f"{mark} agreed in the presence of their mother",
    )
    session.add(agreement)
    session.commit()
    check = ProgrammeCheck(
        person_id=person.id,
        agreement_id=agreement.id,
        kind="drug_test",
        due_on=date(2019, 2, 1),
        done_on=date(2019, 2, 1),
        result="negative",
        note=f"{mark} tested at the street office",
    )
    steps: list[SQLModel] = [
        check,
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
        VolunteerActivity(
            volunteer_id=caseworker.id,
            referral_id=referral.id,
            done_on=date(2019, 6, 2),
            minutes=90,
            kind="accompaniment",
            description=f"{mark} went with them to the clinic",
        ),
        agreement,
        FollowUp(
            key=f"referral_overdue:{person.id}:{referral.id}",
            kind="referral_overdue",
            person_id=person.id,
            referral_id=referral.id,
            due_on=date(2019, 6, 1),
            note=f"{mark} provider did not answer",
        ),
    ]
    session.add_all(steps)
    session.commit()
    rows: list[SQLModel] = [person, *needs, *linked, referral, *steps]
    for row in rows:  # every other free text too: a signature reference, a discloser, a reason...
        for name in free_text_columns(row):
            if mark not in getattr(row, name):
                setattr(row, name, f"{mark} {row.__table__.name}.{name}")  # type: ignore[attr-defined]
    session.add_all(rows)
    session.commit()
    return Record(person, needs, referral, sorted(hit for row in rows for hit in _marked_in(row, mark)))
