"""What the admin's new-account form accepts."""

import uuid
from typing import Literal

from portal.auth.forms import AccountFields
from portal.models import Role


class StaffAccountForm(AccountFields):
    role: Literal[Role.CASEWORKER, Role.GRID_WORKER, Role.SPECIALIST, Role.SUPERVISOR]
    area_id: uuid.UUID | None = None
