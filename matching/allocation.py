"""The exact allocation: at most one offer per need, never more than an offer's places, never the
same offer twice to one person, eligible pairs only, maximising the total value.

It is solved as a minimum-cost full matching on a sparse bipartite graph (scipy's LAPJVsp):
- each offer is expanded into one column per place;
- each need row may also take a private "unassigned" column;
- where a person has several needs that could take the same offer, their edges go through a
  gadget (a column the needs compete for, and a row that then takes one place of the offer),
  so that one person never holds the same offer twice.
Every full matching has the same number of edges, so with cost = C - value a minimum-cost
matching is a maximum-value allocation. Exact, not greedy.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import min_weight_full_bipartite_matching


@dataclass(frozen=True)
class Candidate:
    """An eligible (need, offer) pair and what assigning it is worth."""

    need: str
    offer: str
    value: float


def allocate(
    candidates: Sequence[Candidate], capacity: dict[str, int], person_of: dict[str, str]
) -> dict[str, str | None]:
    """The best assignment of needs to offers; every need in `person_of` appears, None if unassigned."""
    assignments: dict[str, str | None] = dict.fromkeys(person_of)
    useful = [c for c in candidates if c.value > 0 and capacity.get(c.offer, 0) > 0]
    if not useful:
        return assignments
    needs = sorted({c.need for c in useful})
    need_row = {need: i for i, need in enumerate(needs)}
    by_person_offer: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for c in useful:
        by_person_offer[(person_of[c.need], c.offer)].append(c)

    # One place per person at most can be used, so no offer needs more places than people asking.
    askers: dict[str, int] = defaultdict(int)
    for _person, offer in by_person_offer:
        askers[offer] += 1
    offers = sorted(askers)
    first_slot: dict[str, int] = {}
    columns = 0
    for offer in offers:
        first_slot[offer] = columns
        columns += min(capacity[offer], askers[offer])
    slots = {
        offer: range(first_slot[offer], first_slot[offer] + min(capacity[offer], askers[offer])) for offer in offers
    }

    big = max(c.value for c in useful) + 1.0
    rows, cols, costs = [], [], []

    def edge(row: int, col: int, cost: float) -> None:
        rows.append(row)
        cols.append(col)
        costs.append(cost)

    gadget_rows = len(needs)
    gadgets: list[tuple[int, list[Candidate]]] = []
    for (_person, offer), group in by_person_offer.items():
        if len(group) == 1:
            c = group[0]
            for slot in slots[offer]:
                edge(need_row[c.need], slot, big - c.value)
            continue
        gadget_column = columns
        columns += 1
        gadget_row = gadget_rows
        gadget_rows += 1
        gadgets.append((gadget_column, group))
        for c in group:
            edge(need_row[c.need], gadget_column, big - c.value)
        edge(gadget_row, gadget_column, big)  # the gadget unused
        for slot in slots[offer]:
            edge(gadget_row, slot, big)  # the gadget used: it takes a place of the offer
    for row in need_row.values():
        edge(row, columns, big)  # the need's own "unassigned" column
        columns += 1

    graph = sp.csr_matrix((np.array(costs), (np.array(rows), np.array(cols))), shape=(gadget_rows, columns))
    matched_rows, matched_cols = min_weight_full_bipartite_matching(graph)
    column_offer = {}
    for offer in offers:
        for slot in slots[offer]:
            column_offer[slot] = offer
    for gadget_column, group in gadgets:
        column_offer[gadget_column] = group[0].offer
    for row, col in zip(matched_rows, matched_cols, strict=True):
        if row < len(needs) and col in column_offer:
            assignments[needs[row]] = column_offer[col]
    return assignments


def value_of(grade: float, urgency: int) -> float:
    """What an assignment is worth: (2^relevance - 1) × urgency, as the programme scores it."""
    return float((2.0**grade - 1.0) * urgency)
