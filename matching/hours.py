"""Working hours said in words. The schedule slots of the exchange format (weekday_day, …) cannot
say that a job starts at eight or runs six days a week, nor that a person's mornings go to a
school run or a methadone dose; needs and offers say so in their text. A job or course whose fixed
hours clash with what the person said they cannot do is pushed down, not hidden (the seven
eligibility rules stay exactly those of the format): the caseworker sees the clash in words."""

from pathlib import Path

from matching.vocabulary import Lexicon

HERE = Path(__file__).resolve().parent


def _rows() -> list[list[str]]:
    lines = (HERE / "hours.tsv").read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


_ROWS = _rows()
NEED_SIDE = Lexicon(
    {name: (tuple(zh.split()), tuple(t for t in en.split("|") if t)) for name, side, zh, en in _ROWS if side == "need"}
)
OFFER_SIDE = Lexicon(
    {name: (tuple(zh.split()), tuple(t for t in en.split("|") if t)) for name, side, zh, en in _ROWS if side == "offer"}
)

# (what the person cannot do, what the offer fixes): the pairs that clash.
CLASHES: tuple[tuple[str, str], ...] = (
    ("mornings_taken", "early_start"),
    ("evenings_taken", "long_hours"),
    ("evenings_taken", "night_work"),
    ("days_only", "night_work"),
)
OFFER_HOURS: tuple[str, ...] = ("early_start", "long_hours", "night_work")
# Hours are fixed by jobs and courses; a service's opening hours are a window, not a shift.
CATEGORIES_WITH_FIXED_HOURS = frozenset({"employment", "training"})


def offer_hours(category: str | None, text: str) -> frozenset[str]:
    """The fixed hours a job or course states: early start, long hours, night work. "No overtime"
    and "no night shifts" say the opposite of what they contain."""
    if category not in CATEGORIES_WITH_FIXED_HOURS:
        return frozenset()
    found = OFFER_SIDE.find(text)
    if "regular_hours" in found:
        found = {name: hits for name, hits in found.items() if name == "early_start"}
    return frozenset(name for name in found if name in OFFER_HOURS)


def hours_taken(text: str) -> frozenset[str]:
    """What a need says the person cannot do: mornings, late afternoons and evenings, nights."""
    return frozenset(NEED_SIDE.find(text))
