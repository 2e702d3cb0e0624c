"""What the person, needs-assessment and contact-log forms accept."""

import re
import uuid
from datetime import date
from enum import StrEnum
from typing import Literal, Self

from flask_babel import gettext as _
from pydantic import BaseModel, Field, field_validator, model_validator

from portal.clock import local_today
from portal.forms import FieldErrors
from portal.models import Category, ContactKind, Gender, NeedStatus, Programme, ScheduleSlot, phone_key

PHONE_CHARACTERS = re.compile(r"^[0-9+\-() ]+$")
MAINLAND_ID = re.compile(r"^\d{17}[\dX]$")
OTHER_ID = re.compile(r"^[A-Z0-9-]{5,40}$")
# GB 11643-1999: the 18th character of a resident ID number checks the first 17.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def id_check_character(first_seventeen: str) -> str:
    """The check character a mainland resident ID number must end with."""
    total = sum(int(digit) * weight for digit, weight in zip(first_seventeen, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARACTERS[total % 11]


def split_list(text: str) -> list[str]:
    """Skills are typed as a comma-separated list (either comma, in either language)."""
    parts = re.split(r"[,，、;；]", text)
    return sorted({part.strip() for part in parts if part.strip()})


class ContactOutcome(StrEnum):
    """How a contact went; stored in ContactLog.outcome."""

    REACHED = "reached"
    NOT_REACHED = "not_reached"
    RESCHEDULED = "rescheduled"


class PersonForm(BaseModel):
    full_name: str = Field(min_length=1, max_length=120)
    phone: str = Field(default="", max_length=40)
    id_number: str = Field(default="", max_length=40)
    birth_date: date | None = None
    # Only when the date of birth is unknown: recorded as 1 July of the estimated year.
    age: int | None = Field(default=None, ge=12, le=100)
    gender: Gender | None = None
    languages: list[Literal["zh", "en"]] = Field(default_factory=list, max_length=2)
    area_id: uuid.UUID
    address: str = Field(default="", max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    max_travel_km: float | None = Field(default=None, ge=0, le=500, allow_inf_nan=False)
    availability: list[ScheduleSlot] = Field(default_factory=list, max_length=len(ScheduleSlot))
    programme: Programme | None = None
    programme_start: date | None = None
    programme_end: date | None = None
    skills: str = Field(default="", max_length=500)
    next_contact_due: date | None = None
    refuses_ranked_suggestions: bool = False
    # The record's version when the edit form was loaded (lost-update protection).
    version: int | None = Field(default=None, ge=1, le=2_147_483_647)

    @field_validator("full_name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if value and (not PHONE_CHARACTERS.match(value) or not 7 <= len(phone_key(value)) <= 15):
            raise ValueError(_("Enter a phone number in digits, for example 138 0000 0000 or 029-8888 1234."))
        return value

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        value = value.replace(" ", "").upper()
        if not value:
            return value
        if MAINLAND_ID.match(value):
            if id_check_character(value[:17]) != value[17]:
                raise ValueError(_("This ID number's last character does not match the others: please check it."))
        elif not OTHER_ID.match(value):
            raise ValueError(_("Enter the ID number with letters and digits only."))
        return value

    @field_validator("languages", "availability")
    @classmethod
    def _no_repeats(cls, values: list[str]) -> list[str]:
        return sorted(set(values))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        today = local_today()
        broken: dict[str, str] = {}
        if self.birth_date is not None and not EARLIEST_BIRTH_DATE <= self.birth_date <= today:
            broken["birth_date"] = _("The date of birth must be a past date.")
        if self.birth_date is not None and self.age is not None:
            broken["age"] = _("Give the age only when the date of birth is unknown.")
        if (self.latitude is None) != (self.longitude is None):
            broken["longitude"] = _("Give both latitude and longitude, or neither.")
        if self.programme_start is not None and self.programme_start > today:
            broken["programme_start"] = _("The programme start cannot be in the future.")
        if self.programme_start is not None and self.programme is None:
            broken["programme"] = _("Choose the programme that started on this date.")
        if self.programme_end is not None and self.programme is None:
            broken["programme"] = _("Choose the programme that ends on this date.")
        if self.programme_end is not None and self.programme_start is not None:
            if self.programme_end < self.programme_start:
                broken["programme_end"] = _("The programme cannot end before it starts.")
        if self.programme_end is not None and self.programme_end < EARLIEST_BIRTH_DATE:
            broken["programme_end"] = _("Enter a date as YYYY-MM-DD.")
        if broken:
            raise FieldErrors(broken)
        return self

    def birth_date_or_estimate(self, today: date) -> date | None:
        """The date of birth, or 1 July of the year an age in years points to."""
        if self.birth_date is not None:
            return self.birth_date
        if self.age is not None:
            return date(today.year - self.age, 7, 1)
        return None

    def skill_list(self) -> list[str]:
        return split_list(self.skills)


class NeedForm(BaseModel):
    category: Category
    description: str = Field(min_length=1, max_length=2000)
    urgency: int = Field(default=2, ge=1, le=3)


class LegalHoldForm(BaseModel):
    """A supervisor sets or lifts a legal hold; setting one needs the reason on record."""

    legal_hold: bool = False
    legal_hold_reason: str = Field(default="", max_length=500)
    # The record's version when the page was loaded (lost-update protection).
    version: int | None = Field(default=None, ge=1, le=2_147_483_647)

    @model_validator(mode="after")
    def _reason_with_hold(self) -> Self:
        if self.legal_hold and not self.legal_hold_reason.strip():
            raise FieldErrors({"legal_hold_reason": _("Give the reason for the hold.")})
        if not self.legal_hold:
            self.legal_hold_reason = ""
        return self


class NeedStatusForm(BaseModel):
    status: NeedStatus


class ContactForm(BaseModel):
    kind: ContactKind
    occurred_on: date
    outcome: ContactOutcome
    note: str = Field(default="", max_length=2000)
    next_contact_due: date | None = None
    # Where a visit was recorded: the phone's location, sent only with the worker's permission.
    latitude: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        today = local_today()
        broken: dict[str, str] = {}
        if self.occurred_on > today:
            broken["occurred_on"] = _("The contact date cannot be in the future.")
        elif self.occurred_on < EARLIEST_BIRTH_DATE:
            broken["occurred_on"] = _("Enter a date as YYYY-MM-DD.")
        if self.next_contact_due is not None:
            if self.next_contact_due <= self.occurred_on:
                broken["next_contact_due"] = _("The next contact must come after this contact.")
            elif self.next_contact_due < today:
                broken["next_contact_due"] = _("The next contact cannot be in the past.")
        elif self.outcome == ContactOutcome.RESCHEDULED:
            broken["next_contact_due"] = _("Give the date the contact was moved to.")
        if broken:
            raise FieldErrors(broken)
        return self


PERSON_LIST_FIELDS = ("languages", "availability")
