"""Whole-document operations: rank every need, or allocate places across all of them."""

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from matching.allocation import Candidate, allocate
from matching.index import OfferIndex
from matching.model import Need, Offer, Person, Ranking
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


def _needs_with_queries(index: OfferIndex, people: Sequence[Person]) -> Iterator[tuple[Person, Need, sp.csr_matrix]]:
    """Every need with its TF-IDF row, all transformed in one call (far cheaper than one by one)."""
    pairs = [(person, need) for person in people for need in person.needs]
    if not pairs:
        return
    queries = index.queries([need.description for _person, need in pairs])
    for row, (person, need) in enumerate(pairs):
        yield person, need, queries[row]


def rank_all(
    offers: Sequence[Offer], people: Sequence[Person], top: int = 10, near_misses: int = 0, explain: bool = False
) -> dict[str, Ranking]:
    """Every need of every person, ranked against one index built once."""
    index = OfferIndex().fit(offers)
    return rank_with(index, with_meanings(people), top=top, near_misses=near_misses, explain=explain)


def rank_with(
    index: OfferIndex, people: Sequence[Person], top: int = 10, near_misses: int = 0, explain: bool = False
) -> dict[str, Ranking]:
    """Every need of every person, ranked against an existing index."""
    return {
        need.id: index.rank(person, need, top=top, near_misses=near_misses, explain=explain, query=query)
        for person, need, query in _needs_with_queries(index, people)
    }


def candidates(index: OfferIndex, people: Sequence[Person]) -> list[Candidate]:
    """Every eligible (need, offer) pair with its value: the gain the grade of a caseworker is
    expected to give it (the ranker's calibration of its score), times the need's urgency."""
    found: list[Candidate] = []
    eligible_of: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for person, need, query in _needs_with_queries(index, people):
        if person.id not in eligible_of:
            distances = index.distances_km(person)
            eligible_of[person.id] = (distances, np.flatnonzero(index.failed_rule_counts(person, distances) == 0))
        distances, eligible = eligible_of[person.id]
        total, _parts = index.scores(person, need, distances, query=query)
        gains = index.ranker_.calibration.expected_gain(total[eligible])
        found.extend(
            Candidate(need.id, index.offers_[i].id, float(gain) * need.urgency)
            for i, gain in zip(eligible, gains, strict=True)
        )
    return found


def allocate_all(offers: Sequence[Offer], people: Sequence[Person]) -> dict[str, str | None]:
    """The exact best allocation of the offers' places to all the needs."""
    index = OfferIndex().fit(offers)
    person_of = {need.id: person.id for person in people for need in person.needs}
    capacity = {offer.id: max(0, offer.capacity) for offer in offers}
    return allocate(candidates(index, with_meanings(people)), capacity, person_of)
