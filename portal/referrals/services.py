"""Referrals: created from an approved match, moved through the state machine of states.py, each
step recorded with who, when and why. Capacity is real: accepting takes a place under a row lock,
so two providers' staff can never take the last place twice."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal.areas import areas_containing
from portal.audit.services import record
from portal.consents.services import Recipient, disclosable, may_disclose
from portal.disclosure import VISIBLE_STATES, Disclosure, Viewer, disclose_all, organization_of, viewer_of
from portal.exceptions import AlreadyReferred, IllegalTransition, MissingReason, NoConsent, NoPlaceLeft, NotAllowed
from portal.keyset import DEFAULT_PER_PAGE, Page, SortKey, page_and_counts
from portal.matches.learning import learning_on, record_decision
from portal.matches.services import LiveIndex, rank_need, recorded_reasons
from portal.models import (
    DecisionKind,
    Dismissal,
    Need,
    NeedStatus,
    NoticeTarget,
    Offer,
    Organization,
    Person,
    RecipientKind,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
    utcnow,
)
from portal.notifications.services import notify, notify_providers
from portal.people.services import find_person
from portal.referrals.states import (
    AWAITING_ANSWER,
    CONTACT_METHODS,
    HOLDS_A_PLACE,
    MOVES,
    OPEN_STATES,
    RECORD_CLOSED,
)
from portal.versions import check_version

# Approving and sending disclose the person to the provider: each needs consent (or an override).
CONSENT_GATED = frozenset({"approve", "send"})


@dataclass(frozen=True)
class Policy:
    """The programme's rules, from the configuration: who approves, how long providers have."""

    supervisor_approval: bool = False
    # Days a provider has to answer, by offer category ("default" for the rest).
    response_days: Mapping[str, int] = field(default_factory=lambda: {"default": 5})

    def days_for(self, category: str) -> int:
        return int(self.response_days.get(category, self.response_days.get("default", 5)))


def _owner_of(offer: Offer, user: User) -> bool:
    if user.role == Role.PROVIDER:
        return user.organization_id is not None and offer.organization_id == user.organization_id
    return user.role == Role.VOLUNTEER and offer.volunteer_id == user.id


def _may(session: Session, referral: Referral, user: User | None, side: str) -> bool:
    """Whether this user acts for this side of the referral (None is the portal itself)."""
    if side == "system":
        return user is None
    if user is None:
        return False
    if side == "provider":
        offer = session.get(Offer, referral.offer_id)
        return offer is not None and _owner_of(offer, user)
    need = session.get(Need, referral.need_id)
    person = find_person(session, user, need.person_id) if need else None
    return person is not None  # the person's caseworker, or a supervisor of their area


def _record(
    session: Session, referral: Referral, target: ReferralStatus, actor: User | None, reason: str, note: str
) -> None:
    session.add(
        ReferralEvent(
            referral_id=referral.id,
            from_status=referral.status if referral.status != target else None,
            to_status=target,
            actor_id=actor.id if actor else None,
            reason_code=reason,
            note=note,
        )
    )
    referral.status = target
    if reason:  # the referral carries its last decline, withdrawal or outcome code, as its step does
        referral.reason_code = reason
    referral.updated_at = utcnow()
    record(session, actor, str(target), "referral", referral.id)  # "sent" discloses the person to the provider


def transition(
    session: Session,
    referral: Referral,
    action: str,
    actor: User | None,
    *,
    reason: str = "",
    note: str = "",
    policy: Policy = Policy(),
    live: LiveIndex | None = None,
    version: int | None = None,
    summary: str | None = None,
) -> Referral:
    """Take one action on a referral, or refuse it; the whole change commits at once.

    `version` is the referral's version when the acting form was shown: if it moved since, the
    action is refused with StaleEdit, so a decision is never taken on a state the user did not see.
    `summary`, given with an approval, replaces what the provider will read about the need.
    """
    move = MOVES.get(action)
    if move is None:
        raise IllegalTransition(action)
    # Lock the referral (and, below, the offer): two clicks at once cannot both move it.
    referral = session.exec(select(Referral).where(Referral.id == referral.id).with_for_update()).one()
    session.refresh(referral)
    if not _may(session, referral, actor, move.side):
        session.rollback()
        raise NotAllowed(action)
    check_version(session, referral.id, referral.version, version)
    if action == "approve" and policy.supervisor_approval and (actor is None or actor.role != Role.SUPERVISOR):
        session.rollback()
        raise NotAllowed("this programme needs a supervisor's approval")
    if referral.status not in move.sources:
        session.rollback()
        raise IllegalTransition(f"cannot {action} a referral that is {referral.status}")
    if move.reasons and reason not in move.reasons:
        session.rollback()
        raise MissingReason(action)
    if action in CONSENT_GATED and not may_disclose(session, referral):
        session.rollback()
        raise NoConsent(str(referral.id))
    offer = session.exec(select(Offer).where(Offer.id == referral.offer_id).with_for_update()).one()
    session.refresh(offer)
    if action == "accept":
        if offer.capacity <= 0:
            session.rollback()
            raise NoPlaceLeft(str(offer.id))
        _take_place(offer, -1)
    if action == "withdraw" and referral.status in HOLDS_A_PLACE:
        _take_place(offer, +1)
    before = referral.status
    if action == "approve" and summary is not None:
        referral.summary = summary
    _record(session, referral, move.target, actor, reason, note)
    if action == "send":
        referral.respond_by = utcnow() + timedelta(days=policy.days_for(offer.category))
    _tell(session, referral, offer, action, before, reason)
    session.commit()
    if action in {"decline", "expire"} and live is not None:
        propose_next_best(session, live, referral.need_id)
    return referral


def withdraw_for_closed_record(session: Session, referral: Referral, actor: User | None) -> None:
    """Withdraw an open referral of a record being anonymised or erased, inside the caller's
    transaction (the closing commits it all at once): the place it held goes back, the step is
    recorded and audited, and the provider is told, as for a caseworker's withdrawal."""
    offer = session.get(Offer, referral.offer_id)
    before = referral.status
    if offer is not None and before in HOLDS_A_PLACE:
        _take_place(offer, +1)
    _record(session, referral, ReferralStatus.WITHDRAWN, actor, RECORD_CLOSED, "")
    referral.reason_code = RECORD_CLOSED
    if offer is not None:
        _tell(session, referral, offer, "withdraw", before)


def _take_place(offer: Offer, change: int) -> None:
    offer.capacity += change
    offer.version += 1
    offer.updated_at = utcnow()  # the matching index catches up with the new capacity


def _tell(
    session: Session, referral: Referral, offer: Offer, action: str, before: ReferralStatus, reason: str = ""
) -> None:
    """Who hears about this step: providers of new referrals, caseworkers of decisions (with the
    reason of a decline and the outcome of a completion)."""
    need = session.get(Need, referral.need_id)
    person = session.get(Person, need.person_id) if need else None
    if action == "send":
        notify_providers(session, offer, "referral_received")
    elif action == "withdraw" and before in VISIBLE_STATES:
        # It leaves their inbox; they should not keep a place or call the person.
        notify_providers(session, offer, "referral_withdrawn")
    elif action in {"accept", "decline", "waitlist", "start", "complete", "expire"} and person is not None:
        notify(
            session,
            person.caseworker_id,
            f"referral_{action}",
            NoticeTarget.PERSON,
            person.id,
            offer=offer.title,
            person=person.code,
            before=str(before),
            **({"reason": reason} if action in {"decline", "complete"} and reason else {}),
        )


def _open_or_tried(session: Session, need_id: uuid.UUID) -> set[uuid.UUID]:
    """Offers already referred or set aside for this need: never proposed to it again."""
    referred = session.exec(select(Referral.offer_id).where(Referral.need_id == need_id))
    dismissed = session.exec(select(Dismissal.offer_id).where(Dismissal.need_id == need_id))
    return set(referred) | set(dismissed)


def propose(
    session: Session, need: Need, offer_id: uuid.UUID, actor: User | None, score: float | None, reasons: Sequence[str]
) -> Referral:
    """A proposed referral (the caller commits)."""
    referral = Referral(need_id=need.id, offer_id=offer_id, score=score, reasons=list(reasons))
    referral.created_by_id = actor.id if actor else None
    session.add(referral)
    session.flush()  # the referral row first: its first event refers to it
    session.add(
        ReferralEvent(referral_id=referral.id, to_status=ReferralStatus.PROPOSED, actor_id=referral.created_by_id)
    )
    record(session, actor, str(ReferralStatus.PROPOSED), "referral", referral.id)
    return referral


def open_referral(session: Session, need_id: uuid.UUID, offer_id: uuid.UUID) -> Referral | None:
    """The need's referral to this offer that is still under way, if there is one (at most one)."""
    return session.exec(
        select(Referral).where(
            Referral.need_id == need_id, Referral.offer_id == offer_id, col(Referral.status).in_(OPEN_STATES)
        )
    ).first()


def _propose_once(
    session: Session, need: Need, offer_id: uuid.UUID, actor: User | None, score: float | None, reasons: Sequence[str]
) -> Referral:
    """`propose`, or AlreadyReferred when the need has an open referral to the offer. A concurrent
    approval of the same match is caught by the unique index: on PostgreSQL this insert waits for
    the other transaction, then fails once it commits; the transaction is rolled back.

    :raise AlreadyReferred: naming the open referral, which the caller can show instead.
    """
    existing = open_referral(session, need.id, offer_id)
    if existing is None:
        try:
            return propose(session, need, offer_id, actor, score, reasons)
        except IntegrityError:
            session.rollback()
            existing = open_referral(session, need.id, offer_id)
            if existing is None:
                raise
    session.rollback()
    raise AlreadyReferred(existing.id, str(existing.status))


def propose_next_best(session: Session, live: LiveIndex, need_id: uuid.UUID) -> Referral | None:
    """After a decline or an expiry, propose the best eligible offer not yet tried for the need."""
    need = session.get(Need, need_id)
    if need is None or need.status != NeedStatus.OPEN:
        return None
    person = session.get(Person, need.person_id)
    if person is None or person.refuses_ranked_suggestions:
        return None  # the caseworker chooses the next offer with them
    tried = _open_or_tried(session, need.id)
    ranked = rank_need(session, live, need, top=len(tried) + 10, near_misses=0).ranked
    best = next((match for match in ranked if match.offer.id not in tried), None)
    if best is None:
        return None
    try:
        referral = _propose_once(session, need, best.offer.id, None, best.score, recorded_reasons(best.reasons))
    except AlreadyReferred:
        return None  # the caseworker approved it in the meantime
    notify(session, person.caseworker_id, "referral_proposed", NoticeTarget.PERSON, person.id, offer=best.offer.title)
    session.commit()
    return referral


def approve_match(
    session: Session,
    live: LiveIndex,
    user: User,
    need: Need,
    offer_id: uuid.UUID,
    policy: Policy,
    contact_method: str = "via_caseworker",
    summary: str = "",
    learning_programmes: Sequence[str] = (),
) -> Referral:
    """The caseworker approves a ranked offer for a need: a referral is made and, unless the
    programme needs a supervisor's approval, approved and sent to the provider at once. `summary`
    is what the provider will read about the need, in place of the caseworker's own description.
    In the programmes that let the ranker learn, the approval is recorded against the ranking shown.

    :raise AlreadyReferred: the need has an open referral to this offer already; nothing changes.
    """
    person = session.get(Person, need.person_id)
    if person is None or user.role != Role.CASEWORKER or person.caseworker_id != user.id:
        raise NotAllowed("not this caseworker's person")
    if need.status != NeedStatus.OPEN:
        raise IllegalTransition("the need is not open")
    # Eligible offers only: rank again now, so a stale page cannot refer to an offer that filled up.
    ranked = {m.offer.id: m for m in rank_need(session, live, need, top=50, near_misses=0).ranked}
    match = ranked.get(offer_id)
    if match is None and open_referral(session, need.id, offer_id) is None:
        raise IllegalTransition("the offer is not an eligible match for this need any more")
    score, reasons = (match.score, recorded_reasons(match.reasons)) if match else (None, [])
    referral = _propose_once(session, need, offer_id, user, score, reasons)
    referral.contact_method = contact_method if contact_method in CONTACT_METHODS else "via_caseworker"
    referral.summary = summary
    if learning_on(learning_programmes, person):
        record_decision(session, need.id, offer_id, DecisionKind.APPROVED)
    session.commit()
    if policy.supervisor_approval:
        notify_supervisors(session, person, referral)
        return referral
    return approve_and_send(session, referral, user, policy)


def approve_and_send(
    session: Session,
    referral: Referral,
    user: User,
    policy: Policy,
    version: int | None = None,
    summary: str | None = None,
) -> Referral:
    """Approve a proposed referral (a supervisor's, where the programme needs one) and send it,
    with the summary for the provider when one is given (else the one written when proposing).

    :raise NoConsent: before anything changes, if no consent or override covers the recipient.
    :raise StaleEdit: if the referral changed since the approving form was shown.
    """
    transition(session, referral, "approve", user, policy=policy, version=version, summary=summary)
    return transition(session, referral, "send", user, policy=policy)


def notify_supervisors(session: Session, person: Person, referral: Referral) -> None:
    """Ask the supervisors of the person's area (the grid, its street, its district) to approve;
    a supervisor elsewhere may not see the person, so is not told of them."""
    if person.area_id is None:
        return
    supervisors = session.exec(
        select(User.id).where(
            User.role == Role.SUPERVISOR,
            col(User.active).is_(True),
            col(User.area_id).in_(areas_containing(person.area_id)),
        )
    )
    for supervisor_id in supervisors.all():
        notify(session, supervisor_id, "referral_needs_approval", NoticeTarget.PERSON, person.id, person=person.code)
    session.commit()


def dismiss_match(
    session: Session,
    user: User,
    need: Need,
    offer_id: uuid.UUID,
    reason: str,
    note: str,
    learning_programmes: Sequence[str] = (),
) -> Dismissal:
    """Set a ranked offer aside for this need, with the reason; it is not proposed again. In the
    programmes that let the ranker learn, the set-aside is recorded against the ranking shown."""
    person = session.get(Person, need.person_id)
    if person is None or user.role != Role.CASEWORKER or person.caseworker_id != user.id:
        raise NotAllowed("not this caseworker's person")
    existing = session.exec(
        select(Dismissal).where(Dismissal.need_id == need.id, Dismissal.offer_id == offer_id)
    ).first()
    if existing is not None:
        return existing
    dismissal = Dismissal(need_id=need.id, offer_id=offer_id, reason=reason, note=note, by_id=user.id)
    session.add(dismissal)
    if learning_on(learning_programmes, person):
        record_decision(session, need.id, offer_id, DecisionKind.SET_ASIDE, reason)
    session.commit()
    return dismissal


def decided_offers(session: Session, need_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """For each offer already referred or set aside for this need, what became of it."""
    decided = {d.offer_id: "dismissed" for d in session.exec(select(Dismissal).where(Dismissal.need_id == need_id))}
    for referral in session.exec(select(Referral).where(Referral.need_id == need_id)):
        decided[referral.offer_id] = str(referral.status)
    return decided


def timeline(session: Session, need_ids: Sequence[uuid.UUID]) -> list[tuple[Referral, str, list[ReferralEvent]]]:
    """The referrals made for these needs, newest first, each with its offer's title and its steps."""
    if not need_ids:
        return []
    rows = session.exec(
        select(Referral, Offer.title)
        .join(Offer, col(Offer.id) == Referral.offer_id)
        .where(col(Referral.need_id).in_(need_ids))
        .order_by(col(Referral.created_at).desc(), col(Referral.id))
    ).all()
    referrals = [referral for referral, _title in rows]
    titles = {referral.id: title for referral, title in rows}
    events: dict[uuid.UUID, list[ReferralEvent]] = {r.id: [] for r in referrals}
    if referrals:
        for event in session.exec(
            select(ReferralEvent)
            .where(col(ReferralEvent.referral_id).in_(list(events)))
            .order_by(col(ReferralEvent.at), col(ReferralEvent.id))
        ):
            events[event.referral_id].append(event)
    return [(r, titles[r.id], events[r.id]) for r in referrals]


@dataclass(frozen=True)
class InboxItem:
    """A referral as a provider sees it: the person only through the disclosure table."""

    referral: Referral
    offer: Offer
    disclosure: Disclosure


# The inbox's filters: what the provider has to answer, what they took on, and everything they see.
INBOX_FILTERS: dict[str, frozenset[ReferralStatus]] = {
    "waiting": frozenset(AWAITING_ANSWER),
    "accepted": frozenset({ReferralStatus.ACCEPTED}),
    "in_progress": frozenset({ReferralStatus.IN_PROGRESS}),
    "all": VISIBLE_STATES,
}

# What needs an answer comes first, the nearest deadline (the longest sent) first; then the rest,
# in the order they were sent. The id makes the order total, so a page never repeats a referral.
_ANSWER_FIRST = sa.case((col(Referral.status).in_(AWAITING_ANSWER), 0), else_=1)
_DUE = sa.func.coalesce(col(Referral.respond_by), col(Referral.created_at))


def own_offers(user: User) -> Any:
    """The SQL condition of the offers whose referrals this provider receives: the organization's, or
    the volunteer's own."""
    if user.role == Role.PROVIDER and user.organization_id is not None:
        return Offer.organization_id == user.organization_id
    if user.role == Role.VOLUNTEER:
        return Offer.volunteer_id == user.id
    return sa.false()


def _recipient(organization: Organization | None, user: User) -> Recipient | None:
    """Whom the inbox discloses to, as a consent names them: the volunteer, or their organization."""
    if user.role == Role.VOLUNTEER:
        return Recipient(None, RecipientKind.INDIVIDUAL_VOLUNTEER)
    if user.role != Role.PROVIDER or organization is None:
        return None
    return Recipient(organization.id, RecipientKind(str(organization.kind)))


def _visible(session: Session, user: User) -> tuple[Viewer, Any] | None:
    """The disclosure table's row this user reads with, and the SQL condition of the referrals the
    inbox may show them: to their own offers, in a state the table opens, and covered today by a
    consent or a supervisor's override. None for anyone who receives no referrals."""
    organization = organization_of(session, user)
    viewer, recipient = viewer_of(user, organization), _recipient(organization, user)
    if viewer is None or recipient is None:
        return None
    return viewer, sa.and_(own_offers(user), col(Referral.status).in_(VISIBLE_STATES), disclosable(recipient))


def _joined(statement: Any) -> Any:
    """What the inbox's conditions read: the referral's offer and person (through its own person,
    not every referral's need)."""
    return statement.join(Offer, col(Offer.id) == Referral.offer_id).join(Person, col(Person.id) == Referral.person_id)


def _disclosed(session: Session, viewer: Viewer, referral_ids: Sequence[uuid.UUID]) -> list[InboxItem]:
    """These referrals as the provider sees them, in the same order; each is checked again against
    the disclosure table and today's consent, and one it does not open is left out."""
    if not referral_ids:
        return []
    rows = session.exec(
        _joined(select(Referral, Offer, Need, Person))
        .join(Need, col(Need.id) == Referral.need_id)
        .where(col(Referral.id).in_(referral_ids))
    ).all()
    by_id = {row[0].id: row for row in rows}
    seen = [by_id[referral_id] for referral_id in referral_ids if referral_id in by_id]
    disclosures = disclose_all(session, viewer, seen)
    return [
        InboxItem(referral, offer, disclosure)
        for (referral, offer, _need, _person), disclosure in zip(seen, disclosures, strict=True)
        if disclosure is not None
    ]


@dataclass(frozen=True)
class Inbox:
    """One page of an inbox's filter, and how many referrals each of its filters holds."""

    page: Page[InboxItem]
    counts: dict[str, int]


def inbox(
    session: Session,
    user: User,
    states: frozenset[ReferralStatus] = VISIBLE_STATES,
    cursor: str | None = None,
    per_page: int = DEFAULT_PER_PAGE,
) -> Inbox:
    """One page of the referrals to the user's offers (the organization's, or the volunteer's own)
    in these states, answers due first, with the count of each filter. The counts need every
    referral the provider may see, each checked against its consent: one statement makes that
    check once (a materialised CTE of the columns the order needs) and returns the page's keys and
    the counts. Only the referrals shown are then loaded and decrypted.

    :raise BadCursor: the cursor was not written for this inbox.
    """
    counts = dict.fromkeys(INBOX_FILTERS, 0)
    visible = _visible(session, user)
    if visible is None:
        return Inbox(Page(items=[], next_cursor=None), counts)
    viewer, where = visible
    inbox_keys = sa.select(
        col(Referral.id).label("id"),
        col(Referral.status).label("status"),
        _ANSWER_FIRST.label("answer_first"),
        _DUE.label("due"),
    )
    keyed = _joined(inbox_keys).where(where).cte("inbox_referrals").prefix_with("MATERIALIZED")
    order = (SortKey(keyed.c.answer_first), SortKey(keyed.c.due), SortKey(keyed.c.id))
    in_filter = keyed.c.status.in_(sorted(states))
    found, by_state = page_and_counts(session, keyed, order, cursor, per_page, in_filter, keyed.c.status)
    for state, number in by_state.items():
        for name, filter_states in INBOX_FILTERS.items():
            counts[name] += number if state in filter_states else 0
    shown = _disclosed(session, viewer, [row.id for row in found.items])
    return Inbox(Page(items=shown, next_cursor=found.next_cursor), counts)


def find_for_provider(session: Session, user: User, referral_id: uuid.UUID) -> InboxItem | None:
    """A referral to one of this provider's offers, once sent; missing and not-yours look the same."""
    visible = _visible(session, user)
    if visible is None:
        return None
    viewer, where = visible
    found = session.exec(_joined(select(Referral.id)).where(where, Referral.id == referral_id)).first()
    shown = _disclosed(session, viewer, [found]) if found is not None else []
    return shown[0] if shown else None


def find_for_case(session: Session, user: User, referral_id: uuid.UUID) -> Referral | None:
    """A referral of a person this caseworker or supervisor may see."""
    referral = session.get(Referral, referral_id)
    need = session.get(Need, referral.need_id) if referral else None
    if need is None or find_person(session, user, need.person_id) is None:
        return None
    return referral


def _filed_under_the_needs_person(_mapper: Any, connection: sa.Connection, referral: Referral) -> None:
    """A referral is its need's person's (`Referral.person_id`), whoever writes it."""
    if referral.person_id is None:
        referral.person_id = connection.scalar(select(Need.person_id).where(Need.id == referral.need_id))


sa.event.listen(Referral, "before_insert", _filed_under_the_needs_person)
