"""The engine's plain data: what it is given and what it returns."""

from dataclasses import dataclass, field

from matching.semantic import NeedMeaning

CATEGORIES = (
    "employment",
    "training",
    "counselling",
    "family_support",
    "health",
    "housing",
    "legal",
    "peer_support",
)
SLOTS = ("weekday_day", "weekday_evening", "weekend")


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    area: str | None = None


@dataclass(frozen=True)
class Eligibility:
    min_age: int | None = None
    max_age: int | None = None
    genders: tuple[str, ...] = ()
    min_months_in_recovery: int | None = None


@dataclass(frozen=True)
class Offer:
    id: str
    category: str | None = None
    title: str = ""
    description: str = ""
    provider: str = ""
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    location: Location | None = None
    remote: bool = False
    schedule: tuple[str, ...] = ()
    capacity: int = 1
    status: str = "open"
    eligibility: Eligibility = field(default_factory=Eligibility)

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.description}\n{' '.join(self.skills)}"


@dataclass(frozen=True)
class Need:
    id: str
    category: str | None = None
    description: str = ""
    urgency: int = 1
    # Its vectors as the application stored them when the need was written (matching.semantic).
    meaning: NeedMeaning | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Person:
    id: str
    age: int | None = None
    gender: str | None = None
    languages: tuple[str, ...] = ()
    location: Location | None = None
    max_travel_km: float | None = None
    availability: tuple[str, ...] = ()
    months_in_recovery: int | None = None
    skills: tuple[str, ...] = ()
    needs: tuple[Need, ...] = ()


@dataclass(frozen=True)
class Reason:
    """One part of a score, or one rule an offer failed, in words and with its figures.

    `code` and `values` let an interface translate the sentence; `text` is the English one.
    """

    code: str
    text: str
    values: dict[str, object] = field(default_factory=dict)
    points: float = 0.0


@dataclass(frozen=True)
class RankedOffer:
    offer_id: str
    score: float
    reasons: tuple[Reason, ...]
    # Each signal of the offer's relevance in its own units (matching.ranker.SIGNALS), before the
    # weights: what a learner needs to score the offer again under other weights.
    signals: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class NearMiss:
    offer_id: str
    failures: tuple[Reason, ...]
    score: float


@dataclass(frozen=True)
class Ranking:
    need_id: str
    ranked: tuple[RankedOffer, ...]
    near_misses: tuple[NearMiss, ...] = ()

    @property
    def offer_ids(self) -> list[str]:
        return [item.offer_id for item in self.ranked]
