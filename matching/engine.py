"""Whole-document operations: rank every need, or allocate places across all of them."""

from collections.abc import Sequence

import numpy as np

from matching.allocation import Candidate, allocate, value_of
from matching.index import OfferIndex
from matching.model import Offer, Person, Ranking

# The relevance scale is read as a caseworker's grade (0 none … 3 answers the need well).
TOP_GRADE = 3.0


def rank_all(
    offers: Sequence[Offer], people: Sequence[Person], top: int = 10, near_misses: int = 0, explain: bool = False
) -> dict[str, Ranking]:
    """Every need of every person, ranked against one index built once."""
    index = OfferIndex().fit(offers)
    return {
        need.id: index.rank(person, need, top=top, near_misses=near_misses, explain=explain)
        for person in people
        for need in person.needs
    }


def candidates(index: OfferIndex, people: Sequence[Person]) -> list[Candidate]:
    """Every eligible (need, offer) pair with its value: (2^relevance - 1) × urgency."""
    found: list[Candidate] = []
    for person in people:
        distances = index.distances_km(person)
        eligible = np.flatnonzero(index.failed_rule_counts(person, distances) == 0)
        for need in person.needs:
            total, _parts = index.scores(person, need, distances)
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
