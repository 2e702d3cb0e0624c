"""What the home pages gather beyond other domains' lists: referrals waiting on a provider's
answer, seen from the caseworker's side, and a provider's offers that need confirming."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from portal.models import Need, Offer, OfferStatus, Person, Referral, User, utcnow
from portal.people.services import visibility
from portal.referrals.states import AWAITING_ANSWER


@dataclass(frozen=True)
class WaitingReferral:
    referral: Referral
    offer_title: str
    person: Person

    def overdue(self, now: datetime) -> bool:
        respond_by = self.referral.respond_by
        return respond_by is not None and respond_by < now


def waiting_referrals(session: Session, user: User, limit: int | None = None) -> list[WaitingReferral]:
    """Referrals of the people this user sees that a provider has still to answer, soonest deadline
    first; the first `limit` of them (the home page's few: /people/?waiting=1 finds the people of all)."""
    rows = session.exec(
        select(Referral, Offer.title, Person)
        .join(Offer, col(Offer.id) == Referral.offer_id)
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .where(visibility(user), col(Referral.status).in_(AWAITING_ANSWER))
        .order_by(col(Referral.respond_by), col(Referral.id))
        .limit(limit)
    ).all()
    return [WaitingReferral(referral, title, person) for referral, title, person in rows]


def waiting_count(session: Session, user: User) -> int:
    """How many referrals of the people this user sees a provider has still to answer."""
    return session.exec(
        select(func.count())
        .select_from(Referral)
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .where(visibility(user), col(Referral.status).in_(AWAITING_ANSWER))
    ).one()


def needs_confirming(offers: list[Offer], now: datetime | None = None) -> list[Offer]:
    """The owner's offers not confirmed for a long time (Offer.is_stale) and not closed: a draft or
    paused one too, so that it is current when it opens."""
    moment = now or utcnow()
    return [offer for offer in offers if offer.status != OfferStatus.CLOSED and offer.is_stale(moment)]
