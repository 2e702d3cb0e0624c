"""The only place that turns the portal's rows into the matching engine's dataclasses.

One offer index lives in each process. Before every ranking it catches up with the offers changed
since it last looked (by their `updated_at`), so an offer created, edited, paused, closed or given
more places in any process is ranked accordingly at the next request, without refitting.
"""

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import Flask
from sqlmodel import Session, col, select

import matching
from portal.clock import local_today
from portal.models import (
    Area,
    Need,
    Offer,
    OfferStatus,
    Organization,
    Person,
    User,
    VerificationStatus,
    utcnow,
)
from portal.people.services import age_on, months_between

# Transactions can commit a little after the timestamp they wrote: look back this far when catching up.
SYNC_OVERLAP = timedelta(minutes=5)
# New offers are transformed with the vocabulary learnt at the last fit; once the catalogue has
# grown well past it, the next catch-up refits (outside any single ranking's hot path).
REFIT_GROWTH = 2.0
REFIT_MIN_NEW = 50


def to_engine_offer(offer: Offer, area_codes: dict[uuid.UUID, str]) -> matching.Offer:
    location = None
    if offer.latitude is not None and offer.longitude is not None:
        location = matching.Location(
            offer.latitude, offer.longitude, area_codes.get(offer.area_id) if offer.area_id else None
        )
    return matching.Offer(
        id=str(offer.id),
        category=offer.category,
        title=offer.title,
        description=offer.description,
        skills=tuple(offer.skills),
        languages=tuple(offer.languages),
        location=location,
        remote=offer.remote,
        schedule=tuple(offer.schedule),
        capacity=offer.capacity,
        status=offer.status,
        eligibility=matching.Eligibility(
            min_age=offer.min_age,
            max_age=offer.max_age,
            genders=tuple(offer.genders),
            min_months_in_recovery=offer.min_months_in_recovery,
        ),
    )


def to_engine_person(person: Person, needs: list[Need], today: date) -> matching.Person:
    location = None
    if person.latitude is not None and person.longitude is not None:
        location = matching.Location(person.latitude, person.longitude)
    return matching.Person(
        id=str(person.id),
        age=age_on(person.birth_date, today) if person.birth_date else None,
        gender=person.gender,
        languages=tuple(person.languages),
        location=location,
        max_travel_km=person.max_travel_km,
        availability=tuple(person.availability),
        months_in_recovery=months_between(person.programme_start, today) if person.programme_start else None,
        skills=tuple(person.skills),
        needs=tuple(
            matching.Need(id=str(need.id), category=need.category, description=need.description, urgency=need.urgency)
            for need in needs
        ),
    )


def _matchable(session: Session, offers: list[Offer]) -> set[uuid.UUID]:
    """Offers a caseworker may be shown: published (not drafts) by a verified, active owner."""
    if not offers:
        return set()
    org_ids = {o.organization_id for o in offers if o.organization_id}
    volunteer_ids = {o.volunteer_id for o in offers if o.volunteer_id}
    verified_orgs = set(
        session.exec(
            select(Organization.id).where(
                col(Organization.id).in_(org_ids), Organization.status == VerificationStatus.VERIFIED
            )
        )
    )
    verified_volunteers = set(
        session.exec(
            select(User.id).where(
                col(User.id).in_(volunteer_ids), col(User.verified_at).is_not(None), col(User.active).is_(True)
            )
        )
    )
    verified = verified_orgs | verified_volunteers
    return {o.id for o in offers if o.status != OfferStatus.DRAFT and (o.organization_id or o.volunteer_id) in verified}


def _area_codes(session: Session) -> dict[uuid.UUID, str]:
    return {area.id: area.code for area in session.exec(select(Area))}


@dataclass
class LiveIndex:
    """The process's offer index and how far it has caught up with the database."""

    index: matching.OfferIndex | None = None
    synced_at: datetime | None = None
    versions: dict[str, int] = field(default_factory=dict)
    fitted_size: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sync(self, session: Session) -> matching.OfferIndex:
        """Build the index on first use, then apply the offers changed since the last look."""
        now = utcnow()
        grown = len(self.versions) - self.fitted_size
        if grown >= REFIT_MIN_NEW and len(self.versions) > REFIT_GROWTH * self.fitted_size:
            self.index = None
        if self.index is None or self.synced_at is None:
            rows = list(session.exec(select(Offer)))
            area_codes = _area_codes(session)
            visible = _matchable(session, rows)
            shown = [row for row in rows if row.id in visible]
            self.index = matching.OfferIndex().fit([to_engine_offer(row, area_codes) for row in shown])
            self.versions = {str(row.id): row.version for row in shown}
            self.fitted_size = len(shown)
        else:
            since = self.synced_at - SYNC_OVERLAP
            changed = list(session.exec(select(Offer).where(Offer.updated_at >= since)))
            area_codes = _area_codes(session) if changed else {}
            visible = _matchable(session, changed)
            for row in changed:
                key = str(row.id)
                if row.id not in visible:
                    self.index.remove(key)
                    self.versions.pop(key, None)
                elif self.versions.get(key) != row.version:
                    self.index.upsert(to_engine_offer(row, area_codes))
                    self.versions[key] = row.version
        self.synced_at = now
        return self.index

    @contextmanager
    def synced(self, session: Session) -> Iterator[matching.OfferIndex]:
        """The index caught up, held for one ranking. The session's transaction begins before the lock
        is taken: on SQLite a write transaction waits for the database's write lock as it begins, and
        waiting for it while holding this lock would deadlock with a request that holds the write
        lock and waits for this one."""
        session.connection()
        with self.lock:
            yield self.sync(session)


def live_index(app: Flask) -> LiveIndex:
    """The index of this process for this app."""
    live: LiveIndex = app.extensions.setdefault("offer_index", LiveIndex())
    return live


@dataclass(frozen=True)
class RankedMatch:
    offer: Offer
    score: float
    reasons: tuple[matching.Reason, ...]


@dataclass(frozen=True)
class NeedMatches:
    need: Need
    ranked: list[RankedMatch]
    near_misses: list[tuple[Offer, tuple[matching.Reason, ...]]]
    # False when the person refused computer-ranked suggestions: `ranked` is then every eligible
    # offer of the need's category, by title, without scores or reasons.
    scored: bool = True


def _unscored(session: Session, live: LiveIndex, need: Need, person: matching.Person) -> NeedMatches:
    """The offers of the need's category the person can take, by title: eligibility is a rule,
    not a judgement, so it still applies; the ordering by relevance does not."""
    with live.synced(session) as index:
        ids = [uuid.UUID(offer_id) for offer_id in index.eligible_ids(person, str(need.category))]
    rows = session.exec(select(Offer).where(col(Offer.id).in_(ids))).all() if ids else []
    listed = sorted(rows, key=lambda offer: (offer.title.casefold(), str(offer.id)))
    return NeedMatches(
        need=need, ranked=[RankedMatch(offer, 0.0, ()) for offer in listed], near_misses=[], scored=False
    )


def rank_need(
    session: Session, live: LiveIndex, need: Need, *, top: int = 10, near_misses: int = 5, today: date | None = None
) -> NeedMatches:
    """The eligible offers for one need, best first, with the reasons; then the near misses."""
    person = session.get(Person, need.person_id)
    if person is None:
        raise LookupError("the need's person is gone")
    engine_person = to_engine_person(person, [need], today or local_today())
    if person.refuses_ranked_suggestions:
        return _unscored(session, live, need, engine_person)
    with live.synced(session) as index:
        ranking = index.rank(engine_person, engine_person.needs[0], top=top, near_misses=near_misses)
    ids = [uuid.UUID(item.offer_id) for item in ranking.ranked] + [uuid.UUID(m.offer_id) for m in ranking.near_misses]
    rows = {row.id: row for row in session.exec(select(Offer).where(col(Offer.id).in_(ids)))} if ids else {}
    return NeedMatches(
        need=need,
        ranked=[
            RankedMatch(rows[uuid.UUID(item.offer_id)], item.score, item.reasons)
            for item in ranking.ranked
            if uuid.UUID(item.offer_id) in rows
        ],
        near_misses=[
            (rows[uuid.UUID(m.offer_id)], m.failures) for m in ranking.near_misses if uuid.UUID(m.offer_id) in rows
        ],
    )
