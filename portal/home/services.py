"""What the home pages gather beyond other domains' lists: referrals waiting on a provider's
answer, seen from the caseworker's side, and a provider's offers that need confirming."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from portal.models import STALE_AFTER, Offer, OfferStatus, Person, Referral, User, utcnow
from portal.offers.services import owned_by
from portal.people.services import first_of_caseload
from portal.referrals.states import AWAITING_ANSWER


@dataclass(frozen=True)
class WaitingReferral:
    referral: Referral
    offer_title: str
    person: Person

    def overdue(self, now: datetime) -> bool:
        respond_by = self.referral.respond_by
        return respond_by is not None and respond_by < now


def waiting_referrals(session: Session, user: User, limit: int) -> list[WaitingReferral]:
    """Referrals of the people this user sees that a provider has still to answer, soonest deadline
    first; the first `limit` of them (the home page's few: /people/?waiting=1 finds the people of all)."""
    first = first_of_caseload(user, AWAITING_ANSWER, col(Referral.respond_by), limit)
    rows = session.exec(
        select(Referral, Offer.title, Person)
        .join(first, first.c.id == Referral.id)
        .join(Person, col(Person.id) == Referral.person_id)
        .join(Offer, col(Offer.id) == Referral.offer_id)
        .order_by(first.c.key, first.c.id)
    ).all()
    return [WaitingReferral(referral, title, person) for referral, title, person in rows]


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
