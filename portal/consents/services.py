"""Recording and revoking consents, finding the consent that covers a referral today, and a
supervisor's override on a legal basis. Validity is worked out at every call, never cached, so a
revocation takes effect at the next request."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from portal.audit.services import record
from portal.clock import local_today
from portal.consents.elements import missing_elements
from portal.consents.forms import ConsentForm, OverrideForm
from portal.crypto import EncryptedText
from portal.exceptions import IncompleteConsent, NotAllowed, UnknownRecipient
from portal.models import (
    Category,
    Consent,
    ConsentOverride,
    ConsentPurpose,
    ExpiryEvent,
    Need,
    Offer,
    Organization,
    Person,
    RecipientKind,
    Referral,
    ReferralStatus,
    Role,
    User,
    VerificationStatus,
    utcnow,
)
from portal.people.services import find_person, is_caseworker_of
from portal.versions import check_version

PRE_SEND_STATES = (ReferralStatus.PROPOSED, ReferralStatus.APPROVED)


# --- Who manages consents --------------------------------------------------------------------


def may_manage(session: Session, user: User, person: Person) -> bool:
    """The person's caseworker, or a supervisor of the person's area."""
    if is_caseworker_of(user, person):
        return True
    return user.role == Role.SUPERVISOR and find_person(session, user, person.id) is not None


def find_managed_person(session: Session, user: User, person_id: uuid.UUID) -> Person | None:
    """The person if this user manages their consents; missing and not-yours look the same."""
    person = session.get(Person, person_id)
    return person if person is not None and may_manage(session, user, person) else None


# --- The ledger ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerRow:
    consent: Consent
    recipient: str  # an organization's name, or "" when the consent names a kind of recipient
    state: str  # active, not_yet_valid, expired, revoked


def state_of(consent: Consent, today: date, programme_end: date | None = None) -> str:
    """The consent's state today; `programme_end` is the person's, for a consent that ends with it."""
    if consent.revoked_at is not None:
        return "revoked"
    if consent.valid_from > today:
        return "not_yet_valid"
    if consent.valid_until is not None and consent.valid_until < today:
        return "expired"
    if consent.expiry_event == ExpiryEvent.PROGRAMME_END and programme_end is not None and programme_end < today:
        return "expired"
    return "active"


def consents_of(session: Session, person: Person) -> list[LedgerRow]:
    """The person's consents, newest first, each with its recipient's name and its state today."""
    rows = session.exec(
        select(Consent, Organization.name)
        .outerjoin(Organization, col(Organization.id) == Consent.recipient_organization_id)
        .where(Consent.person_id == person.id)
        .order_by(col(Consent.recorded_at).desc(), col(Consent.id))
    ).all()
    today = local_today()
    return [LedgerRow(consent, name or "", state_of(consent, today, person.programme_end)) for consent, name in rows]


def recipient_organizations(session: Session) -> list[Organization]:
    """Verified organizations, the only ones a consent may name."""
    query = select(Organization).where(Organization.status == VerificationStatus.VERIFIED)
    return list(session.exec(query.order_by(col(Organization.name), col(Organization.id))))


def record_consent(session: Session, user: User, person: Person, form: ConsentForm | Mapping[str, Any]) -> Consent:
    """Record a consent as given, and audit it. `form` is the checked form, or the consent's columns.

    :raise NotAllowed: if the user does not manage this person's consents.
    :raise IncompleteConsent: if an element 42 CFR 2.31(a) requires is missing or invalid.
    :raise UnknownRecipient: if the organization is missing or not verified.
    """
    if not may_manage(session, user, person):
        raise NotAllowed("only the person's caseworker or a supervisor records consent")
    columns = dict(form.columns() if isinstance(form, ConsentForm) else form)
    columns.update(person_id=person.id, recorded_by_id=user.id)
    errors = missing_elements(columns, local_today())
    if errors:
        raise IncompleteConsent(errors)
    organization_id = columns["recipient_organization_id"]
    if organization_id is not None:
        organization = session.get(Organization, organization_id)
        if organization is None or not organization.is_verified:
            raise UnknownRecipient(str(organization_id))
    consent = Consent.model_validate(columns)
    session.add(consent)
    session.flush()
    record(session, user, "consent_recorded", "consent", consent.id)
    session.commit()
    return consent


def find_consent(session: Session, person: Person, consent_id: uuid.UUID) -> Consent | None:
    consent = session.get(Consent, consent_id)
    return consent if consent is not None and consent.person_id == person.id else None


def revoke_consent(
    session: Session, user: User, person: Person, consent: Consent, version: int | None = None
) -> Consent:
    """Revoke a consent from now on; revoking twice changes nothing and is audited once.

    :raise StaleEdit: if the consent changed since the revoking form was shown (e.g. someone else
        revoked it first: the second click learns who, rather than believing it did it).
    """
    if not may_manage(session, user, person) or consent.person_id != person.id:
        raise NotAllowed("only the person's caseworker or a supervisor revokes consent")
    consent = session.exec(select(Consent).where(Consent.id == consent.id).with_for_update()).one()
    session.refresh(consent)
    check_version(session, consent.id, consent.version, version)
    if consent.revoked_at is None:
        consent.revoked_at = utcnow()
        consent.revoked_by_id = user.id
        record(session, user, "consent_revoked", "consent", consent.id)
    session.commit()
    return consent


# --- What a referral needs -------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """Who receives a referral: an organization (and its kind), or a volunteer on their own."""

    organization_id: uuid.UUID | None
    kind: RecipientKind


def recipient_of_offer(session: Session, offer: Offer) -> Recipient:
    """Whom a referral to this offer discloses to, as a consent names them."""
    if offer.organization_id is None:
        return Recipient(None, RecipientKind.INDIVIDUAL_VOLUNTEER)
    organization = session.get(Organization, offer.organization_id)
    kind = RecipientKind(str(organization.kind)) if organization else RecipientKind.NGO
    return Recipient(offer.organization_id, kind)


def purpose_of(offer: Offer) -> ConsentPurpose:
    """A job offer is disclosure for employment; every other offer is a referral for services."""
    return ConsentPurpose.EMPLOYMENT if offer.category == Category.EMPLOYMENT else ConsentPurpose.REFERRAL


def valid_consent(session: Session, person_id: uuid.UUID, offer: Offer, today: date | None = None) -> Consent | None:
    """The consent that covers disclosing this person to this offer's provider today, or None:
    not revoked, started, not ended (by its date, or by the end of the person's programme when that
    is its expiry event), for the offer's purpose, naming its organization or its kind.
    A consent naming the organization is preferred to one naming a kind, then the newest.
    Events the portal cannot see (the end of a referral, an event in words) end a consent when the
    caseworker revokes it."""
    person = session.get(Person, person_id)
    if person is None:
        return None
    return valid_consents(session, [(person, offer)], today)[(person.id, offer.id)]


# A consent's sealed columns (portal.crypto), which deciding what it covers never reads.
_SEALED = [name for name, column in sa.inspect(Consent).columns.items() if isinstance(column.type, EncryptedText)]


def valid_consents(
    session: Session, wanted: Sequence[tuple[Person, Offer]], today: date | None = None
) -> dict[tuple[uuid.UUID, uuid.UUID], Consent | None]:
    """`valid_consent` for many (person, offer) pairs in one query: an inbox or a ranking of many
    referrals asks for each of them. Keyed by (person id, offer id)."""
    today = today or local_today()
    found: dict[tuple[uuid.UUID, uuid.UUID], Consent | None] = {(p.id, o.id): None for p, o in wanted}
    if not wanted:
        return found
    person_ids = {person.id for person, _offer in wanted}
    candidates: dict[uuid.UUID, list[Consent]] = {}
    query = (
        select(Consent)
        .where(
            col(Consent.person_id).in_(person_ids),
            col(Consent.revoked_at).is_(None),
            col(Consent.valid_from) <= today,
            sa.or_(col(Consent.valid_until).is_(None), col(Consent.valid_until) >= today),
        )
        .order_by(col(Consent.recorded_at).desc(), col(Consent.id))
        # What a consent covers is in its plain columns; its sealed words (a note, who signed for
        # the person) are opened only if someone reads them, not for every consent of an inbox.
        .options(*(sa.orm.defer(getattr(Consent, name)) for name in _SEALED))
    )
    for consent in session.exec(query):
        candidates.setdefault(consent.person_id, []).append(consent)
    recipients: dict[uuid.UUID | None, Recipient] = {}
    for person, offer in wanted:
        if offer.organization_id not in recipients:
            recipients[offer.organization_id] = recipient_of_offer(session, offer)
        recipient = recipients[offer.organization_id]
        covering = [c for c in candidates.get(person.id, []) if _covers(c, person, offer, recipient, today)]
        # Naming the organization beats naming its kind; the newest first within each.
        covering.sort(key=lambda c: c.recipient_organization_id is None)
        found[(person.id, offer.id)] = covering[0] if covering else None
    return found


def _covers(consent: Consent, person: Person, offer: Offer, recipient: Recipient, today: date) -> bool:
    """Whether a consent in force by its dates covers this offer: its purpose, its recipient, and
    an end event that has not happened."""
    if consent.purpose != purpose_of(offer):
        return False
    names = consent.recipient_kind == recipient.kind or (
        recipient.organization_id is not None and consent.recipient_organization_id == recipient.organization_id
    )
    if not names:
        return False
    programme_over = person.programme_end is not None and person.programme_end < today
    return not (consent.expiry_event == ExpiryEvent.PROGRAMME_END and programme_over)


def disclosable(recipient: Recipient, today: date | None = None) -> Any:
    """The rule of `valid_consents` and `overrides_of` as one SQL condition on a query that joins
    Referral, Offer and Person, for one recipient: a list can count and page the referrals it may
    show without loading every row. Keep it in step with `_covers`; the rows shown are still
    checked one by one by the disclosure table, so a disagreement hides a row, never shows one."""
    today = today or local_today()
    purpose = sa.case(
        (col(Offer.category) == Category.EMPLOYMENT, ConsentPurpose.EMPLOYMENT.value),
        else_=ConsentPurpose.REFERRAL.value,
    )
    names = col(Consent.recipient_kind) == recipient.kind.value
    if recipient.organization_id is not None:
        names = sa.or_(names, col(Consent.recipient_organization_id) == recipient.organization_id)
    # Written with no NULL left to compare: NOT (NULL AND ...) would drop the consent.
    not_ended = sa.or_(
        col(Consent.expiry_event).is_(None),
        col(Consent.expiry_event) != ExpiryEvent.PROGRAMME_END.value,
        col(Person.programme_end).is_(None),
        col(Person.programme_end) >= today,
    )
    consent = (
        sa.select(col(Consent.id))
        .where(
            col(Consent.person_id) == Person.id,
            col(Consent.revoked_at).is_(None),
            col(Consent.valid_from) <= today,
            sa.or_(col(Consent.valid_until).is_(None), col(Consent.valid_until) >= today),
            col(Consent.purpose) == purpose,
            names,
            not_ended,
        )
        .exists()
    )
    override = sa.select(col(ConsentOverride.id)).where(col(ConsentOverride.referral_id) == Referral.id).exists()
    return sa.or_(consent, override)


def consent_for_referral(session: Session, referral: Referral) -> Consent | None:
    need = session.get(Need, referral.need_id)
    offer = session.get(Offer, referral.offer_id)
    if need is None or offer is None:
        return None
    return valid_consent(session, need.person_id, offer)


def unconsented_referrals(session: Session, person: Person) -> set[uuid.UUID]:
    """The person's referrals waiting to be approved or sent that no consent or override covers yet."""
    waiting = session.exec(
        select(Referral)
        .join(Need, col(Need.id) == Referral.need_id)
        .where(Need.person_id == person.id, col(Referral.status).in_(PRE_SEND_STATES))
    )
    return {referral.id for referral in waiting if not may_disclose(session, referral)}


def overrides_for_person(session: Session, person: Person) -> dict[uuid.UUID, ConsentOverride]:
    """Each of the person's referrals sent on a supervisor's legal basis, with that override."""
    rows = session.exec(
        select(ConsentOverride)
        .join(Referral, col(Referral.id) == ConsentOverride.referral_id)
        .join(Need, col(Need.id) == Referral.need_id)
        .where(Need.person_id == person.id)
        .order_by(col(ConsentOverride.at))
    )
    return {override.referral_id: override for override in rows}


def override_of(session: Session, referral_id: uuid.UUID) -> ConsentOverride | None:
    """The supervisor's override recorded for this referral, if any (the latest)."""
    return overrides_of(session, [referral_id]).get(referral_id)


def overrides_of(session: Session, referral_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ConsentOverride]:
    """The latest override of each of these referrals that has one, in one query."""
    if not referral_ids:
        return {}
    query = select(ConsentOverride).where(col(ConsentOverride.referral_id).in_(set(referral_ids)))
    latest: dict[uuid.UUID, ConsentOverride] = {}
    for override in session.exec(query.order_by(col(ConsentOverride.at).desc(), col(ConsentOverride.id))):
        latest.setdefault(override.referral_id, override)
    return latest


def may_disclose(session: Session, referral: Referral) -> bool:
    """Whether the referral may go to its provider: a valid consent, or a supervisor's override."""
    return consent_for_referral(session, referral) is not None or override_of(session, referral.id) is not None


def record_override(session: Session, user: User, referral: Referral, form: OverrideForm) -> ConsentOverride:
    """A supervisor of the person's area records the legal basis for sending without consent.

    :raise NotAllowed: for anyone else.
    """
    need = session.get(Need, referral.need_id)
    if user.role != Role.SUPERVISOR or need is None or find_person(session, user, need.person_id) is None:
        raise NotAllowed("only a supervisor of the person's area overrides consent")
    override = ConsentOverride(referral_id=referral.id, by_id=user.id, basis=form.basis, note=form.note.strip())
    session.add(override)
    session.flush()
    record(session, user, "consent_override", "referral", referral.id)
    session.commit()
    return override
