"""What the sign-in and sign-up forms accept."""

from typing import Literal

from pydantic import BaseModel, EmailStr, Field, field_validator

from portal.models import OrganizationKind


class LoginForm(BaseModel):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class AccountFields(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    email: EmailStr = Field(max_length=254)
    phone: str = Field(default="", max_length=40)
    password: str = Field(min_length=10, max_length=256)

    @field_validator("email")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()


class OrganizationSignupForm(AccountFields):
    organization_name: str = Field(min_length=2, max_length=200)
    kind: Literal[OrganizationKind.NGO, OrganizationKind.EMPLOYER] = OrganizationKind.NGO
    description: str = Field(default="", max_length=4000)


class VolunteerSignupForm(AccountFields):
    """A volunteer signs up alone and offers their own help once verified."""
