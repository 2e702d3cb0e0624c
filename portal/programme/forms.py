"""What the specialist's forms accept: an agreement, and how a scheduled check went."""

import uuid
from datetime import date
from typing import Self

from flask_babel import gettext as _
from pydantic import BaseModel, Field, model_validator

from portal.clock import local_today
from portal.forms import FieldErrors
from portal.models import CheckResult, Programme


class AgreementForm(BaseModel):
    programme: Programme
    signed_on: date
    starts_on: date
    ends_on: date
    check_in_every_days: int = Field(ge=1, le=90)
    test_every_days: int = Field(ge=1, le=180)
    note: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        broken: dict[str, str] = {}
        if self.signed_on > local_today():
            broken["signed_on"] = _("An agreement is recorded once it is signed, not before.")
        if self.ends_on <= self.starts_on:
            broken["ends_on"] = _("The agreement must end after it starts.")
        if broken:
            raise FieldErrors(broken)
        return self


class CheckForm(BaseModel):
    check: uuid.UUID
    done_on: date
    result: CheckResult
    note: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _not_in_future(self) -> Self:
        if self.done_on > local_today():
            raise FieldErrors({"done_on": _("Record a check on or after its day, not before.")})
        return self
