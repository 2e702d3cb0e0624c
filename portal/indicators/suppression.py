"""Small cells: the indicators as they may be published, so that no figure lets a reader pick out a
person (the records are about people with a drug history, and an area can be one grid of a few).

The rule of official statistics, applied to every figure on the page, the charts and the CSV:

- a count from 1 to threshold − 1 is shown as "<threshold" (0 and larger counts as they are);
- when fewer than `threshold` people (1 to threshold − 1) are what the figures are about, every
  figure is hidden, zeros too: a zero about one known person says as much as a one;
- counts that add up to a total (needs by category, referrals by state, job placements by their
  90-day check) hide more cells until the hidden ones add up to `threshold` or more, so that no
  small cell can be worked out by subtraction;
- a rate is hidden unless the counts it is computed from are shown (with the denominator it would
  give a suppressed numerator back); a median is hidden unless it is taken over `threshold` or more
  durations, one duration being one person's.

What this does not stop: subtracting two published figures of different areas or periods (a
street minus its other grids, this month minus the last). The area filter and the periods are the
reader's to choose, so that would take a record of everything published; the threshold keeps each
published figure itself from being about fewer people than that.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext as _

from portal.indicators.services import Indicators, Month, Scope


@dataclass(frozen=True)
class Cell:
    """A figure as published: its value, or nothing when it is suppressed (then `small` or `hidden`
    says how, and the real value is not kept, so no template or export can show it by mistake)."""

    value: float | None = None  # None and not suppressed: there is no figure (a rate of nobody)
    small: int = 0  # suppressed as a count under this threshold
    hidden: bool = False  # suppressed because it would reveal a small count, or few people

    @property
    def suppressed(self) -> bool:
        return bool(self.small) or self.hidden


def marker(cell: Cell) -> str:
    """What stands in a suppressed cell's place, in the reader's language."""
    if cell.small:
        return _("<%(threshold)s", threshold=cell.small)
    return _("hidden")


def notes(cells: list[Cell], threshold: int) -> list[str]:
    """The notes that explain the markers among these cells, to print beside them."""
    found = []
    if any(cell.small for cell in cells):
        found.append(
            _(
                "“<%(threshold)s”: fewer than %(threshold)s, not shown so that no one can be recognised.",
                threshold=threshold,
            )
        )
    if any(cell.hidden for cell in cells):
        found.append(
            _(
                "“hidden”: not shown because it is about fewer than %(threshold)s people, "
                "or a figure under %(threshold)s could be worked out from it.",
                threshold=threshold,
            )
        )
    return found


@dataclass(frozen=True)
class Suppression:
    """The rule for the figures of one scope: the threshold, and whether they are about too few people."""

    threshold: int
    few_people: bool

    @classmethod
    def over(cls, threshold: int, *people: int) -> "Suppression":
        """The rule for figures about these groups of people (any of them 1 to threshold − 1: too few)."""
        return cls(threshold, any(0 < count < threshold for count in people))

    def _small(self, count: int) -> bool:
        return 0 < count < self.threshold

    def count(self, count: int) -> Cell:
        if self.few_people:
            return Cell(hidden=True)
        if self._small(count):
            return Cell(small=self.threshold)
        return Cell(count)

    def parts(self, counts: Mapping[str, int]) -> dict[str, Cell]:
        """Counts whose total is known (shown, or easily had elsewhere): the small ones suppressed,
        then the smallest others hidden too until the suppressed ones add up to the threshold."""
        if self.few_people:
            return {key: Cell(hidden=True) for key in counts}
        small = {key for key, count in counts.items() if self._small(count)}
        hidden: set[str] = set()
        while self._small(sum(counts[key] for key in small | hidden)):
            rest = sorted((count, key) for key, count in counts.items() if count and key not in small | hidden)
            if not rest:
                break
            hidden.add(rest[0][1])
        return {
            key: Cell(small=self.threshold) if key in small else Cell(hidden=True) if key in hidden else Cell(count)
            for key, count in counts.items()
        }

    def rate(self, rate: float | None, *counts: Cell) -> Cell:
        """A rate, hidden when a count it is computed from is suppressed: with the others it would
        give that count back."""
        if self.few_people or any(count.suppressed for count in counts):
            return Cell(hidden=True)
        return Cell(rate)

    def median(self, days: float | None, count: int) -> tuple[Cell, Cell]:
        """A median and how many durations it is taken over; the median hidden over too few."""
        over = self.count(count)
        return (Cell(hidden=True) if over.suppressed else Cell(days)), over


@dataclass(frozen=True)
class PublishedMedian:
    days: Cell
    count: Cell


@dataclass(frozen=True)
class PublishedCompletion:
    provider: str
    completed: Cell
    withdrawn: Cell
    rate: Cell

    @property
    def cells(self) -> list[Cell]:
        return [self.completed, self.withdrawn, self.rate]


@dataclass(frozen=True)
class PublishedRetention:
    placements: Cell
    still_employed: Cell
    no_longer_employed: Cell
    not_checked: Cell
    rate: Cell


@dataclass(frozen=True)
class PublishedIndicators:
    """Indicators as they may be shown; `few_people` when all of them are hidden for that reason."""

    scope: Scope
    threshold: int
    few_people: bool
    people_active: Cell
    people_contacted: Cell
    contact_rate: Cell
    out_of_contact: Cell
    needs_by_category: dict[str, Cell]
    referrals_by_status: dict[str, Cell]
    need_to_approval: PublishedMedian
    approval_to_answer: PublishedMedian
    completion_by_provider: list[PublishedCompletion]
    job_placements: Cell
    retention: PublishedRetention
    # Volunteers' hours are about volunteers, not the people in the programme: the hours are shown
    # as they are; how many volunteers gave them is a count like any other.
    volunteer_hours: Cell
    volunteers: Cell


@dataclass(frozen=True)
class PublishedMonth:
    scope: Scope
    people_active: Cell
    contact_rate: Cell
    out_of_contact: Cell
    needs_recorded: Cell
    referrals_made: Cell
    job_placements: Cell

    @property
    def cells(self) -> list[Cell]:
        return [
            self.people_active,
            self.contact_rate,
            self.out_of_contact,
            self.needs_recorded,
            self.referrals_made,
            self.job_placements,
        ]


def publish(figures: Indicators, threshold: int) -> PublishedIndicators:
    """The period's indicators with small cells suppressed."""
    rule = Suppression.over(threshold, figures.people_registered, figures.people_active)
    active, contacted = rule.count(figures.people_active), rule.count(figures.people_contacted)
    completion = []
    if not rule.few_people:  # which providers took someone on would itself tell about those few
        for row in figures.completion_by_provider:
            completed, withdrawn = rule.count(row.completed), rule.count(row.withdrawn)
            completion.append(
                PublishedCompletion(row.provider, completed, withdrawn, rule.rate(row.rate, completed, withdrawn))
            )
    retention = figures.retention
    placements = rule.count(retention.placements)
    parts = rule.parts(
        {
            "still_employed": retention.still_employed,
            "no_longer_employed": retention.no_longer_employed,
            "not_checked": retention.not_checked,
        }
    )
    return PublishedIndicators(
        scope=figures.scope,
        threshold=threshold,
        few_people=rule.few_people,
        people_active=active,
        people_contacted=contacted,
        contact_rate=rule.rate(figures.contact_rate, active, contacted),
        out_of_contact=rule.count(figures.out_of_contact),
        needs_by_category=rule.parts(figures.needs_by_category),
        referrals_by_status=rule.parts(figures.referrals_by_status),
        need_to_approval=PublishedMedian(*rule.median(figures.need_to_approval.days, figures.need_to_approval.count)),
        approval_to_answer=PublishedMedian(
            *rule.median(figures.approval_to_answer.days, figures.approval_to_answer.count)
        ),
        completion_by_provider=completion,
        job_placements=rule.count(figures.job_placements),
        retention=PublishedRetention(
            placements,
            parts["still_employed"],
            parts["no_longer_employed"],
            parts["not_checked"],
            rule.rate(retention.rate, parts["still_employed"], placements),
        ),
        volunteer_hours=Cell(hidden=True) if rule.few_people else Cell(figures.volunteer_hours.hours),
        volunteers=rule.count(figures.volunteer_hours.volunteers),
    )


def publish_month(month: Month, threshold: int) -> PublishedMonth:
    """One month's headline figures with small cells suppressed."""
    rule = Suppression.over(threshold, month.people_registered, month.people_active)
    active = rule.count(month.people_active)
    return PublishedMonth(
        scope=month.scope,
        people_active=active,
        contact_rate=rule.rate(month.contact_rate, active, rule.count(month.people_contacted)),
        out_of_contact=rule.count(month.out_of_contact),
        needs_recorded=rule.count(month.needs_recorded),
        referrals_made=rule.count(month.referrals_made),
        job_placements=rule.count(month.job_placements),
    )
