"""A provider's own record of the referrals it received: every one, in every state, long after the
outcome, and the figures a provider is asked for (how fast it answers, how many it takes on, how
many it sees through).

What the history shows of a referral is its record only (as portal/disclosure.py says): the
person's code, the kind of need, the offer, when it was sent, its state and the reason or outcome.
No field of the person is read here, so the history needs no consent check; the inbox still shows
what a consent opens while a referral is under way."""

import statistics
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from portal.clock import local_midnight
from portal.keyset import Page, SortKey, page_of
from portal.models import Need, Offer, Person, Referral, ReferralEvent, ReferralStatus, User, UTCDateTime
from portal.referrals.services import own_offers
from portal.referrals.states import AWAITING_ANSWER

S = ReferralStatus

# The history's filters by state: the inbox's, then the ways a referral ends.
HISTORY_FILTERS: dict[str, frozenset[ReferralStatus] | None] = {
    "all": None,
    "waiting": frozenset(AWAITING_ANSWER),
    "accepted": frozenset({S.ACCEPTED}),
    "in_progress": frozenset({S.IN_PROGRESS}),
    "completed": frozenset({S.COMPLETED}),
    "declined": frozenset({S.DECLINED}),
    "withdrawn": frozenset({S.WITHDRAWN}),
    "expired": frozenset({S.EXPIRED}),
}
# A provider's answer to a referral sent to it: the first of these ends the time to answer.
ANSWERS = (S.ACCEPTED, S.DECLINED, S.WAITLISTED)


@dataclass(frozen=True)
class HistoryQuery:
    """What the provider narrowed the history to; every field left empty narrows nothing."""

    state: str = "all"
    offer_id: uuid.UUID | None = None
    code: str = ""
    sent_from: date | None = None  # local dates, both included
    sent_to: date | None = None


@dataclass(frozen=True)
class HistoryItem:
    """One referral as the history records it: never a field of the person beyond their code."""

    referral_id: uuid.UUID
    code: str
    need_category: str
    offer_title: str
    status: str
    reason_code: str
    sent_at: datetime
    last_step_at: datetime


@dataclass(frozen=True)
class History:
    page: Page[HistoryItem]
    counts: dict[str, int]  # filter name → referrals it holds (within the offer, code and dates)


@dataclass(frozen=True)
class Figures:
    """A provider's figures over the referrals it received (within the offer and dates chosen)."""

    received: int
    answered: int
    median_answer: timedelta | None
    accepted: int
    declined: int
    completed: int
    got_help: int

    @property
    def acceptance(self) -> float | None:
        """Of the referrals it decided on, the share it accepted."""
        decided = self.accepted + self.declined
        return self.accepted / decided if decided else None

    @property
    def completion(self) -> float | None:
        """Of the referrals it accepted, the share that reached an outcome."""
        return self.completed / self.accepted if self.accepted else None


def offers_of(session: Session, user: User) -> list[Offer]:
    """The offers whose referrals this provider keeps a history of, by title (for the filter)."""
    return list(session.exec(select(Offer).where(own_offers(user)).order_by(col(Offer.title))))


_SENT = (
    select(col(ReferralEvent.referral_id).label("referral_id"), col(ReferralEvent.at).label("sent_at"))
    .where(ReferralEvent.to_status == S.SENT)
    .subquery("sent")
)


def _received(user: User, query: HistoryQuery) -> list[Any]:
    """The conditions of the referrals this provider received that the query keeps, state aside:
    sent to one of its offers (a referral withdrawn before it was sent never reached it)."""
    conditions = [own_offers(user)]
    if query.offer_id is not None:
        conditions.append(col(Referral.offer_id) == query.offer_id)
    if query.code:
        conditions.append(col(Person.code) == query.code)
    if query.sent_from is not None:
        conditions.append(_SENT.c.sent_at >= local_midnight(query.sent_from))
    if query.sent_to is not None:
        conditions.append(_SENT.c.sent_at < local_midnight(query.sent_to + timedelta(days=1)))
    return conditions


def _joined(statement: Any) -> Any:
    return (
        statement.join(_SENT, _SENT.c.referral_id == Referral.id)
        .join(Offer, col(Offer.id) == Referral.offer_id)
        .join(Person, col(Person.id) == Referral.person_id)
    )


_ORDER = (SortKey(_SENT.c.sent_at, descending=True), SortKey(col(Referral.id), descending=True))


def history(
    session: Session, user: User, query: HistoryQuery, cursor: str | None = None, per_page: int = 25
) -> History:
    """One page of the provider's referrals, the most recently sent first, and how many each
    state filter holds.

    :raise BadCursor: the cursor was not written for this history.
    """
    conditions = _received(user, query)
    counted = session.execute(
        _joined(sa.select(col(Referral.status), sa.func.count()).select_from(Referral))
        .where(*conditions)
        .group_by(col(Referral.status))
    ).all()
    by_state = {S(status): number for status, number in counted}
    counts = {
        name: sum(number for status, number in by_state.items() if states is None or status in states)
        for name, states in HISTORY_FILTERS.items()
    }
    states = HISTORY_FILTERS.get(query.state)
    if states is not None:
        conditions.append(col(Referral.status).in_(sorted(states)))
    statement = _joined(
        sa.select(
            col(Referral.id),
            col(Person.code),
            col(Need.category),
            col(Offer.title),
            col(Referral.status),
            col(Referral.reason_code),
            _SENT.c.sent_at,
            col(Referral.updated_at),
        ).select_from(Referral)
    ).join(Need, col(Need.id) == Referral.need_id)
    page = page_of(
        session,
        statement.where(*conditions),
        _ORDER,
        lambda row: (row.sent_at, row.id),
        cursor,
        per_page,
    )
    items = [
        HistoryItem(row[0], row[1], str(row[2]), row[3], str(row[4]), row[5], row[6], row[7]) for row in page.items
    ]
    return History(Page(items=items, next_cursor=page.next_cursor), counts)


def figures(session: Session, user: User, query: HistoryQuery) -> Figures:
    """The provider's figures over what it received within the query's offer and dates (its state
    and code do not narrow them): one row per referral, its steps folded in SQL."""
    answered_at = sa.func.min(
        sa.case((col(ReferralEvent.to_status).in_([str(state) for state in ANSWERS]), col(ReferralEvent.at)))
    )

    def reached(state: ReferralStatus) -> Any:
        return sa.func.max(sa.case((col(ReferralEvent.to_status) == state, 1), else_=0))

    conditions = _received(user, query)
    rows = session.execute(
        _joined(
            sa.select(
                _SENT.c.sent_at,
                sa.type_coerce(answered_at, UTCDateTime()).label("answered_at"),
                reached(S.ACCEPTED).label("accepted"),
                reached(S.DECLINED).label("declined"),
                reached(S.COMPLETED).label("completed"),
                col(Referral.reason_code),
            ).select_from(Referral)
        )
        .join(ReferralEvent, col(ReferralEvent.referral_id) == Referral.id)
        .where(*conditions)
        .group_by(col(Referral.id), _SENT.c.sent_at, col(Referral.reason_code))
    ).all()
    waits = [row.answered_at - row.sent_at for row in rows if row.answered_at is not None]
    return Figures(
        received=len(rows),
        answered=len(waits),
        median_answer=statistics.median(waits) if waits else None,
        accepted=sum(row.accepted for row in rows),
        declined=sum(row.declined for row in rows),
        completed=sum(row.completed for row in rows),
        got_help=sum(1 for row in rows if row.completed and row.reason_code == "got_help"),
    )
