"""What the erasure request form accepts."""

from pydantic import BaseModel, Field

from portal.models import ErasureBasis


class ErasureRequestForm(BaseModel):
    """A person's request to be erased: whose record (by its code) and on which ground."""

    person_code: str = Field(min_length=1, max_length=20)
    basis: ErasureBasis
