"""What the offer form accepts, with the rules a caseworker relies on when judging an offer."""

import re
import uuid
from typing import Self

from flask_babel import gettext as _
from pydantic import BaseModel, EmailStr, Field, field_validator, model_validator

from portal.forms import FieldErrors
from portal.models import Category, EmploymentType, Gender, PayPeriod, ScheduleSlot

LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")


class OfferForm(BaseModel):
    category: Category
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(default="", max_length=5000)
    skills: str = Field(default="", max_length=500)
    languages: list[str] = Field(default_factory=list, max_length=10)
    area_id: uuid.UUID | None = None
    address: str = Field(default="", max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    remote: bool = False
    schedule: list[ScheduleSlot] = Field(default_factory=list)
    capacity: int = Field(default=1, ge=0, le=10000)
    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120)
    genders: list[Gender] = Field(default_factory=list)
    min_months_in_recovery: int | None = Field(default=None, ge=0, le=600)
    employment_type: EmploymentType | None = None
    pay_min: int | None = Field(default=None, ge=0, le=10_000_000)
    pay_max: int | None = Field(default=None, ge=0, le=10_000_000)
    pay_period: PayPeriod | None = None
    hours_per_week: int | None = Field(default=None, ge=1, le=80)
    fair_chance_statement: str = Field(default="", max_length=2000)
    fair_chance_none_given: bool = False
    contact_name: str = Field(default="", max_length=120)
    contact_phone: str = Field(default="", max_length=40)
    contact_email: EmailStr | None = None
    # The owner's own code for the offer, which a spreadsheet import finds it by.
    reference: str = Field(default="", max_length=60)
    version: int | None = None

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, codes: list[str]) -> list[str]:
        for code in codes:
            if not LANGUAGE_CODE.match(code):
                raise ValueError(_("Use two-letter language codes such as zh or en."))
        return sorted(set(codes))

    @field_validator("remote", "fair_chance_none_given", mode="before")
    @classmethod
    def _checkbox(cls, value: object) -> object:
        return value in {True, "on", "true", "1", "yes"}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        broken: dict[str, str] = {}
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            broken["max_age"] = _("The maximum age must not be below the minimum age.")
        if self.pay_min is not None and self.pay_max is not None and self.pay_min > self.pay_max:
            broken["pay_max"] = _("The highest pay must not be below the lowest pay.")
        if (self.latitude is None) != (self.longitude is None):
            broken["longitude"] = _("Give both latitude and longitude, or neither.")
        if self.category == Category.EMPLOYMENT and self.employment_type is None:
            broken["employment_type"] = _("Say what kind of employment this job is.")
        if (self.pay_min is not None or self.pay_max is not None) and self.pay_period is None:
            broken["pay_period"] = _("Say whether the pay is per hour, day or month.")
        self.fair_chance_statement = self.fair_chance_statement.strip()
        if self.fair_chance_statement:
            self.fair_chance_none_given = False
        elif self.category == Category.EMPLOYMENT and not self.fair_chance_none_given:
            broken["fair_chance_statement"] = _(
                "Say how you welcome applicants in recovery or with a record, or tick that you give no statement."
            )
        if broken:
            raise FieldErrors(broken)
        return self

    def skill_list(self) -> list[str]:
        """Skills are typed as a comma-separated list (either comma, in either language)."""
        parts = re.split(r"[,，、;；]", self.skills)
        return sorted({part.strip() for part in parts if part.strip()})

    def job_fields_cleared(self) -> dict[str, object]:
        """Job-only fields are kept only for jobs, so a service never shows a stray pay range."""
        if self.category == Category.EMPLOYMENT:
            return {}
        return {
            "employment_type": None,
            "pay_min": None,
            "pay_max": None,
            "pay_period": None,
            "hours_per_week": None,
            "fair_chance_statement": "",
            "fair_chance_none_given": False,
        }


LIST_FIELDS = ("languages", "schedule", "genders")
