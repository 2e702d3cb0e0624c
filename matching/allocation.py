"""The exact allocation: at most one offer per need, never more than an offer's places, never the
same offer twice to one person, eligible pairs only, maximising the total value.

It is solved as a minimum-cost full matching on a sparse bipartite graph (scipy's LAPJVsp):
- each offer is expanded into one column per place (no more places than people asking for it);
- each need row may also take a private "unassigned" column;
- where a person has several needs that could take the same offer and the offer has more than
  one place, their edges go through a gadget (a column the needs compete for, and a row that then
  takes one place of the offer), so that one person never holds the same offer twice.
Every full matching has the same number of edges, so with cost = C - value a minimum-cost
matching is a maximum-value allocation. Exact, not greedy.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Candidate:
    """An eligible (need, offer) pair and what assigning it is worth."""

    need: str
    offer: str
    value: float


def _ramp(counts: IntArray) -> IntArray:
    """0, 1, …, counts[0]-1, 0, 1, …, counts[1]-1, …: the place number of each repeated edge."""
    ends = np.cumsum(counts)
    return np.arange(int(ends[-1]) if counts.size else 0) - np.repeat(ends - counts, counts)


def allocate(
    candidates: Sequence[Candidate], capacity: dict[str, int], person_of: dict[str, str]
) -> dict[str, str | None]:
    """The best assignment of needs to offers; every need in `person_of` appears, None if unassigned."""
    assignments: dict[str, str | None] = dict.fromkeys(person_of)
    useful = [c for c in candidates if c.value > 0 and capacity.get(c.offer, 0) > 0]
    if not useful:
        return assignments
    needs, need_of = np.unique(np.array([c.need for c in useful]), return_inverse=True)
    offers, offer_of = np.unique(np.array([c.offer for c in useful]), return_inverse=True)
    _people, person_of_need = np.unique(np.array([person_of[n] for n in needs]), return_inverse=True)
    values = np.array([c.value for c in useful], dtype=np.float64)
    big = float(values.max()) + 1.0

    # (person, offer) groups: how many of a person's needs want the same offer.
    group_key = person_of_need[need_of].astype(np.int64) * len(offers) + offer_of
    group_keys, group_of, group_size = np.unique(group_key, return_inverse=True, return_counts=True)
    askers = np.bincount(group_keys % len(offers), minlength=len(offers))
    caps = np.array([capacity[o] for o in offers], dtype=np.int64)
    places = np.minimum(caps, askers)  # one place per person at most can be used
    first_place = np.concatenate(([0], np.cumsum(places)[:-1]))
    columns = int(places.sum())

    gadget_group = (group_size >= 2) & (places[group_keys % len(offers)] >= 2)
    through_gadget = gadget_group[group_of]
    rows, cols, costs = [], [], []

    # Direct edges: a need to every place of its offer.
    direct = np.flatnonzero(~through_gadget)
    repeats = places[offer_of[direct]]
    rows.append(np.repeat(need_of[direct], repeats))
    cols.append(np.repeat(first_place[offer_of[direct]], repeats) + _ramp(repeats))
    costs.append(np.repeat(big - values[direct], repeats))

    # Gadgets: needs compete for the gadget's column; the gadget's row takes a place, or idles.
    gadgets = np.flatnonzero(gadget_group)
    gadget_column = np.full(len(group_keys), -1, dtype=np.int64)
    gadget_column[gadgets] = columns + np.arange(len(gadgets))
    gadget_row = np.full(len(group_keys), -1, dtype=np.int64)
    gadget_row[gadgets] = len(needs) + np.arange(len(gadgets))
    columns += len(gadgets)
    members = np.flatnonzero(through_gadget)
    rows.append(need_of[members])
    cols.append(gadget_column[group_of[members]])
    costs.append(big - values[members])
    rows.append(gadget_row[gadgets])
    cols.append(gadget_column[gadgets])
    costs.append(np.full(len(gadgets), big))
    gadget_offer = group_keys[gadgets] % len(offers)
    repeats = places[gadget_offer]
    rows.append(np.repeat(gadget_row[gadgets], repeats))
    cols.append(np.repeat(first_place[gadget_offer], repeats) + _ramp(repeats))
    costs.append(np.full(int(repeats.sum()), big))

    # Each need's own "unassigned" column.
    rows.append(np.arange(len(needs)))
    cols.append(columns + np.arange(len(needs)))
    costs.append(np.full(len(needs), big))
    columns += len(needs)

    graph = sp.csr_matrix(
        (np.concatenate(costs), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(needs) + len(gadgets), columns),
    )
    matched_rows, matched_cols = min_weight_full_bipartite_matching(graph)
    column_offer = np.full(columns, -1, dtype=np.int64)
    column_offer[: int(places.sum())] = np.repeat(np.arange(len(offers)), places)
    column_offer[gadget_column[gadgets]] = gadget_offer
    for row, col in zip(matched_rows, matched_cols, strict=True):
        if row < len(needs) and column_offer[col] >= 0:
            assignments[str(needs[row])] = str(offers[column_offer[col]])
    return assignments
