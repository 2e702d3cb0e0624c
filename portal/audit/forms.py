"""The administrator's search of the audit trail, checked like every other form."""

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

# Actions are short codes ("view", "referral_sent", "consent_given"): nothing else is worth a query.
ActionCode = Annotated[str, StringConstraints(pattern=r"^[a-z_:.]+$", max_length=60)]


class AuditSearchForm(BaseModel):
    actor: str | None = Field(default=None, max_length=254)
    record_id: uuid.UUID | None = None
    action: ActionCode | None = None
    date_from: date | None = None
    date_to: date | None = None
    # The keyset cursor of an older page (portal/keyset.py); checked when the search runs.
    after: str | None = Field(default=None, max_length=400)
