"""The only place that turns the portal's rows into the matching engine's dataclasses.

An offer's text features (matching.features) are computed when the offer is written and stored in
`offer_features`. Each process holds one snapshot of the offer index: mapped from the files the
processes of the machine share (portal.matches.snapshots), or, when there are none yet or they
cannot be used, assembled from the stored features of the matchable offers and written there.
Before every ranking it catches up with the offers changed since it last looked (by their indexed
`updated_at`), so an offer created, edited, paused, closed or given more places in any process is
ranked accordingly at the next request, without refitting; the files only make this faster, the
database decides. A snapshot is never changed: catching up makes a new one and replaces the
reference, and a ranking finishes on the snapshot it began with, so no lock orders the rankings of
a process.
"""

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import sqlalchemy as sa
from flask import Flask
from sqlmodel import Session, col, select

import matching
from matching import semantic
from matching.features import N_FEATURES, STORED_SCHEME, TextFeatures, stacked_counts, text_digest, text_features
from matching.semantic import offer_text
from matching.vocabulary import words_for
from portal.clock import local_today
from portal.matches import snapshots
from portal.matches.snapshots import Snapshot
from portal.models import (
    Area,
    Need,
    Offer,
    OfferFeatures,
    OfferStatus,
    Organization,
    Person,
    User,
    VerificationStatus,
    utcnow,
)
from portal.people.services import age_on, months_between

log = logging.getLogger(__name__)

# Transactions can commit a little after the timestamp they wrote: look back this far when catching up.
SYNC_OVERLAP = timedelta(minutes=5)
# Offers changed later are weighted with the weights learnt when the snapshot was assembled; once
# the catalogue has grown well past it, the next catch-up assembles a new one from the stored features.
REASSEMBLE_GROWTH = 2.0
REASSEMBLE_MIN_NEW = 50
# Offers changed since the snapshot was mapped or assembled, past which it is written anew for the
# machine's workers (who otherwise each hold these rows privately and catch up further each time).
REWRITE_AFTER = 500
# The fields an offer's text features are computed from.
TEXT_FIELDS = ("category", "title", "description", "skills")
# Read as text and parsed together when a snapshot is loaded.
JSON_FIELDS = ("skills", "languages", "schedule", "genders")
ENGINE_FIELDS = (
    "id",
    "category",
    "title",
    "description",
    "skills",
    "languages",
    "latitude",
    "longitude",
    "remote",
    "schedule",
    "capacity",
    "status",
    "min_age",
    "max_age",
    "genders",
    "min_months_in_recovery",
)


def _engine_offer(fields: Mapping[str, Any], area_code: str | None) -> matching.Offer:
    location = None
    if fields["latitude"] is not None and fields["longitude"] is not None:
        location = matching.Location(fields["latitude"], fields["longitude"], area_code)
    return matching.Offer(
        id=str(fields["id"]),
        category=fields["category"],
        title=fields["title"],
        description=fields["description"],
        skills=tuple(fields["skills"] or ()),
        languages=tuple(fields["languages"] or ()),
        location=location,
        remote=fields["remote"],
        schedule=tuple(fields["schedule"] or ()),
        capacity=fields["capacity"],
        status=fields["status"],
        eligibility=matching.Eligibility(
            min_age=fields["min_age"],
            max_age=fields["max_age"],
            genders=tuple(fields["genders"] or ()),
            min_months_in_recovery=fields["min_months_in_recovery"],
        ),
    )


def to_engine_offer(offer: Offer, area_codes: dict[uuid.UUID, str]) -> matching.Offer:
    fields = {name: getattr(offer, name) for name in ENGINE_FIELDS}
    return _engine_offer(fields, area_codes.get(offer.area_id) if offer.area_id else None)


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
            matching.Need(
                id=str(need.id),
                category=need.category,
                description=need.description,
                urgency=need.urgency,
                meaning=semantic.meaning_from_text(need.meaning, need.description),
            )
            for need in needs
        ),
    )


@sa.event.listens_for(Session, "before_flush")
def _meaning_of_written_needs(session: Session, _context: Any, _instances: Any) -> None:
    """A need's vectors follow its description, computed before it is sealed and written (an
    emptied description, as retention leaves it, takes its vectors with it)."""
    for need in (*session.new, *session.dirty):
        if isinstance(need, Need) and (
            need in session.new or sa.inspect(need).attrs["description"].history.has_changes()
        ):
            need.meaning = semantic.meaning_text(need.description)


# Stored features


def _features_values(offer: Offer) -> dict[str, Any]:
    engine_offer = to_engine_offer(offer, {})
    (features,) = text_features([engine_offer])
    return _stored_values(engine_offer, features)


def _stored_values(engine_offer: matching.Offer, features: TextFeatures) -> dict[str, Any]:
    return {
        "scheme": STORED_SCHEME,
        "digest": text_digest(engine_offer),
        "ngrams": features.ngram_bytes(),
        "vector": features.vector_bytes(),
        "concepts": features.concepts,
        "hours": sorted(features.hours),
        "computed_at": utcnow(),
    }


@sa.event.listens_for(Offer, "after_insert")
def _features_of_new_offer(_mapper: Any, connection: sa.Connection, offer: Offer) -> None:
    """Computed as the offer is written, in its transaction: no worker computes them again."""
    connection.execute(sa.insert(OfferFeatures).values(offer_id=offer.id, **_features_values(offer)))


@sa.event.listens_for(Offer, "after_update")
def _features_of_changed_offer(_mapper: Any, connection: sa.Connection, offer: Offer) -> None:
    """Computed anew only when the text changed; a change of places or status keeps them."""
    state = sa.inspect(offer)
    if not any(state.attrs[name].history.has_changes() for name in TEXT_FIELDS):
        return
    values = _features_values(offer)
    if (
        connection.execute(
            sa.update(OfferFeatures).where(col(OfferFeatures.offer_id) == offer.id).values(**values)
        ).rowcount
        == 0
    ):
        connection.execute(sa.insert(OfferFeatures).values(offer_id=offer.id, **values))


# The index of a process


def _matchable() -> "sa.ColumnElement[bool]":
    """Offers a caseworker may be shown: published (not drafts) by a verified, active owner."""
    return sa.and_(
        col(Offer.status) != OfferStatus.DRAFT,
        sa.or_(
            col(Organization.status) == VerificationStatus.VERIFIED,
            sa.and_(col(User.verified_at).is_not(None), col(User.active).is_(True)),
        ),
    )


def _offers_with_owners(*columns: Any) -> Any:
    return (
        select(*columns)
        .select_from(Offer)
        .outerjoin(Organization, col(Organization.id) == Offer.organization_id)
        .outerjoin(User, col(User.id) == Offer.volunteer_id)
    )


def _as_text(column: Any, name: str) -> Any:
    return sa.cast(column, sa.Text).label(name)


def _json_lists(texts: Sequence[str | None]) -> list[Any]:
    """Many JSON values parsed in one call (one call a row costs more than the whole of this)."""
    parsed: list[Any] = json.loads(f"[{','.join(text or 'null' for text in texts)}]")
    return parsed


# Rows read a thousand at a time: the stored features of a chunk are stacked, then let go.
CHUNK = 1000
STORED_JSON = ("concepts", "hours")


@dataclass(frozen=True)
class _Loaded:
    """Offers read with their stored features, the n-gram counts stacked one row an offer."""

    offers: list[matching.Offer]
    counts: sp.csr_matrix
    concepts: list[dict[str, int]]
    hours: list[frozenset[str]]
    digests: list[str]
    versions: list[int]
    vectors: list[semantic.Vectors]

    @classmethod
    def empty(cls) -> "_Loaded":
        return cls([], sp.csr_matrix((0, N_FEATURES), dtype=np.float32), [], [], [], [], [])

    def features(self, n: int) -> TextFeatures:
        start, end = self.counts.indptr[n], self.counts.indptr[n + 1]
        return TextFeatures(
            self.counts.indices[start:end].astype(np.uint32),
            self.counts.data[start:end].astype(np.uint16),
            self.concepts[n],
            self.hours[n],
            self.vectors[n],
        )

    def stacked_vectors(self) -> semantic.Vectors:
        return (
            np.vstack(self.vectors).astype(np.float32)
            if self.vectors
            else np.zeros((0, semantic.DIMENSIONS), dtype=np.float32)
        )


def _loaded(session: Session, condition: "sa.ColumnElement[bool]") -> _Loaded:
    """The offers meeting the condition, each with its stored features, without their text (the
    features say what the engine needs of it). Features missing or of an older scheme are
    computed here from the text."""
    query = (
        _offers_with_owners(
            col(Offer.version),
            *(
                _as_text(getattr(Offer, name), name) if name in JSON_FIELDS else getattr(Offer, name)
                for name in ENGINE_FIELDS
                if name not in ("title", "description")
            ),
            col(Area.code).label("area_code"),
            col(OfferFeatures.scheme),
            col(OfferFeatures.digest),
            col(OfferFeatures.ngrams),
            col(OfferFeatures.vector),
            _as_text(OfferFeatures.concepts, "concepts"),
            _as_text(OfferFeatures.hours, "hours"),
        )
        .outerjoin(Area, col(Area.id) == Offer.area_id)
        .outerjoin(OfferFeatures, col(OfferFeatures.offer_id) == Offer.id)
        .where(condition)
        .execution_options(yield_per=CHUNK)
    )
    loaded = _Loaded.empty()
    chunks = []
    for rows in session.exec(query).partitions():
        parsed = {
            name: _json_lists([getattr(row, name) for row in rows]) for name in (*JSON_FIELDS, "concepts", "hours")
        }
        stale = [row.id for row in rows if row.scheme != STORED_SCHEME]
        texts: dict[uuid.UUID, tuple[str, str]] = {}
        if stale:
            text_query = select(Offer.id, Offer.title, Offer.description).where(col(Offer.id).in_(stale))
            texts = {offer_id: (title, description) for offer_id, title, description in session.exec(text_query)}
        offers = []
        for n, row in enumerate(rows):
            fields = {**row._mapping, **{name: parsed[name][n] for name in JSON_FIELDS}}
            fields["title"], fields["description"] = texts.get(row.id, ("", ""))
            offers.append(_engine_offer(fields, row.area_code))
        # Features of the stale rows computed together: one call to the model for the chunk.
        stale_offers = [offer for offer, row in zip(offers, rows, strict=True) if row.scheme != STORED_SCHEME]
        computed = iter(text_features(stale_offers) if stale_offers else [])
        features = []
        for n, (offer, row) in enumerate(zip(offers, rows, strict=True)):
            if row.scheme == STORED_SCHEME:
                features.append(
                    TextFeatures.from_stored(row.ngrams, parsed["concepts"][n], parsed["hours"][n], row.vector)
                )
                loaded.digests.append(row.digest)
            else:
                features.append(next(computed))
                loaded.digests.append(text_digest(offer))
            loaded.offers.append(offer)
            loaded.versions.append(row.version)
        chunks.append(stacked_counts(features))
        loaded.concepts.extend(f.concepts for f in features)
        loaded.hours.extend(f.hours for f in features)
        loaded.vectors.extend(f.vector for f in features if f.vector is not None)
    if chunks:
        loaded = replace(loaded, counts=sp.vstack(chunks, format="csr", dtype=np.float32))
    return loaded


def _assembled(session: Session, now: datetime) -> Snapshot:
    """A new snapshot from the stored features of every matchable offer."""
    loaded = _loaded(session, _matchable())
    index = matching.OfferIndex.from_counts(
        loaded.offers, loaded.counts, loaded.concepts, loaded.hours, vectors=loaded.stacked_vectors()
    )
    versions = {
        offer.id: (version, digest)
        for offer, version, digest in zip(loaded.offers, loaded.versions, loaded.digests, strict=True)
    }
    return Snapshot(index, now, versions, len(loaded.offers))


def _caught_up(session: Session, snapshot: Snapshot, now: datetime) -> Snapshot:
    """The snapshot with the offers changed since it was made: first which changed (ids and
    versions only), then the rows of those alone."""
    since = snapshot.synced_at - SYNC_OVERLAP
    changed = session.exec(
        _offers_with_owners(col(Offer.id), col(Offer.version), _matchable().label("matchable")).where(
            col(Offer.updated_at) >= since
        )
    ).all()
    known = snapshot.versions
    removed = [str(offer_id) for offer_id, _v, matchable in changed if not matchable and str(offer_id) in known]
    moved = [
        offer_id
        for offer_id, version, matchable in changed
        if matchable and known.get(str(offer_id), (None, ""))[0] != version
    ]
    if not removed and not moved:
        return replace(snapshot, synced_at=now)
    loaded = _loaded(session, col(Offer.id).in_(moved)) if moved else _Loaded.empty()
    versions = dict(known)
    for offer_id in removed:
        del versions[offer_id]
    updates: list[tuple[matching.Offer, TextFeatures | None]] = []
    for n, offer in enumerate(loaded.offers):
        same_text = known.get(offer.id, (0, ""))[1] == loaded.digests[n]
        updates.append((offer, None if same_text else loaded.features(n)))
        versions[offer.id] = (loaded.versions[n], loaded.digests[n])
    return Snapshot(snapshot.index.updated(updates, removed), now, versions, snapshot.assembled_size)


def _grown(snapshot: Snapshot) -> bool:
    """Whether the catalogue has grown so much since the weights were learnt that they should be learnt again."""
    size, assembled = len(snapshot.versions), snapshot.assembled_size
    return size - assembled >= REASSEMBLE_MIN_NEW and size > REASSEMBLE_GROWTH * assembled


def _agrees(session: Session, snapshot: Snapshot) -> bool:
    """Whether the snapshot holds as many matchable offers as the database, at the same versions
    in sum: files of another database, or of this one before a restore, do not."""
    count, versions = session.exec(
        _offers_with_owners(sa.func.count(), sa.func.coalesce(sa.func.sum(Offer.version), 0)).where(_matchable())
    ).one()
    return bool(count == len(snapshot.versions) and versions == sum(v for v, _digest in snapshot.versions.values()))


def _mapped(session: Session, folder: Path, now: datetime) -> Snapshot | None:
    """The newest snapshot written in the folder, caught up; None when there is none that agrees
    with the database."""
    stored = snapshots.newest(folder)
    if stored is None:
        return None
    snapshot = _caught_up(session, stored, now)
    if not _agrees(session, snapshot):
        log.warning("offer index files in %s do not agree with the database: assembled again", folder)
        return None
    return snapshot


def _written(folder: Path, snapshot: Snapshot) -> Snapshot:
    """The snapshot written for the machine's workers and mapped back, so this process too holds
    it in shared pages; the snapshot as it was when another process is writing, or writing fails."""
    try:
        generation = snapshots.write(folder, snapshot)
        return snapshot if generation is None else snapshots.read(generation)
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        log.warning("offer index not written in %s: %s", folder, exc)
        return snapshot


def _renewed(session: Session, folder: Path, snapshot: Snapshot, now: datetime) -> Snapshot:
    """A snapshot with fewer private rows: a newer generation another process wrote, or this one written."""
    newer = _mapped(session, folder, now)
    if newer is not None and newer.index.appended_rows <= REWRITE_AFTER:
        return newer
    return _written(folder, snapshot)


@dataclass
class LiveIndex:
    """The process's offer index: the newest snapshot, replaced whole, never edited. With a
    folder, snapshots are mapped from the files there and written there for the other workers."""

    folder: Path | None = None
    snapshot: Snapshot | None = None

    @property
    def index(self) -> matching.OfferIndex | None:
        return self.snapshot.index if self.snapshot is not None else None

    def current(self, session: Session) -> matching.OfferIndex:
        """The index caught up with the database, for one ranking. Two rankings at once may both
        catch up; whichever looked later leaves its snapshot for the next one."""
        now = utcnow()
        before = self.snapshot
        made = self._first(session, now) if before is None else _caught_up(session, before, now)
        if _grown(made):
            made = self._assembled(session, now)
        elif self.folder is not None and made.index.appended_rows > REWRITE_AFTER:
            made = _renewed(session, self.folder, made, now)
        latest = self.snapshot
        if latest is None or latest.synced_at <= made.synced_at:
            self.snapshot = made
        return made.index

    def assembled_again(self, session: Session) -> matching.OfferIndex:
        """The index assembled from the database (and written for the other workers), whatever
        snapshot or files there were."""
        self.snapshot = self._assembled(session, utcnow())
        return self.snapshot.index

    def _first(self, session: Session, now: datetime) -> Snapshot:
        mapped = _mapped(session, self.folder, now) if self.folder is not None else None
        return mapped or self._assembled(session, now)

    def _assembled(self, session: Session, now: datetime) -> Snapshot:
        snapshot = _assembled(session, now)
        return snapshot if self.folder is None else _written(self.folder, snapshot)


def _index_folder(app: Flask) -> Path | None:
    """Where this app's index files are: one folder per database, so two databases served from
    one machine (or tests) never map each other's."""
    folder = str(app.config.get("INDEX_DIR") or "")
    if not folder:
        return None
    database = sa.make_url(app.config["DATABASE_URL"]).render_as_string(hide_password=True)
    return Path(folder) / hashlib.sha256(database.encode()).hexdigest()[:16]


def live_index(app: Flask) -> LiveIndex:
    """The index of this process for this app."""
    live: LiveIndex | None = app.extensions.get("offer_index")
    if live is None:
        live = app.extensions["offer_index"] = LiveIndex(_index_folder(app))
    return live


def _quoting(reasons: Sequence[matching.Reason], offer: Offer) -> tuple[matching.Reason, ...]:
    """The reasons with the offer's own words where they quote it, read from its row: the index
    keeps no offer's text. A closeness in meaning quotes its title; a shared meaning, the words of
    its title and description that name the concepts shared."""

    def quoted(reason: matching.Reason) -> matching.Reason:
        if reason.code == "shared_meaning" and "offer_words" in reason.values:
            concepts = reason.values.get("concepts", [])
            names = [str(name) for name in concepts] if isinstance(concepts, list) else []
            words = words_for(offer_text(offer.title, offer.description), names)[:4]
            return replace(reason, values={**reason.values, "offer_words": words})
        if "offer_words" in reason.values:
            return replace(reason, values={**reason.values, "offer_words": offer.title})
        return reason

    return tuple(quoted(reason) for reason in reasons)


def recorded_reasons(reasons: Sequence[matching.Reason]) -> list[str]:
    """A match's reasons as a referral keeps them: in words, but never quoting the need, whose
    text is sealed and must not be copied into a column that is not. Only a closeness in meaning
    quotes it in its text; a shared meaning's text names the concepts alone (its words stay in
    its values, shown on the page and never stored)."""
    return ["close in meaning to the need" if reason.code == "close_in_meaning" else reason.text for reason in reasons]


@dataclass(frozen=True)
class RankedMatch:
    offer: Offer
    score: float
    reasons: tuple[matching.Reason, ...]
    # The engine's signals of the offer (matching.ranker.SIGNALS), numbers only; empty when unscored.
    signals: dict[str, float] = field(default_factory=dict)
    # How well it fits in a word (matching.ranker.FIT_WORDS: strong, good, possible); empty when unscored.
    fit: str = ""


@dataclass(frozen=True)
class NeedMatches:
    need: Need
    ranked: list[RankedMatch]
    near_misses: list[tuple[Offer, tuple[matching.Reason, ...]]]
    # False when the person refused computer-ranked suggestions: `ranked` is then every eligible
    # offer of the need's category, by title, without scores or reasons.
    scored: bool = True
    # Which ranker ranked (matching.ranker.Ranker.digest); empty when unscored.
    ranker_digest: str = ""


def _unscored(session: Session, live: LiveIndex, need: Need, person: matching.Person) -> NeedMatches:
    """The offers of the need's category the person can take, by title: eligibility is a rule,
    not a judgement, so it still applies; the ordering by relevance does not."""
    index = live.current(session)
    ids = [uuid.UUID(offer_id) for offer_id in index.eligible_ids(person, str(need.category))]
    rows = session.exec(select(Offer).where(col(Offer.id).in_(ids))).all() if ids else []
    listed = sorted(rows, key=lambda offer: (offer.title.casefold(), str(offer.id)))
    return NeedMatches(
        need=need, ranked=[RankedMatch(offer, 0.0, ()) for offer in listed], near_misses=[], scored=False
    )


def _ranked(
    session: Session, index: matching.OfferIndex, person: matching.Person, top: int, near_misses: int
) -> tuple[matching.Ranking, dict[uuid.UUID, Offer]]:
    """The ranking of the person's need, and the rows of the offers it names."""
    ranking = index.rank(person, person.needs[0], top=top, near_misses=near_misses)
    ids = [uuid.UUID(item.offer_id) for item in ranking.ranked] + [uuid.UUID(m.offer_id) for m in ranking.near_misses]
    rows = {row.id: row for row in session.exec(select(Offer).where(col(Offer.id).in_(ids)))} if ids else {}
    return ranking, rows


# How many of the best offers are looked through for the remote ones, when only those are asked for.
REMOTE_POOL = 200


@dataclass(frozen=True)
class Narrowing:
    """What the caseworker narrowed the matches to: offers within so many km (remote ones are
    always within reach), or remote ones only."""

    within_km: float | None = None
    remote_only: bool = False

    def applied(self, person: matching.Person) -> matching.Person:
        """The person as the engine sees them with a shorter reach: farther offers are then near misses."""
        if self.within_km is None:
            return person
        reach = self.within_km if person.max_travel_km is None else min(person.max_travel_km, self.within_km)
        return replace(person, max_travel_km=reach)


def rank_need(
    session: Session,
    live: LiveIndex,
    need: Need,
    *,
    top: int = 10,
    near_misses: int = 5,
    today: date | None = None,
    narrowing: Narrowing = Narrowing(),
) -> NeedMatches:
    """The eligible offers for one need, best first, with the reasons; then the near misses."""
    person = session.get(Person, need.person_id)
    if person is None:
        raise LookupError("the need's person is gone")
    engine_person = narrowing.applied(to_engine_person(person, [need], today or local_today()))
    if person.refuses_ranked_suggestions:
        found = _unscored(session, live, need, engine_person)
        return replace(found, ranked=[m for m in found.ranked if m.offer.remote or not narrowing.remote_only])
    if narrowing.remote_only:
        # Ranked among all, then the remote ones kept: as many as asked, if there are.
        wider = Narrowing(narrowing.within_km)
        found = rank_need(session, live, need, top=REMOTE_POOL, near_misses=near_misses, today=today, narrowing=wider)
        return replace(found, ranked=[m for m in found.ranked if m.offer.remote][:top])
    index = live.current(session)
    ranking, rows = _ranked(session, index, engine_person, top, near_misses)
    if len(rows) < len(ranking.offer_ids) + len(ranking.near_misses):
        # Offers the index holds and the database has not: files of another history (a restored
        # database, say) that agreed in number and versions. Never shown: assembled again.
        log.warning("the offer index named offers the database has not: assembled again")
        index = live.assembled_again(session)
        ranking, rows = _ranked(session, index, engine_person, top, near_misses)
    fits = index.ranker_.calibration.fit_words(np.array([item.score for item in ranking.ranked]))
    return NeedMatches(
        need=need,
        ranker_digest=index.ranker_.digest(),
        ranked=[
            RankedMatch(row, item.score, _quoting(item.reasons, row), item.signals, fit)
            for item, fit in zip(ranking.ranked, fits, strict=True)
            if (row := rows.get(uuid.UUID(item.offer_id))) is not None
        ],
        near_misses=[
            (rows[uuid.UUID(m.offer_id)], m.failures) for m in ranking.near_misses if uuid.UUID(m.offer_id) in rows
        ],
    )


def backfill_vectors(
    session: Session, batch: int = 100, progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Store the features of every offer whose stored ones are missing or of an older scheme, and
    the vectors of every need that has none, a batch at a time (each batch committed): what a
    worker or a ranking would otherwise compute itself. Returns (offers, needs) computed."""
    stale = (
        select(Offer)
        .outerjoin(OfferFeatures, col(OfferFeatures.offer_id) == Offer.id)
        .where(sa.or_(col(OfferFeatures.scheme).is_(None), col(OfferFeatures.scheme) != STORED_SCHEME))
        .order_by(col(Offer.id))
        .limit(batch)
    )
    offers = 0
    while rows := session.exec(stale).all():
        engine_offers = [to_engine_offer(offer, {}) for offer in rows]
        stored = session.exec(select(OfferFeatures).where(col(OfferFeatures.offer_id).in_([o.id for o in rows])))
        existing = {features.offer_id: features for features in stored}
        for offer, engine_offer, features in zip(rows, engine_offers, text_features(engine_offers), strict=True):
            values = _stored_values(engine_offer, features)
            if offer.id not in existing:
                session.add(OfferFeatures(offer_id=offer.id, **values))
            else:
                for name, value in values.items():
                    setattr(existing[offer.id], name, value)
        session.commit()
        offers += len(rows)
        if progress:
            progress(offers)
    without = select(Need).where(col(Need.meaning).is_(None)).order_by(col(Need.id))
    needs = 0
    for need in list(session.exec(without)):
        if need.description.strip():
            need.meaning = semantic.meaning_text(need.description)
            needs += 1
            if needs % batch == 0:
                session.commit()
                if progress:
                    progress(offers + needs)
    session.commit()
    return offers, needs
