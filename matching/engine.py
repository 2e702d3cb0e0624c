"""Whole-document operations: rank every need, or allocate places across all of them."""

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from matching.allocation import Candidate, allocate
from matching.index import OfferIndex
from matching.model import Offer, Person, Ranking
from matching.semantic import Encoder, e5_encode, need_meanings


def with_meanings(people: Sequence[Person], encode: Encoder = e5_encode) -> list[Person]:
    """The people with every need's vectors computed, all texts encoded in one call."""
    needs = [need for person in people for need in person.needs if need.meaning is None]
    found = dict(zip((need.id for need in needs), need_meanings([n.description for n in needs], encode), strict=True))
    return [
        dataclasses.replace(
            person, needs=tuple(dataclasses.replace(n, meaning=found.get(n.id, n.meaning)) for n in person.needs)
        )
        for person in people
    ]


def _people_with_queries(index: OfferIndex, people: Sequence[Person]) -> Iterator[tuple[Person, list[sp.csr_matrix]]]:
    """Every person with their needs' TF-IDF rows, all transformed in one call (far cheaper than
    one by one)."""
    texts = [need.description for person in people for need in person.needs]
    if not texts:
        return
    queries = index.queries(texts)
    start = 0
    for person in people:
        yield person, [queries[row] for row in range(start, start + len(person.needs))]
        start += len(person.needs)


def rank_all(
    offers: Sequence[Offer], people: Sequence[Person], top: int = 10, near_misses: int = 0, explain: bool = False
) -> dict[str, Ranking]:
    """Every need of every person, ranked against one index built once."""
    index = OfferIndex().fit(offers)
    return rank_with(index, with_meanings(people), top=top, near_misses=near_misses, explain=explain)


def rank_with(
    index: OfferIndex, people: Sequence[Person], top: int = 10, near_misses: int = 0, explain: bool = False
) -> dict[str, Ranking]:
    """Every need of every person, ranked against an existing index, one person at a time."""
    return {
        ranking.need_id: ranking
        for person, queries in _people_with_queries(index, people)
        for ranking in index.rank_needs(person, person.needs, top, near_misses, explain, queries)
    }


def candidates(index: OfferIndex, people: Sequence[Person]) -> list[Candidate]:
    """Every eligible (need, offer) pair with its value: the gain the grade of a caseworker is
    expected to give it (the ranker's calibration of its score), times the need's urgency."""
    found: list[Candidate] = []
    for person, queries in _people_with_queries(index, people):
        distances = index.distances_km(person)
        eligible = np.flatnonzero(index.failed_rule_counts(person, distances) == 0)
        meanings = [index.meaning_of(need) for need in person.needs]
        closeness = index.closeness_to(meanings)
        for need, query, meaning, near in zip(person.needs, queries, meanings, closeness, strict=True):
            total, _parts = index.combined(index.signals(person, need, distances, None, query, meaning, near))
            gains = index.ranker_.calibration.expected_gain(total[eligible])
            found.extend(
                Candidate(need.id, index.offers_[int(i)].id, float(gain) * need.urgency)
                for i, gain in zip(eligible, gains, strict=True)
            )
    return found


def allocate_all(offers: Sequence[Offer], people: Sequence[Person]) -> dict[str, str | None]:
    """The exact best allocation of the offers' places to all the needs."""
    index = OfferIndex().fit(offers)
    person_of = {need.id: person.id for person in people for need in person.needs}
    capacity = {offer.id: max(0, offer.capacity) for offer in offers}
    return allocate(candidates(index, with_meanings(people)), capacity, person_of)
