"""The offer index: assembled from each offer's own features (computed when the offer was written,
or here by `fit`), updated a few offers at a time, and ranked against one need in a few
milliseconds (no refitting, no similarity against an untransposed matrix).

Every per-offer quantity is an array (or a sparse matrix) with one row an offer, so an index can be
written to files and mapped back by any number of processes (matching.mapped). Updating never
rewrites those arrays in place: a changed offer's old row is retired and its new one appended, so
an index mapped from a file stays shared and only the appended rows are private to a process.
"""

import copy
import math
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from matching.eligibility import failures
from matching.features import N_FEATURES, VOCABULARY_TEXT, TextFeatures, ngram_counts, stacked_counts, text_features
from matching.geo import distance_km
from matching.hours import CLASHES, OFFER_HOURS, hours_taken
from matching.model import CATEGORIES, SLOTS, NearMiss, Need, Offer, Person, RankedOffer, Ranking, Reason
from matching.ranker import RANKER, SIGNALS, Ranker
from matching.relevance import CATEGORY_INDEX, GROUP_CONCEPTS, SKILL_CATEGORIES, category_affinity
from matching.semantic import DIMENSIONS, Encoder, NeedMeaning, Vectors, e5_encode, need_meaning
from matching.vocabulary import CONCEPTS, RELATED, concepts_in, words_for

FloatArray = npt.NDArray[np.floating[Any]]
CONCEPT_NAMES = tuple(CONCEPTS)
CONCEPT_INDEX = {name: i for i, name in enumerate(CONCEPT_NAMES)}
EARTH_RADIUS_KM = 6371.0088
DEFAULT_TRAVEL_KM = 10.0
# The closeness (cosine, language taken out) from which a need's sentence is said to be close in
# meaning to an offer: above three in four of the pairs caseworkers judged no answer at all, in both
# labelled sets, and about half of those they judged a good one.
CLOSE_IN_MEANING = 0.15
# A TF-IDF cosine from which two texts are said to be worded alike.
SIMILAR_WORDING = 0.1
# More rules than an offer can fail: a retired row is neither eligible nor a near miss.
RETIRED_FAILURES = 100
# The field's own words count as one more document, so an n-gram of the vocabulary is known to
# the index even before an offer uses it.
VOCABULARY_NGRAMS = np.zeros(N_FEATURES, dtype=np.int64)
VOCABULARY_NGRAMS[ngram_counts([VOCABULARY_TEXT]).indices] = 1


def _concept_affinity() -> FloatArray:
    """Concept-to-concept credit: 1 on the diagonal, partial for related concepts."""
    matrix = np.eye(len(CONCEPT_NAMES), dtype=np.float32)
    for pair, credit in RELATED.items():
        a, b = sorted(pair)
        matrix[CONCEPT_INDEX[a], CONCEPT_INDEX[b]] = matrix[CONCEPT_INDEX[b], CONCEPT_INDEX[a]] = credit
    return matrix


CONCEPT_AFFINITY = _concept_affinity()
CATEGORY_AFFINITY = np.array(
    [[category_affinity(need, offer) for offer in CATEGORIES] for need in CATEGORIES], dtype=np.float32
)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _slot_bits(slots: Iterable[str]) -> int:
    return sum(1 << SLOTS.index(slot) for slot in slots if slot in SLOTS)


class _CodeSets:
    """Each offer's set of codes (languages, genders) as a boolean offers × codes matrix, so the
    rule "shares at least one code, where given" is a column selection, for any number of codes."""

    def __init__(self, codes: Sequence[str], matrix: npt.NDArray[np.bool_]) -> None:
        self.codes = list(codes)
        self.column = {code: i for i, code in enumerate(self.codes)}
        self.matrix = matrix
        self.given: npt.NDArray[np.bool_] = np.asarray(matrix.any(axis=1))

    @classmethod
    def of(cls, sets: Sequence[Sequence[str]], codes: Sequence[str] = ()) -> "_CodeSets":
        """The sets as rows, with these columns first (those of rows the sets are appended to)."""
        known = list(codes)
        known += sorted({code for found in sets for code in found} - set(known))
        column = {code: i for i, code in enumerate(known)}
        matrix = np.zeros((len(sets), max(1, len(known))), dtype=bool)
        for row, found in enumerate(sets):
            matrix[row, [column[code] for code in found]] = True
        return cls(known, matrix)

    def appended(self, sets: Sequence[Sequence[str]]) -> "_CodeSets":
        more = _CodeSets.of(sets, self.codes)
        matrix = np.zeros((len(self.matrix) + len(more.matrix), more.matrix.shape[1]), dtype=bool)
        matrix[: len(self.matrix), : self.matrix.shape[1]] = self.matrix
        matrix[len(self.matrix) :] = more.matrix
        return _CodeSets(more.codes, matrix)

    def only(self, code: str) -> npt.NDArray[np.bool_]:
        """Offers reserved for this one code (women-only groups, say)."""
        if code not in self.column:
            return np.zeros(len(self.given), dtype=bool)
        alone: npt.NDArray[np.bool_] = self.matrix[:, self.column[code]] & (self.matrix.sum(axis=1) == 1)
        return alone

    def share_none(self, codes: Iterable[str]) -> npt.NDArray[np.bool_]:
        """Offers that list codes, none of them among these."""
        chosen = [self.column[code] for code in codes if code in self.column]
        if not chosen:
            return self.given
        shared: npt.NDArray[np.bool_] = np.asarray(self.matrix[:, chosen].any(axis=1))
        return self.given & ~shared


# The offers' fields kept as arrays, one element an offer, by name (matching.mapped writes them so).
COLUMN_TYPES = {
    "open_with_room": np.bool_,
    "min_age": np.float32,
    "max_age": np.float32,
    "min_months": np.float32,
    "lat": np.float64,
    "lon": np.float64,
    "remote": np.bool_,
    "schedule_bits": np.int8,
    "category": np.int8,
}


@dataclass
class _Columns:
    """The offers' fields as arrays, so eligibility is a handful of vector operations."""

    open_with_room: npt.NDArray[np.bool_]
    min_age: FloatArray
    max_age: FloatArray
    genders: _CodeSets
    min_months: FloatArray
    languages: _CodeSets
    lat: FloatArray
    lon: FloatArray
    remote: npt.NDArray[np.bool_]
    schedule_bits: npt.NDArray[np.int8]
    category: npt.NDArray[np.int8]

    @classmethod
    def of(cls, offers: Sequence[Offer]) -> "_Columns":
        values = {
            "open_with_room": [o.status == "open" and o.capacity > 0 for o in offers],
            "min_age": [_nan(o.eligibility.min_age) for o in offers],
            "max_age": [_nan(o.eligibility.max_age) for o in offers],
            "min_months": [_nan(o.eligibility.min_months_in_recovery) for o in offers],
            "lat": [_nan(o.location.lat if o.location else None) for o in offers],
            "lon": [_nan(o.location.lon if o.location else None) for o in offers],
            "remote": [o.remote for o in offers],
            "schedule_bits": [_slot_bits(o.schedule) for o in offers],
            "category": [CATEGORY_INDEX.get(o.category or "", -1) for o in offers],
        }
        return cls(
            genders=_CodeSets.of([o.eligibility.genders for o in offers]),
            languages=_CodeSets.of([o.languages for o in offers]),
            **{name: np.array(values[name], dtype=kind) for name, kind in COLUMN_TYPES.items()},
        )

    def appended(self, offers: Sequence[Offer]) -> "_Columns":
        more = _Columns.of(offers)
        return _Columns(
            genders=self.genders.appended([o.eligibility.genders for o in offers]),
            languages=self.languages.appended([o.languages for o in offers]),
            **{name: np.concatenate([getattr(self, name), getattr(more, name)]) for name in COLUMN_TYPES},
        )


class OfferRows(Sequence[Offer]):
    """Offers of an index by row: some rows of an earlier sequence (mapped from a file, say), then
    offers appended since, without turning the earlier ones into objects until one is asked for."""

    def __init__(self, earlier: Sequence[Offer], appended: Sequence[Offer]) -> None:
        self.earlier: Sequence[Offer] = earlier
        self.appended: list[Offer] = list(appended)
        if isinstance(earlier, OfferRows):
            self.earlier, self.appended = earlier.earlier, [*earlier.appended, *appended]

    def __len__(self) -> int:
        return len(self.earlier) + len(self.appended)

    @overload
    def __getitem__(self, i: int) -> Offer: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Offer]: ...

    def __getitem__(self, i: int | slice) -> Offer | Sequence[Offer]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if i < len(self.earlier):
            return self.earlier[i]
        return self.appended[i - len(self.earlier)]

    def __iter__(self) -> Iterator[Offer]:
        yield from self.earlier
        yield from self.appended


def _unit_rows(rows: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its length (rows of zeros left as they are), in place."""
    lengths = np.diff(rows.indptr)
    norms = np.ones(rows.shape[0], dtype=np.float64)
    if rows.nnz:
        # Rows that hold something start at strictly increasing offsets: one sum each.
        norms[lengths > 0] = np.sqrt(np.add.reduceat(rows.data.astype(np.float64) ** 2, rows.indptr[:-1][lengths > 0]))
    norms[norms == 0] = 1
    rows.data /= np.repeat(norms.astype(np.float32), lengths)
    return rows


def _hours_rows(hours: Sequence[frozenset[str]]) -> npt.NDArray[np.bool_]:
    return np.array([[name in found for name in OFFER_HOURS] for found in hours], dtype=bool).reshape(
        len(hours), len(OFFER_HOURS)
    )


def _skill_rows(offers: Sequence[Offer], index: dict[str, int]) -> sp.csr_matrix:
    """The offers' skills as rows over `index`'s columns, which gains the skills it lacked."""
    for skill in sorted({skill for o in offers for skill in o.skills} - set(index)):
        index[skill] = len(index)
    rows = [i for i, o in enumerate(offers) for _ in o.skills]
    cols = [index[skill] for o in offers for skill in o.skills]
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(offers), max(1, len(index))))


def _stacked_vectors(features: Sequence[TextFeatures]) -> Vectors | None:
    """The offers' vectors, one row each; None when they were computed without (all or none)."""
    found = [f.vector for f in features if f.vector is not None]
    if not found:
        return None
    if len(found) != len(features):
        raise ValueError("every offer comes with its vector, or none does")
    return np.vstack(found).astype(np.float32)


def _widened(rows: sp.csr_matrix, columns: int) -> sp.csr_matrix:
    return sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(rows.shape[0], columns))


class OfferIndex:
    """Offers made searchable: `fit` (or `from_features`) once, `updated` as offers change, `rank` per need.

    How rare each n-gram and each concept is among the offers (their IDF weights) is learnt when
    the index is assembled; offers changed later are weighted with those weights, until the
    application assembles a new index (when the catalogue has changed a lot).

    The offers' wording is kept as blocks of columns (n-grams × offers, transposed once so that a
    need's row times a block is one fast sparse product): the block assembled (or mapped) and the
    block of the rows appended since. `wording_row_` says which column holds each row's wording,
    so an offer whose text did not change keeps its column when its other fields do.
    """

    def __init__(self, max_df: float = 0.5) -> None:
        # N-grams in over half the offers say little and cost most of the similarity product.
        self.max_df = max_df

    # Building and updating

    def fit(self, offers: Sequence[Offer], encode: Encoder | None = e5_encode) -> "OfferIndex":
        """The index of these offers, their features computed here (without vectors if `encode` is
        None: the signals of meaning are then left out)."""
        features = text_features(offers, encode)
        return self._assemble(
            offers,
            stacked_counts(features),
            [f.concepts for f in features],
            [f.hours for f in features],
            _stacked_vectors(features),
        )

    @classmethod
    def from_features(
        cls, offers: Sequence[Offer], features: Sequence[TextFeatures], max_df: float = 0.5
    ) -> "OfferIndex":
        """The index of these offers from their stored features (one per offer, in the same order)."""
        return cls.from_counts(
            offers,
            stacked_counts(features),
            [f.concepts for f in features],
            [f.hours for f in features],
            max_df,
            _stacked_vectors(features),
        )

    @classmethod
    def from_counts(
        cls,
        offers: Sequence[Offer],
        counts: sp.csr_matrix,
        concepts: Sequence[dict[str, int]],
        hours: Sequence[frozenset[str]],
        max_df: float = 0.5,
        vectors: Vectors | None = None,
    ) -> "OfferIndex":
        """The index from the offers' features already stacked: `counts` holds one row of n-gram
        counts an offer (as `stacked_counts` makes them), so an application reading many stored
        features can stack them a few hundred at a time and keep none of them; `vectors` one
        row of meaning an offer, or None for an index without the signals of meaning."""
        return cls(max_df)._assemble(offers, counts, concepts, hours, vectors)

    def _assemble(
        self,
        offers: Sequence[Offer],
        counts: sp.csr_matrix,
        concepts: Sequence[dict[str, int]],
        hours: Sequence[frozenset[str]],
        vectors: Vectors | None = None,
    ) -> "OfferIndex":
        if not len(offers) == counts.shape[0] == len(concepts) == len(hours):
            raise ValueError("one set of features per offer")
        if vectors is not None and vectors.shape != (len(offers), DIMENSIONS):
            raise ValueError("one vector per offer")
        self.vectors_: Vectors | None = vectors
        self.ranker_: Ranker = RANKER
        # Document frequencies as TfidfVectorizer's smooth IDF counts them, the vocabulary one more document.
        documents = len(offers) + 1
        frequency = np.bincount(counts.indices, minlength=N_FEATURES) + VOCABULARY_NGRAMS
        idf = (np.log((1 + documents) / (1 + frequency)) + 1).astype(np.float32)
        # N-grams no offer uses weigh nothing, in a need as in an offer: a need's unknown words do
        # not dilute its known ones. A tiny catalogue has no "common" n-grams to drop.
        idf[frequency == 0] = 0
        if len(offers) >= 10:
            idf[frequency > self.max_df * documents] = 0
        self.idf_ = idf
        concept_frequency = np.zeros(len(CONCEPT_NAMES), dtype=np.float32)
        for found in concepts:
            for name in found:
                concept_frequency[CONCEPT_INDEX[name]] += 1
        self.concept_idf_ = np.log((1 + len(offers)) / (1 + concept_frequency)).astype(np.float32) + 1
        ids = [offer.id for offer in offers]
        self.position_: dict[str, int] = {}
        for n, offer_id in enumerate(ids):
            if self.position_.setdefault(offer_id, n) != n:
                raise ValueError(f"duplicate offer id: {offer_id}")
        self.offers_: Sequence[Offer] = list(offers)
        self.ids_: npt.NDArray[np.str_] = np.array(ids, dtype=str)
        self.retired_ = np.zeros(len(offers), dtype=bool)
        self.wording_blocks_: tuple[sp.csr_matrix, ...] = (
            self._weighted(counts).T.tocsr(),
            sp.csr_matrix((N_FEATURES, 0), dtype=np.float32),
        )
        self.wording_row_ = np.arange(len(offers), dtype=np.int64)
        self.concepts_ = self._concept_rows(concepts)
        self.columns_ = _Columns.of(offers)
        self.hours_ = _hours_rows(hours)
        self.skill_index_: dict[str, int] = {}
        self.skills_ = _skill_rows(offers, self.skill_index_)
        return self

    def queries(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The TF-IDF rows of needs' texts, weighted as the offers are."""
        return self._weighted(ngram_counts(texts))

    def _weighted(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Counts to unit-length TF-IDF rows (sublinear term frequency, as the index's fit always had)."""
        data = np.log(counts.data, dtype=np.float32)
        data += 1
        data *= self.idf_[counts.indices]
        rows = sp.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)
        rows.eliminate_zeros()
        return _unit_rows(rows)

    def _concept_rows(self, found: Sequence[dict[str, int]]) -> sp.csr_matrix:
        """The offers' concept vectors, as `_concept_vector` makes one, all at once.
        Sparse: an offer has a handful of concepts, and a sparse product needs no BLAS threads."""
        lengths = [len(concepts) for concepts in found]
        columns = np.fromiter(
            (CONCEPT_INDEX[name] for concepts in found for name in concepts), dtype=np.int32, count=sum(lengths)
        )
        hits = np.fromiter((h for concepts in found for h in concepts.values()), dtype=np.float32, count=len(columns))
        data = self.concept_idf_[columns] * (1 + np.log(hits, dtype=np.float32))
        indptr = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        rows = sp.csr_matrix((data.astype(np.float32), columns, indptr), shape=(len(found), len(CONCEPT_NAMES)))
        return _unit_rows(rows)

    def _concept_vector(self, concepts: dict[str, int]) -> FloatArray:
        vector = np.zeros(len(CONCEPT_NAMES), dtype=np.float32)
        for name, hits in concepts.items():
            i = CONCEPT_INDEX[name]
            vector[i] = self.concept_idf_[i] * (1 + math.log(hits))
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def concepts_of(self, i: int) -> set[str]:
        """The concepts the offer of row i names."""
        start, end = self.concepts_.indptr[i], self.concepts_.indptr[i + 1]
        return {CONCEPT_NAMES[c] for c in self.concepts_.indices[start:end]}

    def hours_of(self, i: int) -> frozenset[str]:
        """The fixed hours the offer of row i states."""
        return frozenset(name for name, stated in zip(OFFER_HOURS, self.hours_[i], strict=True) if stated)

    @property
    def appended_rows(self) -> int:
        """Rows added since the index was assembled or mapped: what an application may compact."""
        return len(self.ids_) - int(self.wording_blocks_[0].shape[1])

    def updated(
        self, changed: Sequence[tuple[Offer, TextFeatures | None]], removed: Collection[str] = ()
    ) -> "OfferIndex":
        """A new index with these offers added or replaced and those removed; this one is left as it
        is, so rankings already under way finish on it. `None` features: the offer's text is
        unchanged (its places or status changed, say), and the features it has are kept."""
        new = copy.copy(self)
        new._change(changed, removed)
        return new

    def upsert(self, offer: Offer) -> None:
        """Add a new offer or replace a changed one, with the weights learnt when the index was assembled."""
        encode = None if self.vectors_ is None else e5_encode
        self._change([(offer, text_features([offer], encode)[0])], ())

    def remove(self, offer_id: str) -> None:
        """Forget an offer (deleted, or no longer to be matched at all)."""
        self._change((), (offer_id,))

    def _change(self, changed: Sequence[tuple[Offer, TextFeatures | None]], removed: Collection[str]) -> None:
        """Retire the rows of changed and removed offers and append the changed ones, by making new
        arrays, never by editing the old ones (another index may share them, or a file)."""
        latest = {offer.id: (offer, features) for offer, features in changed}
        retiring = [self.position_[offer_id] for offer_id in (*removed, *latest) if offer_id in self.position_]
        kept: list[tuple[Offer, int]] = []  # text unchanged: the row whose features it keeps
        fresh: list[tuple[Offer, TextFeatures]] = []
        for offer_id, (offer, found) in latest.items():
            if found is None:
                if offer_id not in self.position_:
                    raise ValueError(f"a new offer comes with its features: {offer_id}")
                kept.append((offer, self.position_[offer_id]))
            else:
                fresh.append((offer, found))
        if not (retiring or fresh):
            return
        old_rows = [i for _offer, i in kept]
        offers = [offer for offer, _i in kept] + [offer for offer, _f in fresh]
        features = [f for _offer, f in fresh]
        base, more = self.wording_blocks_
        self.wording_blocks_ = (
            base,
            sp.hstack([more, self._weighted(stacked_counts(features)).T], format="csr", dtype=np.float32),
        )
        first_column = base.shape[1] + more.shape[1]
        self.wording_row_ = np.concatenate(
            [
                self.wording_row_,
                self.wording_row_[old_rows],
                np.arange(first_column, first_column + len(fresh), dtype=np.int64),
            ]
        )
        self.concepts_ = sp.vstack(
            [self.concepts_, self.concepts_[old_rows], self._concept_rows([f.concepts for f in features])],
            format="csr",
            dtype=np.float32,
        )
        self.hours_ = np.concatenate([self.hours_, self.hours_[old_rows], _hours_rows([f.hours for f in features])])
        if self.vectors_ is not None:
            more_vectors = _stacked_vectors(features)
            if more_vectors is None and features:
                raise ValueError("this index ranks by meaning: offers come with their vectors")
            self.vectors_ = np.vstack(
                [self.vectors_, self.vectors_[old_rows], *(() if more_vectors is None else (more_vectors,))]
            )
        self.columns_ = self.columns_.appended(offers)
        self.skill_index_ = dict(self.skill_index_)
        more_skills = _skill_rows(offers, self.skill_index_)
        self.skills_ = sp.vstack(
            [_widened(self.skills_, more_skills.shape[1]), more_skills], format="csr", dtype=np.float32
        )
        start = len(self.ids_)
        self.ids_ = np.concatenate([self.ids_, np.array([offer.id for offer in offers], dtype=str)])
        self.retired_ = np.concatenate([self.retired_, np.zeros(len(offers), dtype=bool)])
        self.retired_[retiring] = True
        self.offers_ = OfferRows(self.offers_, offers)
        self.position_ = dict(self.position_)
        for offer_id in removed:
            self.position_.pop(offer_id, None)
        for n, offer in enumerate(offers, start):
            self.position_[offer.id] = n

    def compacted(self) -> "OfferIndex":
        """The same index without retired rows, its wording in one block: what is worth writing."""
        if not self.appended_rows:
            return self
        live = np.flatnonzero(~self.retired_)
        new = copy.copy(self)
        blocks = [block.tocsr() for block in self.wording_blocks_]
        wording = sp.hstack(blocks, format="csc", dtype=np.float32)[:, self.wording_row_[live]]
        new.wording_blocks_ = (wording.tocsr(), sp.csr_matrix((N_FEATURES, 0), dtype=np.float32))
        new.wording_row_ = np.arange(len(live), dtype=np.int64)
        new.offers_ = [self.offers_[int(i)] for i in live]
        new.ids_ = self.ids_[live]
        new.retired_ = np.zeros(len(live), dtype=bool)
        new.position_ = {offer.id: n for n, offer in enumerate(new.offers_)}
        new.concepts_ = self.concepts_[live]
        new.hours_ = self.hours_[live]
        new.vectors_ = None if self.vectors_ is None else self.vectors_[live]
        new.columns_ = _Columns.of(new.offers_)
        new.skill_index_ = {}
        new.skills_ = _skill_rows(new.offers_, new.skill_index_)
        return new

    # Eligibility, vectorised (the same seven rules as matching.eligibility)

    def distances_km(self, person: Person) -> FloatArray:
        """Great-circle distance from the person to every offer (NaN where a location is missing)."""
        columns = self.columns_
        if person.location is None:
            return np.full(len(self.offers_), np.nan, dtype=np.float64)
        lat1, lon1 = math.radians(person.location.lat), math.radians(person.location.lon)
        lat2, lon2 = np.radians(columns.lat), np.radians(columns.lon)
        h = np.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
        distances: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))
        return distances

    def failed_rule_counts(self, person: Person, distances: FloatArray) -> npt.NDArray[np.int8]:
        """How many of the seven rules each offer fails for this person (0 = eligible)."""
        c = self.columns_
        count = (~c.open_with_room).astype(np.int8)
        with np.errstate(invalid="ignore"):
            if person.age is not None:
                count += c.min_age > person.age
                count += c.max_age < person.age
            count += c.min_months > (person.months_in_recovery or 0)
            if person.max_travel_km is not None:
                count += ~c.remote & self._beyond(person, distances, person.max_travel_km)
        if person.gender is not None:
            count += c.genders.share_none([person.gender])
        if person.languages:
            count += c.languages.share_none(person.languages)
        available = _slot_bits(person.availability)
        if available:
            count += (c.schedule_bits != 0) & ((c.schedule_bits & available) == 0)
        count[self.retired_] = RETIRED_FAILURES
        return count

    def _beyond(self, person: Person, distances: FloatArray, limit: float) -> npt.NDArray[np.bool_]:
        """Offers farther than the limit. Within a hair of it, vector and scalar sines can differ in
        the last bit, so those few are measured again exactly as the rule itself measures."""
        beyond = distances > limit
        for i in np.flatnonzero(np.abs(distances - limit) < 1e-6):
            place = self.offers_[int(i)].location
            if person.location is not None and place is not None:
                beyond[i] = distance_km(person.location, place) > limit
        return beyond

    # Relevance

    def need_concepts(self, person: Person, need: Need) -> dict[str, int]:
        return concepts_in(need_text(person, need))

    def meaning_of(self, need: Need) -> NeedMeaning | None:
        """The need's vectors as stored with it, or computed here (once the application stores
        them, never): None when this index has no vectors to compare them with."""
        if self.vectors_ is None:
            return None
        return need.meaning if need.meaning is not None else need_meaning(need.description)

    def signals(
        self,
        person: Person,
        need: Need,
        distances: FloatArray | None = None,
        concepts: dict[str, int] | None = None,
        query: sp.csr_matrix | None = None,
        meaning: NeedMeaning | None = None,
        closeness: FloatArray | None = None,
    ) -> dict[str, FloatArray]:
        """Each signal of every offer's relevance to the need, in its own units (matching.ranker.SIGNALS).
        What the need gives (its concepts, TF-IDF row, vectors, and the offers' closeness to them
        from `closeness_to`) may be given when already at hand."""
        category = (
            CATEGORY_AFFINITY[CATEGORY_INDEX[need.category]][self.columns_.category]
            if need.category in CATEGORY_INDEX
            else np.zeros(len(self.offers_), np.float32)
        )
        category = np.where(self.columns_.category < 0, 0, category)
        if concepts is None:
            concepts = self.need_concepts(person, need)
        shared_concepts = np.asarray(self.concepts_ @ (CONCEPT_AFFINITY @ self._concept_vector(concepts))).ravel()
        if query is None:
            query = self.queries([need.description])
        # Only the rows of the need's n-grams take part: picked first, they are all a block has to give.
        values = sp.csr_matrix((query.data, np.arange(query.nnz), [0, query.nnz]), shape=(1, query.nnz))
        by_column = [
            np.asarray((values @ block[query.indices]).todense(), dtype=np.float32).ravel()
            for block in self.wording_blocks_
        ]
        wording = np.concatenate(by_column)[self.wording_row_]
        skills = np.zeros(len(self.offers_), np.float32)
        if need.category in SKILL_CATEGORIES and person.skills:
            known = [self.skill_index_[s] for s in person.skills if s in self.skill_index_]
            if known:
                skills = np.minimum(1.0, np.asarray(self.skills_[:, known].sum(axis=1)).ravel()).astype(np.float32)
        limit = DEFAULT_TRAVEL_KM if person.max_travel_km is None else max(person.max_travel_km, 0.5)
        if distances is None:
            distances = self.distances_km(person)
        nearness = np.where(self.columns_.remote, 0.5, np.clip(1 - distances / limit, 0, 1))
        nearness = np.nan_to_num(nearness, nan=0.5).astype(np.float32)
        semantic = semantic_sentence = np.zeros(len(self.offers_), np.float32)
        if closeness is None:
            (closeness,) = self.closeness_to([self.meaning_of(need) if meaning is None else meaning])
        if closeness is not None:
            semantic, semantic_sentence = closeness[:, 0], closeness[:, 1:].max(axis=1)
        return {
            "category": category.astype(np.float32),
            "meaning": shared_concepts,
            "wording": wording,
            "semantic": semantic,
            "semantic_sentence": semantic_sentence,
            "skills": skills,
            "nearness": nearness,
            "hours": -self.hours_clash(need).astype(np.float32),
            "group": self.reserved_as_asked(concepts).astype(np.float32),
        }

    def closeness_to(self, meanings: Sequence[NeedMeaning | None]) -> list[FloatArray | None]:
        """Each offer's cosine with each need's whole text (column 0) and sentences (the others),
        for many needs in one product: one pass over the offers' vectors, however many needs."""
        if self.vectors_ is None or not any(m is not None for m in meanings):
            return [None] * len(meanings)
        rows = [np.vstack([m.whole, m.sentence_vectors]) for m in meanings if m is not None]
        products = np.split(self.vectors_ @ np.vstack(rows).T, np.cumsum([len(r) for r in rows])[:-1], axis=1)
        found = iter(products)
        return [next(found) if m is not None else None for m in meanings]

    def scores(
        self,
        person: Person,
        need: Need,
        distances: FloatArray | None = None,
        concepts: dict[str, int] | None = None,
        query: sp.csr_matrix | None = None,
        meaning: NeedMeaning | None = None,
    ) -> tuple[FloatArray, dict[str, FloatArray]]:
        """Relevance of every offer to the need, and its parts: each signal times its learnt weight."""
        return self.combined(self.signals(person, need, distances, concepts, query, meaning))

    def combined(self, found: dict[str, FloatArray]) -> tuple[FloatArray, dict[str, FloatArray]]:
        """The signals combined by the ranker's weights: the total, and each signal's part of it."""
        weights = self.ranker_.weights
        parts = {name: (weights[name] * found[name]).astype(np.float32) for name in SIGNALS}
        total = sum(parts.values(), np.zeros(len(self.offers_), np.float32))
        return total.astype(np.float32), parts

    def hours_clash(self, need: Need) -> npt.NDArray[np.bool_]:
        """Offers whose fixed hours clash with what the need says the person cannot do."""
        taken = hours_taken(need.description)
        clash = np.zeros(len(self.offers_), dtype=bool)
        for need_side, offer_side in CLASHES:
            if need_side in taken:
                clash |= self.hours_[:, OFFER_HOURS.index(offer_side)]
        return clash

    def reserved_as_asked(self, concepts: dict[str, int]) -> npt.NDArray[np.bool_]:
        """Offers reserved for the group the need asks to be among (a women's group for a woman
        who wants to meet other women in recovery)."""
        reserved = np.zeros(len(self.offers_), dtype=bool)
        for concept, gender in GROUP_CONCEPTS.items():
            if concept in concepts:
                reserved |= self.columns_.genders.only(gender)
        return reserved

    def _best(self, total: FloatArray, candidates: npt.NDArray[np.intp], k: int) -> list[int]:
        """The k best candidates, highest score first, equal scores by offer id."""
        if k <= 0 or candidates.size == 0:
            return []
        rounded = np.round(total[candidates].astype(np.float64), 6)
        if candidates.size > k:
            # Everything scoring at least the k-th best, so ties at the edge are broken by id too.
            threshold = np.partition(rounded, -k)[-k]
            keep = rounded >= threshold
            candidates, rounded = candidates[keep], rounded[keep]
        order = np.lexsort((self.ids_[candidates], -rounded))
        return [int(i) for i in candidates[order][:k]]

    def eligible_ids(self, person: Person, category: str | None = None) -> list[str]:
        """Every offer the person can take (of one category, if given), by id, unscored: for a
        person who asked not to be ranked by a machine (PIPL Art. 24), the caseworker reads the
        offers and chooses."""
        eligible = self.failed_rule_counts(person, self.distances_km(person)) == 0
        if category is not None:
            eligible &= self.columns_.category == CATEGORY_INDEX.get(category, -2)
        return sorted(str(self.ids_[i]) for i in np.flatnonzero(eligible))

    def rank(
        self,
        person: Person,
        need: Need,
        top: int = 10,
        near_misses: int = 0,
        explain: bool = True,
        query: sp.csr_matrix | None = None,
    ) -> Ranking:
        """Eligible offers for this need, best first, with the parts of each score in words;
        then, if asked, the most relevant offers that failed exactly one rule, with that rule."""
        queries = None if query is None else [query]
        (ranking,) = self.rank_needs(person, [need], top, near_misses, explain, queries)
        return ranking

    def rank_needs(
        self,
        person: Person,
        needs: Sequence[Need],
        top: int = 10,
        near_misses: int = 0,
        explain: bool = True,
        queries: Sequence[sp.csr_matrix] | None = None,
    ) -> list[Ranking]:
        """Several needs of one person ranked as `rank` ranks one: what depends on the person alone
        (distances, eligibility) is computed once, and every need meets the offers' vectors in one
        product, far cheaper than one product a need."""
        if not self.offers_:
            return [Ranking(need.id, ()) for need in needs]
        distances = self.distances_km(person)
        failed = self.failed_rule_counts(person, distances)
        eligible, missed_one = np.flatnonzero(failed == 0), np.flatnonzero(failed == 1)
        meanings = [self.meaning_of(need) for need in needs]
        found_rankings = []
        for n, (need, meaning, closeness) in enumerate(zip(needs, meanings, self.closeness_to(meanings), strict=True)):
            concepts = self.need_concepts(person, need)
            query = None if queries is None else queries[n]
            found = self.signals(person, need, distances, concepts, query, meaning, closeness)
            total, parts = self.combined(found)
            ranked = []
            for i in self._best(total, eligible, top):
                reasons = self._explain(i, person, concepts, need, parts, distances, meaning) if explain else ()
                signals = {name: float(found[name][i]) for name in SIGNALS}
                ranked.append(RankedOffer(str(self.ids_[i]), round(float(total[i]), 4), reasons, signals))
            misses = []
            for i in self._best(total, missed_one, near_misses):
                offer = self.offers_[i]
                misses.append(NearMiss(offer.id, tuple(failures(person, offer)), round(float(total[i]), 4)))
            found_rankings.append(Ranking(need.id, tuple(ranked), tuple(misses)))
        return found_rankings

    def _explain(
        self,
        i: int,
        person: Person,
        concepts: dict[str, int],
        need: Need,
        parts: dict[str, FloatArray],
        distances: FloatArray,
        meaning: NeedMeaning | None,
    ) -> tuple[Reason, ...]:
        offer = self.offers_[i]
        weights = self.ranker_.weights
        reasons = []
        if weights["category"] > 0 and parts["category"][i] >= weights["category"]:
            reasons.append(
                Reason(
                    "same_category",
                    f"same category: {need.category}",
                    {"category": need.category},
                    float(parts["category"][i]),
                )
            )
        elif parts["category"][i] > 0:
            reasons.append(
                Reason(
                    "related_category",
                    f"{offer.category} can answer a {need.category} need",
                    {"offer_category": offer.category, "need_category": need.category},
                    float(parts["category"][i]),
                )
            )
        shared = sorted(
            set(concepts) & self.concepts_of(i),
            key=lambda name: -self.concept_idf_[CONCEPT_INDEX[name]],
        )
        if shared:
            words = ", ".join(name.replace("_", " ") for name in shared[:4])
            # The words that matched, on each side: a concept's name alone can mislead ("about
            # training" for a family need that says 学习怎么沟通).
            matched: dict[str, object] = {
                "concepts": shared[:4],
                "need_words": words_for(need_text(person, need), shared[:4])[:4],
                "offer_words": words_for(offer.text, shared[:4])[:4],
            }
            reasons.append(Reason("shared_meaning", f"both about {words}", matched, float(parts["meaning"][i])))
        elif parts["meaning"][i] > 0:
            reasons.append(Reason("related_meaning", "close in meaning", {}, float(parts["meaning"][i])))
        closeness = (
            meaning.sentence_vectors @ self.vectors_[i] if meaning is not None and self.vectors_ is not None else None
        )
        if meaning is not None and closeness is not None and closeness.max() >= CLOSE_IN_MEANING:
            need_words, offer_words = meaning.sentences[int(np.argmax(closeness))], offer.title
            reasons.append(
                Reason(
                    "close_in_meaning",
                    f"close in meaning: '{need_words}' <-> '{offer_words}'",
                    {"need_words": need_words, "offer_words": offer_words},
                    # Rounded as scores are: a product over the offers' rows may differ in its last
                    # bits with the order of the rows.
                    round(float(parts["semantic"][i] + parts["semantic_sentence"][i]), 4),
                )
            )
        if parts["wording"][i] > 0 and parts["wording"][i] >= SIMILAR_WORDING * weights["wording"]:
            reasons.append(Reason("similar_wording", "similar wording", {}, float(parts["wording"][i])))
        if parts["skills"][i] > 0:
            used = sorted(set(person.skills) & set(offer.skills))
            reasons.append(
                Reason("skills", f"uses their skills: {', '.join(used)}", {"skills": used}, float(parts["skills"][i]))
            )
        if parts["hours"][i] < 0:
            taken = hours_taken(need.description)
            clashing = sorted({fixed for free, fixed in CLASHES if free in taken and fixed in self.hours_of(i)})
            words = ", ".join(name.replace("_", " ") for name in clashing)
            reasons.append(
                Reason(
                    "hours_clash",
                    f"hours clash with what they said: {words}",
                    {"hours": clashing},
                    float(parts["hours"][i]),
                )
            )
        if parts["group"][i] > 0:
            group = next(c for c, g in GROUP_CONCEPTS.items() if c in concepts and offer.eligibility.genders == (g,))
            reasons.append(
                Reason("reserved_as_asked", f"only for {group}, as asked", {"group": group}, float(parts["group"][i]))
            )
        if offer.remote:
            reasons.append(Reason("remote", "can be done remotely", {}))
        elif not math.isnan(distances[i]):
            km = round(float(distances[i]), 1)
            reasons.append(Reason("distance", f"{km:g} km away", {"km": km}))
        return tuple(reasons)


def need_text(person: Person, need: Need) -> str:
    """What a need says for matching: its description, and the person's skills where the kind of
    need puts them to use."""
    if need.category in SKILL_CATEGORIES and person.skills:
        return f"{need.description}\n{' '.join(person.skills)}"
    return need.description
