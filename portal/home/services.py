"""What the home pages gather beyond other domains' lists: referrals waiting on a provider's
answer, seen from the caseworker's side, and a provider's offers that need confirming."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from portal.models import STALE_AFTER, Offer, OfferStatus, Person, Referral, ReferralStatus, User, utcnow
from portal.offers.services import owned_by
from portal.people.services import of_caseload
from portal.referrals.states import AWAITING_ANSWER


@dataclass(frozen=True)
class WaitingReferral:
    referral: Referral
    offer_title: str
    person: Person

    def overdue(self, now: datetime) -> bool:
        respond_by = self.referral.respond_by
        return respond_by is not None and respond_by < now


@dataclass(frozen=True)
class CaseReferrals:
    """The referrals of a caseload that wait on someone, as the home page shows them: the oldest
    few proposed again for approval, the few waiting for a provider's answer soonest due, and how
    many there are of each."""

    proposals: list[tuple[Referral, Person]]
    proposals_total: int
    waiting: list[WaitingReferral]
    waiting_total: int


def case_referrals(session: Session, user: User, limit: int) -> CaseReferrals:
    """The caseload's referrals proposed or awaiting an answer are gathered once (a materialised
    CTE, from the people this user sees through the referral's own person); one statement takes
    the first `limit` of each list and the counts from it, a second loads the few shown. The rest
    are a link away: /people/?proposed=1 and /people/?waiting=1 find the people of them all."""
    keyed = (
        of_caseload(
            sa.select(col(Referral.id), col(Referral.status), col(Referral.created_at), col(Referral.respond_by)),
            user,
            [ReferralStatus.PROPOSED, *AWAITING_ANSWER],
        )
        .cte("caseload_referrals")
        .prefix_with("MATERIALIZED")
    )
    proposed = keyed.c.status == ReferralStatus.PROPOSED.value
    first_proposed = (
        sa.select(keyed.c.id, keyed.c.status, sa.literal(0).label("number"))
        .where(proposed)
        .order_by(keyed.c.created_at, keyed.c.id)
        .limit(limit)
        .subquery("first_proposed")
    )
    first_waiting = (
        sa.select(keyed.c.id, keyed.c.status, sa.literal(0).label("number"))
        .where(~proposed)
        .order_by(sa.nulls_last(keyed.c.respond_by), keyed.c.id)
        .limit(limit)
        .subquery("first_waiting")
    )
    rows = session.execute(
        sa.union_all(
            sa.select(first_proposed),
            sa.select(first_waiting),
            sa.select(sa.cast(sa.null(), keyed.c.id.type), keyed.c.status, sa.func.count()).group_by(keyed.c.status),
        )
    ).all()
    counts = {ReferralStatus(row.status): row.number for row in rows if row.id is None}
    shown = {
        referral.id: (referral, title, person)
        for referral, title, person in session.exec(
            select(Referral, Offer.title, Person)
            .join(Person, col(Person.id) == Referral.person_id)
            .join(Offer, col(Offer.id) == Referral.offer_id)
            .where(col(Referral.id).in_([row.id for row in rows if row.id is not None]))
        )
    }
    listed = [shown[row.id] for row in rows if row.id in shown]
    proposals = sorted(
        (found for found in listed if found[0].status == ReferralStatus.PROPOSED),
        key=lambda found: (found[0].created_at, found[0].id),
    )
    waiting = sorted(  # as SQL put them: by deadline, none last, then id
        (found for found in listed if found[0].status != ReferralStatus.PROPOSED),
        key=lambda found: (found[0].respond_by is None, found[0].respond_by, found[0].id),
    )
    return CaseReferrals(
        proposals=[(referral, person) for referral, _title, person in proposals],
        proposals_total=counts.get(ReferralStatus.PROPOSED, 0),
        waiting=[WaitingReferral(referral, title, person) for referral, title, person in waiting],
        waiting_total=sum(counts.get(state, 0) for state in AWAITING_ANSWER),
    )


def needs_confirming(session: Session, user: User, limit: int) -> list[Offer]:
    """The owner's offers not confirmed for a long time (Offer.is_stale) and not closed, a draft or
    paused one too so that it is current when it opens: the `limit` confirmed longest ago."""
    return list(
        session.exec(
            owned_by(user)
            .where(Offer.status != OfferStatus.CLOSED, col(Offer.last_confirmed_at) < utcnow() - STALE_AFTER)
            .order_by(col(Offer.last_confirmed_at), col(Offer.id))
            .limit(limit)
        )
    )
