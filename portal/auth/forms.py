"""What the sign-in and sign-up forms accept."""

from typing import Literal, TypeVar

from flask_babel import gettext as _
from pydantic import BaseModel, EmailStr, Field, field_validator
from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, ValidationError

from portal.auth.passwords import MAX_LENGTH, password_problem
from portal.models import OrganizationKind

Schema = TypeVar("Schema", bound=BaseModel)


class LoginForm(BaseModel):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class ForgotPasswordForm(BaseModel):
    email: EmailStr = Field(max_length=254)


class PasswordChangeForm(BaseModel):
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Field(default="", max_length=MAX_LENGTH)


def checked_password(
    data: Schema | None, errors: dict[str, str], typed: str, staff: bool, field: str = "password"
) -> tuple[Schema | None, dict[str, str]]:
    """Put the password in exactly as typed (form validation strips whitespace, a password keeps
    it) and add the policy's objection, if any, to the field's errors."""
    problem = password_problem(typed, staff)
    if problem is not None:
        return None, {**errors, field: problem}
    if data is None:
        return None, errors
    return data.model_copy(update={field: typed}), errors


class AccountFields(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    email: EmailStr = Field(max_length=254)
    phone: str = Field(default="", max_length=40)
    # Checked against the policy, exactly as typed, by `checked_password` below.
    password: str = Field(default="", max_length=MAX_LENGTH)

    @field_validator("email")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()


class OrganizationSignupForm(AccountFields):
    """An organization signs up with what an admin checks before verifying it: the code on its
    registration papers, its registered address and a person to call."""

    organization_name: str = Field(min_length=2, max_length=200)
    kind: Literal[OrganizationKind.NGO, OrganizationKind.EMPLOYER] = OrganizationKind.NGO
    description: str = Field(default="", max_length=4000)
    credit_code: str = Field(min_length=1, max_length=40)
    registered_address: str = Field(min_length=5, max_length=300)
    contact_person: str = Field(min_length=1, max_length=120)
    contact_phone: str = Field(min_length=5, max_length=40)

    @field_validator("credit_code")
    @classmethod
    def _valid_credit_code(cls, value: str) -> str:
        """The unified social credit code as GB 32100-2015 writes it: 18 characters, the last a
        check character computed from the other 17 (spaces and dashes typed with it are dropped)."""
        try:
            return str(uscc.validate(value))
        except InvalidChecksum:
            raise ValueError(
                _("This code's last character does not match the others: check it was typed right.")
            ) from None
        except ValidationError:
            raise ValueError(
                _("Enter the 18-character unified social credit code (统一社会信用代码) of your registration papers.")
            ) from None


class VolunteerSignupForm(AccountFields):
    """A volunteer signs up alone and offers their own help once verified."""
