"""Whole-document operations: rank every need, or allocate places across all of them."""

from collections.abc import Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from matching.allocation import Candidate, allocate, value_of
from matching.index import OfferIndex
from matching.model import Need, Offer, Person, Ranking

# The relevance scale is read as a caseworker's grade (0 none … 3 answers the need well).
TOP_GRADE = 3.0


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
    return rank_with(index, people, top=top, near_misses=near_misses, explain=explain)


def rank_with(
    index: OfferIndex, people: Sequence[Person], top: int = 10, near_misses: int = 0, explain: bool = False
) -> dict[str, Ranking]:
    """Every need of every person, ranked against an existing index."""
    return {
        need.id: index.rank(person, need, top=top, near_misses=near_misses, explain=explain, query=query)
        for person, need, query in _needs_with_queries(index, people)
    }


def candidates(index: OfferIndex, people: Sequence[Person]) -> list[Candidate]:
    """Every eligible (need, offer) pair with its value: (2^relevance - 1) × urgency."""
    found: list[Candidate] = []
    eligible_of: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for person, need, query in _needs_with_queries(index, people):
        if person.id not in eligible_of:
            distances = index.distances_km(person)
            eligible_of[person.id] = (distances, np.flatnonzero(index.failed_rule_counts(person, distances) == 0))
        distances, eligible = eligible_of[person.id]
        total, _parts = index.scores(person, need, distances, query=query)
        grades = np.clip(total[eligible], 0.0, TOP_GRADE)
        found.extend(
            Candidate(need.id, index.offers_[i].id, value_of(float(grade), need.urgency))
            for i, grade in zip(eligible, grades, strict=True)
        )
    return found


def allocate_all(offers: Sequence[Offer], people: Sequence[Person]) -> dict[str, str | None]:
    """The exact best allocation of the offers' places to all the needs."""
    index = OfferIndex().fit(offers)
    person_of = {need.id: person.id for person in people for need in person.needs}
    capacity = {offer.id: max(0, offer.capacity) for offer in offers}
    return allocate(candidates(index, people), capacity, person_of)
