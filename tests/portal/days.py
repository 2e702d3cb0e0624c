"""Days a test names relative to the users' today, read when the test runs. The suite takes half an
hour: a date worked out when pytest collects a module is yesterday's for the tests that run after
the users' midnight (16:00 UTC), and a "tomorrow" the portal must refuse becomes today."""

from dataclasses import dataclass
from datetime import date, timedelta

from portal.clock import local_today


@dataclass(frozen=True)
class DaysFromToday:
    days: int

    def __str__(self) -> str:
        return f"today{self.days:+d}"

    def day(self) -> date:
        return local_today() + timedelta(days=self.days)


def dated(values: dict[str, object]) -> dict[str, object]:
    """The values with each `DaysFromToday` made its day."""
    return {key: value.day() if isinstance(value, DaysFromToday) else value for key, value in values.items()}


def form_dated(values: dict[str, object]) -> dict[str, str]:
    """The values as a form sends them, each `DaysFromToday` as its day's ISO date."""
    return {key: value.isoformat() if isinstance(value, date) else str(value) for key, value in dated(values).items()}
