"""Learning from the caseworkers: the rankings their matches page showed, what they decided, how
the current ranker would have placed their choices, and new weights fitted from those decisions.

Off by default: only needs of people in the programmes of PORTAL_LEARNING_PROGRAMMES are recorded.
A recorded ranking holds ids and numbers only (matching.ranker.SIGNALS for each shown offer), and
goes when the person's record is anonymised or erased (portal/people/retention.py).

The grades a decision gives an offer of its ranking, for `retrain`:
- approved: 2 (a good answer), 3 once its referral completed with the person helped (the outcome
  is read from the referral, found by need and offer, never copied here);
- set aside by the caseworker, whatever the reason: 0;
- shown above an approved offer and passed over without a decision: 1 (read and not chosen, a
  weaker sign than setting it aside);
- anything else shown, undecided: left out (nobody looked at it, as far as anyone knows).
A ranking without a decision teaches nothing and is left out.
"""

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session, col, select

from matching.ranker import SIGNALS, Ranker
from portal.matches.services import NeedMatches
from portal.models import (
    DecisionKind,
    Need,
    Person,
    RankingDecision,
    RankingShown,
    Referral,
    ReferralStatus,
)

if TYPE_CHECKING:
    from matching.learning import Example, LabelledSet

TOP = (1, 3, 5)
# The figures of the labelled sets a new ranker may not lower.
GUARDED = ("ndcg@5", "allocation")
# Floating-point noise, not a fall.
TOLERANCE = 1e-9
# Outcomes of a completed referral that say the offer answered the need.
HELPED = ("got_help", "partially_helped")
# The labelled sets retrain guards, each as (set, judgments), relative to the repository; those
# absent (the shared dev set outside the project's checkout) are skipped.
REPOSITORY = Path(__file__).resolve().parents[2]
LABELLED_FILES = (
    (
        REPOSITORY.parent / "shared" / "match-eval" / "dev.json",
        REPOSITORY.parent / "shared" / "match-eval" / "dev.qrels.json",
    ),
    (
        REPOSITORY / "tests" / "data" / "match-second" / "second.json",
        REPOSITORY / "tests" / "data" / "match-second" / "second.qrels.json",
    ),
)
# Signals are stored to this many decimals: ample for replaying an order (scores are compared to 6).
DECIMALS = 6


def learning_on(programmes: Sequence[str], person: Person) -> bool:
    """Whether this person's rankings are recorded: their programme is one of those configured."""
    return person.programme is not None and str(person.programme) in programmes


# Recording


def record_shown(session: Session, result: NeedMatches) -> RankingShown | None:
    """Record the ranking the caseworker is shown, and commit; None for an unscored list or an
    empty one. A ranking identical to the need's latest (a page shown again) is not stored twice."""
    if not result.scored or not result.ranked:
        return None
    offers = [
        {"offer": str(match.offer.id), "signals": [round(match.signals.get(s, 0.0), DECIMALS) for s in SIGNALS]}
        for match in result.ranked
    ]
    latest = _latest(session, result.need.id)
    if latest is not None and latest.ranker_digest == result.ranker_digest and latest.offers == offers:
        return latest
    shown = RankingShown(need_id=result.need.id, ranker_digest=result.ranker_digest, offers=offers)
    session.add(shown)
    session.commit()
    return shown


def _latest(session: Session, need_id: uuid.UUID, offer_id: uuid.UUID | None = None) -> RankingShown | None:
    rankings = session.exec(
        select(RankingShown).where(RankingShown.need_id == need_id).order_by(col(RankingShown.shown_at).desc())
    )
    for ranking in rankings:
        if offer_id is None or any(item["offer"] == str(offer_id) for item in ranking.offers):
            return ranking
    return None


def record_decision(
    session: Session, need_id: uuid.UUID, offer_id: uuid.UUID, decision: DecisionKind, reason: str = ""
) -> RankingDecision | None:
    """Record an approval or a set-aside against the need's latest recorded ranking that showed the
    offer (the caller commits, with the decision itself); None when no recorded ranking showed it."""
    ranking = _latest(session, need_id, offer_id)
    if ranking is None:
        return None
    found = RankingDecision(ranking_id=ranking.id, offer_id=offer_id, decision=decision, reason=reason)
    session.add(found)
    return found


def delete_rankings(session: Session, need_ids: Sequence[uuid.UUID]) -> None:
    """Every recorded ranking of these needs, and its decisions, deleted (the caller commits)."""
    if not need_ids:
        return
    shown = select(RankingShown.id).where(col(RankingShown.need_id).in_(need_ids))
    session.execute(sa.delete(RankingDecision).where(col(RankingDecision.ranking_id).in_(shown)))
    session.execute(sa.delete(RankingShown).where(col(RankingShown.need_id).in_(need_ids)))


# Reading the decisions back


@dataclass(frozen=True)
class Decided:
    """One recorded ranking with its decisions, as the learner reads it."""

    ranking: RankingShown
    person_id: uuid.UUID
    urgency: int
    decisions: dict[str, RankingDecision]
    # Offers whose referral for this need completed with the person helped.
    helped: frozenset[str] = frozenset()

    @property
    def offer_ids(self) -> list[str]:
        return [str(item["offer"]) for item in self.ranking.offers]

    @property
    def signals(self) -> Any:
        return np.array([item["signals"] for item in self.ranking.offers], dtype=np.float64).reshape(-1, len(SIGNALS))


def decided_rankings(session: Session) -> list[Decided]:
    """Every recorded ranking that has at least one decision, oldest first."""
    decisions: dict[uuid.UUID, dict[str, RankingDecision]] = {}
    for decision in session.exec(select(RankingDecision).order_by(col(RankingDecision.at))):
        decisions.setdefault(decision.ranking_id, {})[str(decision.offer_id)] = decision
    if not decisions:
        return []
    rows = session.exec(
        select(RankingShown, Need.person_id, Need.urgency)
        .join(Need, col(Need.id) == RankingShown.need_id)
        .where(col(RankingShown.id).in_(list(decisions)))
        .order_by(col(RankingShown.shown_at))
    ).all()
    helped: dict[uuid.UUID, set[str]] = {}
    completed = select(Referral.need_id, Referral.offer_id).where(
        Referral.status == ReferralStatus.COMPLETED,
        col(Referral.reason_code).in_(HELPED),
        col(Referral.need_id).in_({ranking.need_id for ranking, _p, _u in rows}),
    )
    for need_id, offer_id in session.exec(completed):
        helped.setdefault(need_id, set()).add(str(offer_id))
    return [
        Decided(ranking, person_id, urgency, decisions[ranking.id], frozenset(helped.get(ranking.need_id, ())))
        for ranking, person_id, urgency in rows
    ]


# Evaluation


def _order(scores: Any, offer_ids: Sequence[str]) -> list[str]:
    """Offers best first as the engine orders them: by score to 6 decimals, equal ones by id."""
    rounded = np.round(np.asarray(scores, dtype=np.float64), 6)
    return [offer_ids[i] for i in np.lexsort((np.array(offer_ids), -rounded))]


@dataclass
class Evaluation:
    """How often the approved offer is within the top k of its recorded ranking."""

    rankings: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    approved: int = 0
    helped: int = 0
    # k -> hits, under the weights that ranked at the time (the recorded order) and the current ones.
    then: dict[int, int] = field(default_factory=lambda: dict.fromkeys(TOP, 0))
    now: dict[int, int] = field(default_factory=lambda: dict.fromkeys(TOP, 0))
    rankers_then: set[str] = field(default_factory=set)


def evaluate(session: Session, ranker: Ranker) -> Evaluation:
    """Replay every recorded approval: its offer's place in the order shown then, and in the order
    the given ranker's weights give the same offers' stored signals now."""
    found = Evaluation(rankings=session.exec(select(sa.func.count()).select_from(RankingShown)).one())
    weights = ranker.weight_vector()
    for decided in decided_rankings(session):
        found.rankers_then.add(decided.ranking.ranker_digest)
        ids = decided.offer_ids
        now = _order(decided.signals @ weights, ids)
        for offer_id, decision in decided.decisions.items():
            found.decisions[decision.decision] = found.decisions.get(decision.decision, 0) + 1
            if decision.decision != DecisionKind.APPROVED:
                continue
            found.approved += 1
            found.helped += offer_id in decided.helped
            for k in TOP:
                found.then[k] += offer_id in ids[:k]
                found.now[k] += offer_id in now[:k]
    return found


# Retraining


def grades_of(decided: Decided) -> dict[str, int]:
    """The grade of each offer of the ranking that has one (see the module's docstring)."""
    grades: dict[str, int] = {}
    approved = [i for i, offer in enumerate(decided.offer_ids) if _is(decided, offer, DecisionKind.APPROVED)]
    lowest = max(approved, default=-1)
    for position, offer in enumerate(decided.offer_ids):
        if _is(decided, offer, DecisionKind.APPROVED):
            grades[offer] = 3 if offer in decided.helped else 2
        elif _is(decided, offer, DecisionKind.SET_ASIDE):
            grades[offer] = 0
        elif position < lowest:
            grades[offer] = 1
    return grades


def _is(decided: Decided, offer: str, kind: DecisionKind) -> bool:
    decision = decided.decisions.get(offer)
    return decision is not None and decision.decision == kind


def decision_examples(session: Session) -> "list[Example]":
    """The recorded decisions as the learner's examples: each ranking's graded offers."""
    from matching.learning import Example  # noqa: PLC0415 - scipy's optimiser only when learning

    examples = []
    for decided in decided_rankings(session):
        grades = grades_of(decided)
        rows = [i for i, offer in enumerate(decided.offer_ids) if offer in grades]
        ids = tuple(decided.offer_ids[i] for i in rows)
        examples.append(
            Example(
                person_id=f"portal:{decided.person_id}",
                need_id=f"portal:{decided.ranking.id}",
                urgency=decided.urgency,
                offer_ids=ids,
                signals=decided.signals[rows],
                grades=np.array([grades[i] for i in ids], dtype=np.int64),
            )
        )
    return examples


def labelled_sets(files: Sequence[tuple[Path, Path]] = LABELLED_FILES) -> "list[LabelledSet]":
    """The labelled sets that are present, turned into examples (about a minute for the real ones)."""
    from matching.exchange import load, load_qrels  # noqa: PLC0415
    from matching.learning import LabelledSet  # noqa: PLC0415

    return [
        LabelledSet.of(path.stem, *load(path), load_qrels(qrels))
        for path, qrels in files
        if path.exists() and qrels.exists()
    ]


@dataclass(frozen=True)
class Retrained:
    """A new ranker and the labelled sets' cross-validated figures without and with the decisions."""

    ranker: Ranker
    examples: int
    before: dict[str, dict[str, float]]
    after: dict[str, dict[str, float]]

    @property
    def fell(self) -> list[tuple[str, str]]:
        """(set, figure) of every guarded figure the decisions lowered."""
        return [
            (name, figure)
            for name, figures in self.before.items()
            for figure in GUARDED
            if not math.isnan(figures[figure]) and not self.after[name][figure] >= figures[figure] - TOLERANCE
        ]


def retrain(session: Session, sets: "Sequence[LabelledSet]") -> Retrained:
    """Fit a ranker on the labelled sets and the recorded decisions together, and judge it on the
    labelled sets: each set's figures cross-validated by person (a person's needs scored by a fit
    that saw none of them), fitted as the current ranker was (the labelled sets alone) and with the
    decisions added to every fit, so the two differ by the decisions alone.

    :raise ValueError: no decision recorded, or none that grades two offers of a ranking apart.
    """
    from matching.learning import fit, study  # noqa: PLC0415

    examples = [e for e in decision_examples(session) if len(set(e.grades.tolist())) > 1]
    if not examples:
        raise ValueError("no recorded decision tells two shown offers apart: nothing to learn from")
    before = {name: rows["cross-validated"] for name, rows in study(sets).items()}
    after = {name: rows["cross-validated"] for name, rows in study(sets, extra=examples).items()}
    everything = [*examples, *(e for labelled in sets for e in labelled.examples)]
    ranker = fit(everything, trained_on=[*(s.name for s in sets), f"portal decisions ({len(examples)})"])
    return Retrained(ranker, len(examples), before, after)


def figures_table(figures: Mapping[str, Mapping[str, float]]) -> list[str]:
    """One line a set: its nDCG@5, nDCG@10, recall@10 and allocation."""
    lines = [f"  {'':24} {'nDCG@5':>8} {'nDCG@10':>8} {'recall@10':>10} {'allocation':>11}"]
    for name, row in figures.items():
        lines.append(
            f"  {name:24} {row['ndcg@5']:8.3f} {row['ndcg@10']:8.3f} {row['recall@10']:10.3f} {row['allocation']:11.3f}"
        )
    return lines
