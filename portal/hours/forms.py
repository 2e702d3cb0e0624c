"""The forms of volunteers' hours: an activity logged, a confirmer's answer, a period to certify or export."""

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from flask_babel import gettext as _
from pydantic import BaseModel, Field, field_validator, model_validator

from portal.clock import local_today
from portal.forms import FieldErrors
from portal.models import ActivityKind, IdType

# How far back an activity may be logged: a year, so that records are made while they are remembered.
OLDEST_DAYS = 366
# Hours are logged in quarter hours, from a quarter to a whole day.
QUARTER = Decimal("0.25")


class ActivityForm(BaseModel):
    """`served` is "referral:<id>" or "organization:<id>": one choice names who confirms."""

    done_on: date
    hours: Decimal = Field(ge=QUARTER, le=Decimal(24))
    kind: ActivityKind
    description: str = Field(min_length=1, max_length=500)
    served: str = Field(min_length=1, max_length=60)

    @field_validator("done_on")
    @classmethod
    def _not_in_future_nor_long_ago(cls, done_on: date) -> date:
        today = local_today()
        if done_on > today:
            raise ValueError(_("Log hours on or after the day they were given, not before."))
        if done_on < today - timedelta(days=OLDEST_DAYS):
            raise ValueError(_("Hours can be logged up to a year after they were given."))
        return done_on

    @field_validator("hours")
    @classmethod
    def _quarter_hours(cls, hours: Decimal) -> Decimal:
        if hours % QUARTER:
            raise ValueError(_("Enter hours in quarters: 1, 1.25, 1.5, 1.75 …"))
        return hours

    @field_validator("served")
    @classmethod
    def _one_choice(cls, served: str) -> str:
        kind, _sep, key = served.partition(":")
        try:
            uuid.UUID(key)
        except ValueError:
            kind = ""
        if kind not in ("referral", "organization"):
            raise ValueError(_("Choose the referral these hours served, or the organization you served with."))
        return served

    @property
    def minutes(self) -> int:
        return int(self.hours * 60)

    @property
    def referral_id(self) -> uuid.UUID | None:
        kind, _sep, key = self.served.partition(":")
        return uuid.UUID(key) if kind == "referral" else None

    @property
    def organization_id(self) -> uuid.UUID | None:
        kind, _sep, key = self.served.partition(":")
        return uuid.UUID(key) if kind == "organization" else None


class DecisionForm(BaseModel):
    decision: Literal["confirm", "return"]
    reason: str = Field(default="", max_length=300)

    @model_validator(mode="after")
    def _reason_to_return(self) -> "DecisionForm":
        if self.decision == "return" and not self.reason.strip():
            raise FieldErrors({"reason": _("Say why the hours are returned, so the volunteer can put them right.")})
        return self


class PeriodForm(BaseModel):
    """The days a certificate or an export covers, both included; empty means this calendar year."""

    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _in_order(self) -> "PeriodForm":
        if self.start and self.end and self.end < self.start:
            raise FieldErrors({"end": _("The end date cannot be before the start date.")})
        return self

    def days(self, today: date) -> tuple[date, date]:
        return self.start or today.replace(month=1, day=1), self.end or today


class IdTypeForm(BaseModel):
    id_type: IdType | Literal[""] = ""
