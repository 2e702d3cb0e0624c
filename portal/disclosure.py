"""Minimum necessary: the one table of what each kind of recipient sees of a referred person, in
each state of the referral, and the function every provider-facing page and e-mail goes through.

What is shown is the table's row for the recipient and the referral's state, intersected with the
data categories of the consent that covers the referral today (re-read at every request, so a
revocation takes effect at the next one). Templates get a `Disclosure`, never the Person row.

A referral that reached a recipient also stays in the recipient's history (portal/referrals/
history.py) in every state, whatever the consent today, as its record only: the person's code, the
kind of need, the offer, when it was sent, its state, reason or outcome. No field of the person is
shown there; those are this table's, while the referral is under way.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from portal.consents.services import overrides_of, valid_consents
from portal.models import (
    Consent,
    ConsentOverride,
    ConsentPurpose,
    DataCategory,
    Need,
    Offer,
    Organization,
    OrganizationKind,
    Person,
    Referral,
    Role,
    User,
)
from portal.models import DataCategory as D
from portal.models import ReferralStatus as S
from portal.redisclosure import REDISCLOSURE_NOTICE, REDISCLOSURE_NOTICE_VERSION


class Viewer(StrEnum):
    """Who is looking: a service provider's staff, an employer's staff, or a volunteer."""

    PROVIDER = "provider"  # NGOs, government bodies, volunteer groups
    EMPLOYER = "employer"
    VOLUNTEER = "volunteer"


# The person's fields each data category opens. Needs open the summary the caseworker wrote or
# approved for the provider when sending, never the need's description: that is the caseworker's
# own words (matching reads them), which may tell of drug use that no consent opens.
CATEGORY_FIELDS: dict[DataCategory, tuple[str, ...]] = {
    D.IDENTITY: ("full_name", "id_number", "birth_date"),
    D.CONTACT: ("phone", "address"),
    D.NEEDS: ("summary",),
    D.TREATMENT: ("programme", "programme_start"),
    D.SKILLS: ("skills", "languages", "availability"),
}

# Contact details follow the channel the caseworker chose for the referral: phone calls open the
# phone, visits the address, and "through the caseworker" neither.
CHANNEL_FIELDS: dict[str, frozenset[str]] = {
    "phone": frozenset({"phone"}),
    "visit": frozenset({"address"}),
    "via_caseworker": frozenset(),
}

_DECIDING = frozenset({D.NEEDS, D.SKILLS, D.TREATMENT})
_SERVING = frozenset(DataCategory)

# THE TABLE: recipient × referral state → the data categories a consent may open there.
# States missing from a row show the recipient nothing at all (not even the referral).
# Identity and contact only once a place is offered; employers and volunteers never the drug
# history, except as EXCEPTIONS says.
TABLE: dict[Viewer, dict[S, frozenset[DataCategory]]] = {
    Viewer.PROVIDER: {
        S.SENT: _DECIDING,
        S.WAITLISTED: _DECIDING,
        S.ACCEPTED: _SERVING,
        S.IN_PROGRESS: _SERVING,
    },
    Viewer.EMPLOYER: {
        S.SENT: _DECIDING - {D.TREATMENT},
        S.WAITLISTED: _DECIDING - {D.TREATMENT},
        S.ACCEPTED: _SERVING - {D.TREATMENT},
        S.IN_PROGRESS: _SERVING - {D.TREATMENT},
    },
    Viewer.VOLUNTEER: {
        S.SENT: frozenset({D.NEEDS, D.SKILLS}),
        S.WAITLISTED: frozenset({D.NEEDS, D.SKILLS}),
        S.ACCEPTED: frozenset({D.NEEDS, D.SKILLS, D.CONTACT}),
        S.IN_PROGRESS: frozenset({D.NEEDS, D.SKILLS, D.CONTACT}),
    },
}

# The only way an employer sees the drug history: the person consented to it for employment.
EXCEPTIONS: dict[tuple[Viewer, DataCategory], ConsentPurpose] = {
    (Viewer.EMPLOYER, D.TREATMENT): ConsentPurpose.EMPLOYMENT,
}

VISIBLE_STATES = frozenset(state for row in TABLE.values() for state in row)


def viewer_of(user: User, organization: Organization | None) -> Viewer | None:
    """The row of the table this user reads with; None for staff, who are not recipients."""
    if user.role == Role.VOLUNTEER:
        return Viewer.VOLUNTEER
    if user.role != Role.PROVIDER or organization is None:
        return None
    return Viewer.EMPLOYER if organization.kind == OrganizationKind.EMPLOYER else Viewer.PROVIDER


def allowed_categories(
    recipient: Viewer, state: str, consent: Consent | None, override: ConsentOverride | None
) -> frozenset[DataCategory] | None:
    """The categories shown for this referral, or None when the recipient may not see it at all.

    A supervisor's override without consent opens no category: the code and the kind of need only."""
    row = TABLE[recipient]
    if state not in row or (consent is None and override is None):
        return None
    if consent is None:
        return frozenset()
    consented = {DataCategory(c) for c in consent.data_categories if c in set(DataCategory)}
    opened = set(row[S(state)] & consented)
    for (who, category), purpose in EXCEPTIONS.items():
        if who == recipient and category in consented and consent.purpose == purpose:
            opened.add(category)
    return frozenset(opened)


@dataclass(frozen=True)
class Disclosure:
    """What one recipient may see of one referred person, and under which consent or legal basis."""

    code: str
    need_category: str
    categories: frozenset[DataCategory]
    fields: dict[str, Any]  # field name → value, only the fields the table and the consent open
    consent: Consent | None
    override_basis: str  # the basis of a supervisor's override, never its note
    contact: str  # how to reach the person: their own phone where disclosed, else the caseworker
    notice: str
    notice_version: str = REDISCLOSURE_NOTICE_VERSION


def _field_values(person: Person, referral: Referral) -> dict[str, Any]:
    return {
        "full_name": person.full_name,
        "id_number": person.id_number,
        "birth_date": person.birth_date,
        "phone": person.phone,
        "address": person.address,
        "summary": referral.summary,
        "programme": person.programme,
        "programme_start": person.programme_start,
        "skills": person.skills,
        "languages": person.languages,
        "availability": person.availability,
    }


def disclose_all(
    session: Session, recipient: Viewer, seen: Sequence[tuple[Referral, Offer, Need, Person]], today: date | None = None
) -> list[Disclosure | None]:
    """Each referred person as this recipient may see them through that referral today, or None
    (not at all). The consents, the overrides and the caseworkers are read in one query each,
    however many referrals an inbox holds."""
    consents = valid_consents(session, [(person, offer) for _referral, offer, _need, person in seen], today)
    unconsented = [referral.id for referral, offer, _need, person in seen if consents[(person.id, offer.id)] is None]
    overrides = overrides_of(session, unconsented)
    caseworker_ids = {person.caseworker_id for *_rest, person in seen if person.caseworker_id is not None}
    caseworkers = (
        {user.id: user for user in session.exec(select(User).where(col(User.id).in_(caseworker_ids)))}
        if caseworker_ids
        else {}
    )
    return [
        _disclosure(
            recipient,
            referral,
            need,
            person,
            consents[(person.id, offer.id)],
            overrides.get(referral.id),
            caseworkers.get(person.caseworker_id) if person.caseworker_id else None,
        )
        for referral, offer, need, person in seen
    ]


def _disclosure(
    recipient: Viewer,
    referral: Referral,
    need: Need,
    person: Person,
    consent: Consent | None,
    override: ConsentOverride | None,
    caseworker: User | None,
) -> Disclosure | None:
    categories = allowed_categories(recipient, referral.status, consent, override)
    if categories is None:
        return None
    opened = {name for category in categories for name in CATEGORY_FIELDS[category]}
    channel = CHANNEL_FIELDS.get(referral.contact_method, frozenset())
    opened -= set(CATEGORY_FIELDS[D.CONTACT]) - channel
    values = _field_values(person, referral)
    fields = {name: values[name] for name in sorted(opened) if values[name] not in (None, "", [])}
    return Disclosure(
        code=person.code,
        need_category=str(need.category),
        categories=categories,
        fields=fields,
        consent=consent,
        override_basis=str(override.basis) if override else "",
        contact=_contact(referral, caseworker, fields),
        notice=str(REDISCLOSURE_NOTICE),
    )


def _contact(referral: Referral, caseworker: User | None, fields: dict[str, Any]) -> str:
    """Nothing before a place is offered; then the person's phone where disclosed, otherwise the
    caseworker's own name and phone."""
    if referral.status not in (S.ACCEPTED, S.IN_PROGRESS):
        return ""
    if "phone" in fields:
        return str(fields["phone"])
    return f"{caseworker.name} {caseworker.phone}".strip() if caseworker else ""


def organization_of(session: Session, user: User) -> Organization | None:
    return session.get(Organization, user.organization_id) if user.organization_id else None
