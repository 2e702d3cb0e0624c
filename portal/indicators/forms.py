"""What the indicator filters accept: an area, and a preset period or two dates."""

import uuid
from datetime import date, timedelta
from typing import Literal, Self

from flask_babel import gettext as _
from pydantic import BaseModel, model_validator

from portal.forms import FieldErrors

# Figures before the portal existed mean nothing, and far-off dates only make slow queries.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
LONGEST_DAYS = 3660


class Filters(BaseModel):
    area: uuid.UUID | None = None
    period: Literal["30", "90", "365", "custom"] = "90"
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _dates_make_a_period(self) -> Self:
        if self.period != "custom":
            return self
        errors = {}
        if self.start is None:
            errors["start"] = _("Enter the first day of the period.")
        if self.end is None:
            errors["end"] = _("Enter the last day of the period.")
        for name, day in (("start", self.start), ("end", self.end)):
            if day is not None and not EARLIEST <= day <= LATEST:
                errors[name] = _("Enter a date between %(first)s and %(last)s.", first=EARLIEST, last=LATEST)
        if not errors and self.start and self.end:
            if self.end < self.start:
                errors["end"] = _("The last day cannot be before the first day.")
            elif (self.end - self.start).days >= LONGEST_DAYS:
                errors["end"] = _("Choose a period of at most ten years.")
        if errors:
            raise FieldErrors(errors)
        return self

    def days(self, today: date) -> tuple[date, date]:
        """The first and last day of the chosen period; presets end today."""
        if self.period == "custom" and self.start and self.end:
            return self.start, self.end
        return today - timedelta(days=int(self.period) - 1), today
