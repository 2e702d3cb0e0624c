"""What the consent and override forms accept."""

import uuid
from datetime import date
from typing import Self

from flask_babel import gettext as _
from pydantic import BaseModel, Field, field_validator, model_validator

from portal.forms import FieldErrors
from portal.models import ConsentMethod, ConsentPurpose, DataCategory, OverrideBasis, RecipientKind

# Consents are recorded when given: a start date far back is a typing error.
LONGEST_BACKDATING_DAYS = 366
ORGANIZATION_PREFIX = "organization:"
KIND_PREFIX = "kind:"


class ConsentForm(BaseModel):
    """One consent: one recipient, one purpose, the categories ticked one by one."""

    recipient: str = Field(min_length=1, max_length=60)
    purpose: ConsentPurpose
    data_categories: list[DataCategory] = Field(min_length=1)
    valid_from: date
    valid_until: date | None = None
    method: ConsentMethod
    note: str = Field(default="", max_length=2000)

    @field_validator("recipient")
    @classmethod
    def _recipient_form(cls, value: str) -> str:
        if value.startswith(KIND_PREFIX) and value[len(KIND_PREFIX) :] in set(RecipientKind):
            return value
        if value.startswith(ORGANIZATION_PREFIX):
            try:
                uuid.UUID(value[len(ORGANIZATION_PREFIX) :])
            except ValueError:
                pass
            else:
                return value
        raise ValueError(_("Choose one of the options."))

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise FieldErrors({"valid_until": _("The consent cannot end before it starts.")})
        return self

    @property
    def recipient_organization_id(self) -> uuid.UUID | None:
        if self.recipient.startswith(ORGANIZATION_PREFIX):
            return uuid.UUID(self.recipient[len(ORGANIZATION_PREFIX) :])
        return None

    @property
    def recipient_kind(self) -> RecipientKind | None:
        if self.recipient.startswith(KIND_PREFIX):
            return RecipientKind(self.recipient[len(KIND_PREFIX) :])
        return None


class OverrideForm(BaseModel):
    """A supervisor's legal basis for sending one referral without consent: a choice and why."""

    basis: OverrideBasis
    note: str = Field(min_length=1, max_length=2000)
