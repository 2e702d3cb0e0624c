"""Offers: who sees which, and the changes their owners make."""

import uuid
from dataclasses import dataclass

from sqlalchemy import String, cast, exists, func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from portal.areas import in_area, place
from portal.exceptions import MissingFairChance, NotAllowed, ReferenceTaken, StillReferred
from portal.keyset import DEFAULT_PER_PAGE, Page, SortKey, decode_cursor, encode_cursor, page_of
from portal.models import (
    DIRECTORY_ROLES,
    Category,
    Offer,
    OfferStatus,
    Organization,
    Referral,
    Role,
    User,
    VerificationStatus,
    utcnow,
)
from portal.offers.forms import OfferForm
from portal.offers.search import text_match
from portal.referrals.states import AWAITING_ANSWER, HOLDS_A_PLACE
from portal.versions import check_version

# Which status an action leads to, from which statuses.
TRANSITIONS: dict[str, tuple[frozenset[OfferStatus], OfferStatus]] = {
    "publish": (frozenset({OfferStatus.DRAFT}), OfferStatus.OPEN),
    "pause": (frozenset({OfferStatus.OPEN}), OfferStatus.PAUSED),
    "reopen": (frozenset({OfferStatus.PAUSED, OfferStatus.CLOSED}), OfferStatus.OPEN),
    "close": (frozenset({OfferStatus.DRAFT, OfferStatus.OPEN, OfferStatus.PAUSED}), OfferStatus.CLOSED),
}


def available_actions(offer: Offer) -> list[str]:
    return [name for name, (sources, _target) in TRANSITIONS.items() if offer.status in sources]


def owns(user: User, offer: Offer) -> bool:
    """A provider owns its organization's offers; a volunteer owns their own."""
    if user.role == Role.PROVIDER:
        return user.organization_id is not None and offer.organization_id == user.organization_id
    if user.role == Role.VOLUNTEER:
        return offer.volunteer_id == user.id
    return False


def visible_to_staff(query: SelectOfScalar[Offer]) -> SelectOfScalar[Offer]:
    """Offers of pending organizations and unverified volunteers, and drafts, stay unseen."""
    verified_org = exists().where(
        col(Organization.id) == Offer.organization_id, col(Organization.status) == VerificationStatus.VERIFIED
    )
    verified_volunteer = exists().where(
        col(User.id) == Offer.volunteer_id, col(User.verified_at).is_not(None), col(User.active).is_(True)
    )
    # Asked of each offer (EXISTS), not as an IN of the owners: SQLite cannot answer an IN of two
    # owner columns by reading every visible offer through their indexes and sorting them, and
    # PostgreSQL tests each offer against its owner at once, where a join with the list of owners
    # compared every offer of a search with each of them in turn.
    return query.where(Offer.status != OfferStatus.DRAFT, or_(verified_org, verified_volunteer))


def touch_offers_of(session: Session, owner: Organization | User) -> None:
    """Mark an owner's offers changed (verification, deactivation), so the matching index sees it."""
    column = Offer.organization_id if isinstance(owner, Organization) else Offer.volunteer_id
    for offer in session.exec(select(Offer).where(column == owner.id)):
        offer.updated_at = utcnow()


def find_offer(session: Session, user: User, offer_id: uuid.UUID) -> Offer | None:
    """The offer if this user may see it; missing and hidden look the same."""
    offer = session.get(Offer, offer_id)
    if offer is None:
        return None
    if owns(user, offer):
        return offer
    if user.role in DIRECTORY_ROLES:
        visible = session.exec(visible_to_staff(select(Offer).where(Offer.id == offer_id))).first()
        return visible
    return None


def find_own_offer(session: Session, user: User, offer_id: uuid.UUID) -> Offer | None:
    """The offer if this user may change it; missing and not-yours look the same."""
    offer = session.get(Offer, offer_id)
    return offer if offer is not None and owns(user, offer) else None


def owned_by(user: User) -> SelectOfScalar[Offer]:
    """The offers of the user's organization, or the volunteer's own."""
    if user.role == Role.PROVIDER:
        return select(Offer).where(Offer.organization_id == user.organization_id)
    return select(Offer).where(Offer.volunteer_id == user.id)


# The user's own offers, the latest changed first; the id makes the order total.
OWN_ORDER = (SortKey(col(Offer.updated_at), descending=True), SortKey(col(Offer.id), descending=True))


def own_offers(
    session: Session, user: User, cursor: str | None = None, per_page: int = DEFAULT_PER_PAGE
) -> Page[Offer]:
    """A page of the user's offers, the latest changed first (the home page shows the first few).

    :raise BadCursor: the cursor was not written for this list.
    """
    return page_of(session, owned_by(user), OWN_ORDER, lambda offer: (offer.updated_at, offer.id), cursor, per_page)


@dataclass(frozen=True)
class DirectoryFilter:
    text: str = ""
    category: Category | None = None
    area_id: uuid.UUID | None = None
    language: str = ""
    status: OfferStatus | None = None
    # Where the page starts: the cursor of the page before's last offer; "" for the first page.
    after: str = ""


@dataclass(frozen=True)
class DirectoryPage:
    offers: list[Offer]
    # How many offers match, counted up to COUNT_LIMIT + 1 only: past that, "more than".
    total: int
    # Offers found through a word of the same meaning, not through the words typed.
    related: frozenset[uuid.UUID]
    next_cursor: str | None


# Counting every match of a broad query would read them all; past this many, the page says "more than".
# A hundred can be counted offer by offer through the index; a thousand had PostgreSQL read the whole
# list of a common word's offers (15,000 for "培训" and its synonyms at city size) into a hash.
COUNT_LIMIT = 100
# The directory's order, most recently confirmed first (the index ix_offer_last_confirmed_at_id).
ORDER = [SortKey(col(Offer.last_confirmed_at), descending=True), SortKey(col(Offer.id), descending=True)]
# A cursor in the second part of a search's list, the offers found through the vocabulary, starts
# with this (a character base64 cursors never hold).
RELATED_PART = "~"


def _sort_values(offer: Offer) -> list[object]:
    return [offer.last_confirmed_at, offer.id]


def _check_cursor(cursor: str) -> None:
    """Refuse a bad cursor before any query of the page runs. :raise BadCursor:"""
    decode_cursor(cursor, ORDER)


def _two_part_page(
    session: Session,
    query: SelectOfScalar[Offer],
    exact: ColumnElement[bool],
    related: ColumnElement[bool],
    after: str,
    size: int,
) -> tuple[Page[Offer], frozenset[uuid.UUID]]:
    """A page of a search the vocabulary widened: first the offers holding the words typed, then
    those found through a word of the same meaning, each part in the directory's order (so each
    reads its page from the index instead of ranking every match). Returns the page and the offers
    on it found through the vocabulary."""
    in_related = after.startswith(RELATED_PART)
    offers: list[Offer] = []
    if not in_related:
        own = page_of(session, query.where(exact), ORDER, _sort_values, after or None, size)
        if own.next_cursor:
            return own, frozenset()
        offers = own.items
        if len(offers) == size:
            # A full page that ends the first part: a "Next" only when the second part has offers.
            more = session.exec(query.where(related).limit(1)).first() is not None
            return Page(offers, encode_cursor(_sort_values(offers[-1])) if more else None), frozenset()
    cursor = after.removeprefix(RELATED_PART) if in_related else None
    second = page_of(session, query.where(related), ORDER, _sort_values, cursor, size - len(offers))
    next_cursor = RELATED_PART + second.next_cursor if second.next_cursor else None
    return Page(offers + second.items, next_cursor), frozenset(offer.id for offer in second.items)


def search_directory(session: Session, wanted: DirectoryFilter, page_size: int) -> DirectoryPage:
    """One page of the published offers of verified providers that match every given filter.

    :raise BadCursor: `wanted.after` is not a cursor of this list.
    """
    query = visible_to_staff(select(Offer))
    if wanted.category:
        query = query.where(Offer.category == wanted.category)
    if wanted.area_id:
        query = query.where(in_area(col(Offer.area_id), wanted.area_id))
    if wanted.language:
        # Languages are a JSON list of two-letter codes; its text form holds "zh" with quotes.
        query = query.where(cast(Offer.languages, String).like(f'%"{wanted.language}"%'))
    if wanted.status:
        query = query.where(Offer.status == wanted.status)
    match = text_match(wanted.text) if wanted.text else None
    widened = match is not None and match.related is not None
    if wanted.after:
        _check_cursor(wanted.after.removeprefix(RELATED_PART) if widened else wanted.after)
    found = query.where(match.condition) if match is not None else query
    matching_ids = found.with_only_columns(col(Offer.id)).limit(COUNT_LIMIT + 1).subquery()
    total = session.exec(select(func.count()).select_from(matching_ids)).one()
    if match is not None and match.related is not None:
        page, related = _two_part_page(session, query, match.exact, match.related, wanted.after, page_size)
    else:
        page = page_of(session, found, ORDER, _sort_values, wanted.after or None, page_size)
        related = frozenset()
    return DirectoryPage(offers=page.items, total=total, related=related, next_cursor=page.next_cursor)


def _apply(session: Session, offer: Offer, form: OfferForm, new: bool = False) -> None:
    before = None if new else (offer.area_id, offer.latitude, offer.longitude)
    # Placed first: reading the areas must not flush half a change (one save, one new version).
    latitude, longitude = place(session, form.area_id, (form.latitude, form.longitude), before)
    values = form.model_dump(exclude={"skills", "version"})
    values.update(form.job_fields_cleared())
    for name, value in values.items():
        setattr(offer, name, value)
    offer.skills = form.skill_list()
    offer.contact_email = form.contact_email or ""
    offer.latitude, offer.longitude = latitude, longitude


def create_offer(session: Session, user: User, form: OfferForm) -> Offer:
    """A new offer as a draft, owned by the user's organization, or by the volunteer."""
    if user.role == Role.PROVIDER and user.organization_id is not None:
        offer = Offer(organization_id=user.organization_id, category=form.category, title=form.title)
    elif user.role == Role.VOLUNTEER:
        offer = Offer(volunteer_id=user.id, category=form.category, title=form.title)
    else:
        raise NotAllowed("only providers and volunteers post offers")
    _apply(session, offer, form, new=True)
    offer.created_by_id = user.id
    session.add(offer)
    _commit_with_reference(session, offer)
    return offer


def _commit_with_reference(session: Session, offer: Offer) -> None:
    """Commit the offer unless another of its owner's offers has its reference (checked first, and
    by the unique index when two saves race).

    :raise ReferenceTaken: nothing is saved.
    """
    owner = (
        col(Offer.organization_id) == offer.organization_id
        if offer.organization_id
        else col(Offer.volunteer_id) == offer.volunteer_id
    )
    with session.no_autoflush:
        taken = (
            offer.reference
            and session.exec(
                select(Offer.id).where(owner, Offer.reference == offer.reference, Offer.id != offer.id)
            ).first()
        )
    if taken:
        session.rollback()
        raise ReferenceTaken(offer.reference)
    try:
        session.commit()
    except IntegrityError as error:
        session.rollback()
        raise ReferenceTaken(offer.reference) from error


def _lock(session: Session, offer: Offer) -> Offer:
    """Re-read the offer under a row lock, so two saves cannot interleave (PostgreSQL)."""
    locked = session.exec(select(Offer).where(Offer.id == offer.id).with_for_update()).one()
    session.refresh(locked)
    return locked


def update_offer(session: Session, user: User, offer: Offer, form: OfferForm) -> Offer:
    """Save the owner's changes, unless someone saved the offer since the form was loaded."""
    if not owns(user, offer):
        raise NotAllowed("not the owner")
    offer = _lock(session, offer)
    check_version(session, offer.id, offer.version, form.version)
    _apply(session, offer, form)
    # Editing is a confirmation that the offer is current.
    offer.last_confirmed_at = offer.updated_at = utcnow()
    _commit_with_reference(session, offer)
    return offer


def owner_names(session: Session, offers: list[Offer]) -> dict[uuid.UUID, str]:
    """Who offers each offer (its organization, or the volunteer), in one query per kind of owner."""
    org_ids = {o.organization_id for o in offers if o.organization_id}
    volunteer_ids = {o.volunteer_id for o in offers if o.volunteer_id}
    names: dict[uuid.UUID, str] = {}
    if org_ids:
        for org in session.exec(select(Organization).where(col(Organization.id).in_(org_ids))):
            names[org.id] = org.name
    if volunteer_ids:
        for user in session.exec(select(User).where(col(User.id).in_(volunteer_ids))):
            names[user.id] = user.name
    return {o.id: names.get(o.organization_id or o.volunteer_id or o.id, "") for o in offers}


def has_fair_chance_answer(offer: Offer) -> bool:
    """Whether the offer may be open: a job says how it treats applicants in recovery or with a
    record, or its employer said it gives no statement (older jobs may have neither)."""
    return offer.category != Category.EMPLOYMENT or bool(offer.fair_chance_statement) or offer.fair_chance_none_given


def change_status(session: Session, user: User, offer: Offer, action: str, confirmed: bool = False) -> Offer:
    """Publish, pause, reopen or close an offer; other moves are refused. Pausing or closing an
    offer with referrals under way needs `confirmed`: it stops new referrals only, and those under
    way go on (people keep their places, waiting ones are still answered, outcomes recorded).

    :raise StillReferred: unconfirmed, with how many referrals hold a place and wait for an answer.
    """
    if not owns(user, offer):
        raise NotAllowed("not the owner")
    offer = _lock(session, offer)
    sources, target = TRANSITIONS.get(action, (frozenset(), None))
    if target is None or offer.status not in sources:
        session.rollback()
        raise NotAllowed(f"cannot {action} an offer that is {offer.status}")
    if target == OfferStatus.OPEN and not has_fair_chance_answer(offer):
        session.rollback()
        raise MissingFairChance("a job is published with a fair-chance statement, or with none given")
    if target in (OfferStatus.PAUSED, OfferStatus.CLOSED) and not confirmed:
        holding, waiting = _under_way(session, offer.id)
        if holding or waiting:
            session.rollback()
            raise StillReferred(holding, waiting)
    offer.status = target
    offer.updated_at = utcnow()
    if target == OfferStatus.OPEN:
        offer.last_confirmed_at = offer.updated_at
    session.commit()
    return offer


def _under_way(session: Session, offer_id: uuid.UUID) -> tuple[int, int]:
    """How many of the offer's referrals hold a place, and how many wait for the owner's answer."""
    counted = session.exec(
        select(Referral.status, func.count())
        .where(Referral.offer_id == offer_id, col(Referral.status).in_([*HOLDS_A_PLACE, *AWAITING_ANSWER]))
        .group_by(col(Referral.status))
    ).all()
    by_state: dict[str, int] = dict(counted)
    return sum(by_state.get(s, 0) for s in HOLDS_A_PLACE), sum(by_state.get(s, 0) for s in AWAITING_ANSWER)


def confirm_offer(session: Session, user: User, offer: Offer) -> Offer:
    """The owner says the offer is still current: it stops being stale."""
    if not owns(user, offer):
        raise NotAllowed("not the owner")
    offer = _lock(session, offer)
    offer.last_confirmed_at = utcnow()
    session.commit()
    return offer
