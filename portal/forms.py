"""Form validation with pydantic schemas: one validation system, messages in the user's language."""

import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import MultiDict

Schema = TypeVar("Schema", bound=BaseModel)

# Digits as pydantic reads them. `str.isdigit()` is no check: it is true for "²" and "١", which
# int() refuses or reads as another number, and which secrets.compare_digest refuses outright.
ASCII_DIGITS = re.compile(r"[0-9]+")


class FieldErrors(ValueError):
    """Rules across fields, broken: each message belongs next to the field named with it."""

    def __init__(self, messages: dict[str, str]) -> None:
        super().__init__("; ".join(messages.values()))
        self.messages = messages


def whole_number(raw: str, max_digits: int = 9) -> int | None:
    """A whole number typed in ASCII digits (a page, a version, a number of days), or None."""
    return int(raw) if len(raw) <= max_digits and ASCII_DIGITS.fullmatch(raw) else None


def parse_id(raw: str | None) -> uuid.UUID | None:
    """A record's id as a form or query names it, or None when it names none."""
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


def query_values(names: Iterable[str], args: Mapping[str, str]) -> dict[str, str]:
    """A page's own query parameters, to build its links again (a pager, a download). Only these:
    url_for keeps some names for itself (`_method`, `_external`, `_anchor`, `_scheme`, `endpoint`),
    and one typed into the address bar must not reach it."""
    return {name: args[name] for name in names if name in args}


def _message(error: Any) -> str:
    """Turn one pydantic error into a sentence for the person filling in the form."""
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "value_error" and "reason" in ctx:  # raised by the e-mail validator
        return _("Enter a valid e-mail address.")
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in {"missing", "string_too_short"} and ctx.get("min_length", 1) <= 1:
        return _("This field is required.")
    messages = {
        "string_too_short": lambda: _("Enter at least %(n)s characters.", n=ctx.get("min_length")),
        "string_too_long": lambda: _("Enter at most %(n)s characters.", n=ctx.get("max_length")),
        "int_parsing": lambda: _("Enter a whole number."),
        "int_from_float": lambda: _("Enter a whole number."),
        "float_parsing": lambda: _("Enter a number."),
        "greater_than_equal": lambda: _("Enter %(n)s or more.", n=ctx.get("ge")),
        "less_than_equal": lambda: _("Enter %(n)s or less.", n=ctx.get("le")),
        "enum": lambda: _("Choose one of the options."),
        "literal_error": lambda: _("Choose one of the options."),
        "list_type": lambda: _("Choose one of the options."),
        "date_from_datetime_parsing": lambda: _("Enter a date as YYYY-MM-DD."),
        "date_parsing": lambda: _("Enter a date as YYYY-MM-DD."),
        "bool_parsing": lambda: _("Choose yes or no."),
    }
    if kind in messages:
        return str(messages[kind]())
    return _("This value is not valid.")


def validate(
    schema: type[Schema], form: MultiDict[str, str], list_fields: tuple[str, ...] = ()
) -> tuple[Schema | None, dict[str, str]]:
    """Validate submitted form data; return the parsed data, or the first error of each field."""
    raw: dict[str, Any] = {}
    for name in schema.model_fields:
        if name in list_fields:
            raw[name] = [value for value in form.getlist(name) if value.strip()]
        elif name in form:
            value = form.get(name, "").strip()
            # An empty optional field means "not given", not an empty string to parse.
            if value != "":
                raw[name] = value
    try:
        return schema.model_validate(raw), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            cause = error.get("ctx", {}).get("error")
            if isinstance(cause, FieldErrors):
                for field, message in cause.messages.items():
                    errors.setdefault(field, message)
                continue
            field = str(error["loc"][0]) if error["loc"] else "__all__"
            errors.setdefault(field, _message(error))
        return None, errors
