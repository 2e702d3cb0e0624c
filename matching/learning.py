"""How the signals are combined, learnt from judged pairs instead of chosen by hand, and judged only
on people the fit has not seen.

- The ranker is linear: an offer's score is the sum of its signals times their weights, so every
  point of a score is a part a caseworker can read. Weights are learnt from pairs of offers of one
  need that a caseworker graded differently (a pairwise logistic loss, each pair weighted by the
  difference of their gains, each need counting once), and held non-negative: a signal may be
  found useless, never turned against its own meaning.
- A calibration turns a score into the gain a caseworker's grade would give (2^grade - 1), from
  the score and its distance to the need's best: allocation then maximises what the grades would.
- Every figure that judges a choice comes from cross-validation grouped by person: the offers of
  a need (and every need of that person) are never both in the fit and in the score.

The fit uses scipy's L-BFGS-B; nothing here runs when ranking (the weights are read from
`ranker.json`).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from matching.allocation import Candidate, allocate
from matching.engine import with_meanings
from matching.index import OfferIndex
from matching.model import Offer, Person
from matching.ranker import GAINS, SIGNALS, Calibration, Ranker, sigmoid

FloatArray = npt.NDArray[np.floating[Any]]
REGULARISATION = 0.01


# The weights the engine had before they were learnt, chosen by hand on the dev set: the baseline
# every learnt ranker is shown beside. Its allocation took a score as a grade (clipped to 0..3).
HAND_WEIGHTS = {
    "category": 1.0,
    "meaning": 1.0,
    "wording": 0.2,
    "skills": 0.5,
    "nearness": 0.2,
    "hours": 0.7,
    "group": 0.1,
}


@dataclass(frozen=True)
class Example:
    """One need's eligible offers, their signals (one row an offer) and the grades they were given."""

    person_id: str
    need_id: str
    urgency: int
    offer_ids: tuple[str, ...]
    signals: FloatArray
    grades: npt.NDArray[np.int64]


@dataclass(frozen=True)
class LabelledSet:
    """A labelled set in the exchange format, turned into examples: every need's eligible offers
    with their signals and grades, and what allocation needs (places, whose need is whose)."""

    name: str
    examples: list[Example]
    capacity: dict[str, int]
    person_of: dict[str, str]

    @classmethod
    def of(
        cls, name: str, offers: Sequence[Offer], people: Sequence[Person], qrels: dict[str, dict[str, int]]
    ) -> "LabelledSet":
        index = OfferIndex().fit(offers)
        examples = []
        for person in with_meanings(people):
            distances = index.distances_km(person)
            eligible = np.flatnonzero(index.failed_rule_counts(person, distances) == 0)
            for need in person.needs:
                found = index.signals(person, need, distances)
                signals = np.column_stack([found[s] for s in SIGNALS])[eligible].astype(np.float64)
                ids = tuple(str(index.ids_[i]) for i in eligible)
                grades = np.array([qrels.get(need.id, {}).get(i, 0) for i in ids], dtype=np.int64)
                examples.append(Example(person.id, need.id, need.urgency, ids, signals, grades))
        capacity = {offer.id: max(0, offer.capacity) for offer in offers}
        person_of = {need.id: person.id for person in people for need in person.needs}
        return cls(name, examples, capacity, person_of)

    def hand_figures(self) -> dict[str, float]:
        """The figures of the engine with its hand-chosen weights."""
        weights = np.array([HAND_WEIGHTS.get(s, 0.0) for s in SIGNALS])
        scores = {e.need_id: e.signals @ weights for e in self.examples}
        values = {e.need_id: (2.0 ** np.clip(scores[e.need_id], 0, 3) - 1) * e.urgency for e in self.examples}
        return {**ranking_figures(self.examples, scores), "allocation": self.allocation(values)}

    def allocation(self, values: dict[str, FloatArray]) -> float:
        return allocation_ratio(self.examples, values, self.capacity, self.person_of)


def _pairs(examples: Sequence[Example]) -> tuple[FloatArray, FloatArray]:
    """Signal differences (better minus worse) of every differently graded pair, and their weights."""
    differences, weights = [], []
    for example in examples:
        gains = GAINS[example.grades]
        better, worse = np.nonzero(gains[:, None] > gains[None, :])
        if better.size == 0:
            continue
        weight = gains[better] - gains[worse]
        differences.append(example.signals[better] - example.signals[worse])
        weights.append(weight / weight.sum())
    if not differences:
        raise ValueError("no need has offers graded differently: nothing to learn from")
    return np.vstack(differences), np.concatenate(weights)


def fit_weights(examples: Sequence[Example]) -> FloatArray:
    """Non-negative weights that order each need's offers as its grades do, as nearly as a line can."""
    differences, pair_weights = _pairs(examples)
    total = pair_weights.sum()
    # Each signal in units of its spread, so that one regularisation suits signals of any range
    # (a cosine that varies by hundredths, a category that jumps from 0 to 1).
    spread = np.vstack([e.signals for e in examples]).std(axis=0)
    spread[spread == 0] = 1
    differences = differences / spread

    def loss(w: FloatArray) -> tuple[float, FloatArray]:
        margin = differences @ w
        # log(1 + e^-m), computed without overflow
        value = float(pair_weights @ np.logaddexp(0, -margin)) / total + REGULARISATION * float(w @ w)
        slope = -(pair_weights * sigmoid(-margin)) @ differences / total + 2 * REGULARISATION * w
        return value, slope

    start = np.full(differences.shape[1], 0.1)
    found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(0, None)] * differences.shape[1])
    weights: FloatArray = found.x / spread
    return weights


def fit_calibration(examples: Sequence[Example], weights: FloatArray) -> Calibration:
    """The ordinal model of grades from scores, fitted by maximum likelihood."""
    inputs, grades = [], []
    for example in examples:
        scores = example.signals @ weights
        if scores.size:
            inputs.append(np.column_stack([scores, scores - scores.max()]))
            grades.append(example.grades)
    x, y = np.vstack(inputs), np.concatenate(grades)

    def loss(theta: FloatArray) -> float:
        slopes, thresholds = theta[:2], np.cumsum(np.concatenate([theta[2:3], np.exp(theta[3:])]))
        at_least = sigmoid((x @ slopes)[:, None] - thresholds[None, :])
        bounds = np.column_stack([np.ones(len(y)), at_least, np.zeros(len(y))])
        likelihood = bounds[np.arange(len(y)), y] - bounds[np.arange(len(y)), y + 1]
        return float(-np.log(np.clip(likelihood, 1e-12, None)).mean() + REGULARISATION * slopes @ slopes)

    found = minimize(loss, np.array([1.0, 1.0, 0.0, 0.0, 0.0]), method="L-BFGS-B")
    theta = found.x
    thresholds = np.cumsum(np.concatenate([theta[2:3], np.exp(theta[3:])]))
    return Calibration((float(theta[0]), float(theta[1])), tuple(float(t) for t in thresholds))


# Figures, as the exchange format's scorer defines them


def ndcg(scores: FloatArray, grades: npt.NDArray[np.int64], k: int) -> float | None:
    """nDCG@k of offers ordered by score (ties by position), gain 2^grade - 1; None with nothing to find."""
    order = np.argsort(-scores, kind="stable")[:k]
    ideal = np.sort(grades)[::-1][:k]
    discount = 1 / np.log2(np.arange(2, k + 2))
    best = float(GAINS[ideal] @ discount[: len(ideal)])
    if best == 0:
        return None
    return float(GAINS[grades[order]] @ discount[: len(order)]) / best


def recall(scores: FloatArray, grades: npt.NDArray[np.int64], k: int) -> float | None:
    wanted = int((grades >= 2).sum())
    if wanted == 0:
        return None
    order = np.argsort(-scores, kind="stable")[:k]
    return int((grades[order] >= 2).sum()) / wanted


def _mean(values: Sequence[float | None]) -> float:
    found = [v for v in values if v is not None]
    return float(np.mean(found)) if found else math.nan


def ranking_figures(examples: Sequence[Example], scores: dict[str, FloatArray]) -> dict[str, float]:
    return {
        "ndcg@5": _mean([ndcg(scores[e.need_id], e.grades, 5) for e in examples]),
        "ndcg@10": _mean([ndcg(scores[e.need_id], e.grades, 10) for e in examples]),
        "recall@10": _mean([recall(scores[e.need_id], e.grades, 10) for e in examples]),
    }


def allocation_ratio(
    examples: Sequence[Example], values: dict[str, FloatArray], capacity: dict[str, int], person_of: dict[str, str]
) -> float:
    """Graded value of the allocation made with these values, over the best the grades allow."""

    def candidates(value_of: dict[str, FloatArray]) -> list[Candidate]:
        return [
            Candidate(e.need_id, offer, float(v))
            for e in examples
            for offer, v in zip(e.offer_ids, value_of[e.need_id], strict=True)
        ]

    truth = {e.need_id: GAINS[e.grades] * e.urgency for e in examples}
    graded = {(e.need_id, o): float(v) for e in examples for o, v in zip(e.offer_ids, truth[e.need_id], strict=True)}

    def worth(assigned: dict[str, str | None]) -> float:
        return sum(graded.get((need, offer), 0.0) for need, offer in assigned.items() if offer is not None)

    best = worth(allocate(candidates(truth), capacity, person_of))
    return worth(allocate(candidates(values), capacity, person_of)) / best if best else math.nan


def fit(examples: Sequence[Example], trained_on: Sequence[str] = ()) -> Ranker:
    """The ranker learnt from these examples: its weights, then the calibration of its scores."""
    weights = fit_weights(examples)
    calibration = fit_calibration(examples, weights)
    return Ranker(dict(zip(SIGNALS, (float(w) for w in weights), strict=True)), calibration, tuple(trained_on))


def _figures(labelled: LabelledSet, rankers: dict[str, Ranker]) -> dict[str, float]:
    """The set's figures when each need is scored by the ranker named for its person."""
    scores: dict[str, FloatArray] = {}
    values: dict[str, FloatArray] = {}
    for e in labelled.examples:
        ranker = rankers[e.person_id]
        scores[e.need_id] = e.signals @ ranker.weight_vector()
        values[e.need_id] = ranker.calibration.expected_gain(scores[e.need_id]) * e.urgency
    return {**ranking_figures(labelled.examples, scores), "allocation": labelled.allocation(values)}


def study(
    sets: Sequence[LabelledSet], folds: int = 5, extra: Sequence[Example] = ()
) -> dict[str, dict[str, dict[str, float]]]:
    """Each set's figures: the hand-weighted engine; the ranker fitted on every set (which flatters
    it); cross-validated, grouped by person (a person's needs are scored by a fit that saw none of
    them, the other sets being in every fit); and, with several sets, fitted on the others alone
    (how a set written apart fares: the nearest this can come to a held-out set). `extra` examples
    (caseworkers' recorded decisions, say) are in every fit and scored in none."""
    everything = [*extra, *(e for labelled in sets for e in labelled.examples)]
    whole = fit(everything)
    found: dict[str, dict[str, dict[str, float]]] = {}
    for labelled in sets:
        people = sorted({e.person_id for e in labelled.examples})
        fold_of = {person: n % folds for n, person in enumerate(people)}
        others = [e for other in sets if other is not labelled for e in other.examples]
        by_fold = {
            fold: fit([*extra, *others, *(e for e in labelled.examples if fold_of[e.person_id] != fold)])
            for fold in range(folds)
        }
        found[labelled.name] = {
            "hand weights": labelled.hand_figures(),
            "fitted on all": _figures(labelled, dict.fromkeys(people, whole)),
            "cross-validated": _figures(labelled, {p: by_fold[fold_of[p]] for p in people}),
        }
        if others:
            found[labelled.name]["fitted on the others"] = _figures(
                labelled, dict.fromkeys(people, fit([*extra, *others]))
            )
    return found
