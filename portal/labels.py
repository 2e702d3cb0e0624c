"""The words users see for each stored code, in their language."""

from enum import StrEnum

from flask import Flask
from flask_babel import LazyString, get_locale
from flask_babel import lazy_gettext as _l

from portal.models import (
    Area,
    AreaLevel,
    Category,
    EmploymentType,
    Gender,
    OfferStatus,
    OrganizationKind,
    PayPeriod,
    Role,
    ScheduleSlot,
    VerificationStatus,
)

LABELS: dict[StrEnum, LazyString] = {
    Category.EMPLOYMENT: _l("Employment"),
    Category.TRAINING: _l("Training"),
    Category.COUNSELLING: _l("Counselling"),
    Category.FAMILY_SUPPORT: _l("Family support"),
    Category.HEALTH: _l("Health"),
    Category.HOUSING: _l("Housing"),
    Category.LEGAL: _l("Legal aid"),
    Category.PEER_SUPPORT: _l("Peer support"),
    OfferStatus.DRAFT: _l("Draft"),
    OfferStatus.OPEN: _l("Open"),
    OfferStatus.PAUSED: _l("Paused"),
    OfferStatus.CLOSED: _l("Closed"),
    Role.ADMIN: _l("Administrator"),
    Role.SUPERVISOR: _l("Supervisor"),
    Role.CASEWORKER: _l("Caseworker"),
    Role.PROVIDER: _l("Provider staff"),
    Role.VOLUNTEER: _l("Volunteer"),
    OrganizationKind.NGO: _l("NGO"),
    OrganizationKind.EMPLOYER: _l("Employer"),
    OrganizationKind.GOVERNMENT: _l("Government body"),
    OrganizationKind.VOLUNTEER_GROUP: _l("Volunteer group"),
    VerificationStatus.PENDING: _l("Pending verification"),
    VerificationStatus.VERIFIED: _l("Verified"),
    Gender.MALE: _l("Male"),
    Gender.FEMALE: _l("Female"),
    Gender.OTHER: _l("Other"),
    ScheduleSlot.WEEKDAY_DAY: _l("Weekday daytime"),
    ScheduleSlot.WEEKDAY_EVENING: _l("Weekday evenings"),
    ScheduleSlot.WEEKEND: _l("Weekends"),
    EmploymentType.FULL_TIME: _l("Full time"),
    EmploymentType.PART_TIME: _l("Part time"),
    EmploymentType.TEMPORARY: _l("Temporary"),
    EmploymentType.CONTRACTOR: _l("Contract"),
    EmploymentType.INTERN: _l("Internship"),
    PayPeriod.HOUR: _l("per hour"),
    PayPeriod.DAY: _l("per day"),
    PayPeriod.MONTH: _l("per month"),
    AreaLevel.DISTRICT: _l("District"),
    AreaLevel.STREET: _l("Street"),
    AreaLevel.GRID: _l("Community grid"),
}

LANGUAGE_NAMES: dict[str, LazyString] = {"zh": _l("Chinese"), "en": _l("English")}

ACTION_LABELS: dict[str, LazyString] = {
    "publish": _l("Publish"),
    "pause": _l("Pause"),
    "reopen": _l("Reopen"),
    "close": _l("Close"),
}


def label(value: object) -> str:
    """The translated word for a stored code; the code itself if it has none."""
    if value is None:
        return ""
    # A StrEnum hashes as its string, so codes read back from the database find their label.
    text = LABELS.get(value) or LANGUAGE_NAMES.get(str(value))  # type: ignore[call-overload]
    return str(text) if text is not None else str(value)


def area_choices(areas: list[Area]) -> list[tuple[str, str]]:
    """Areas as select options, indented under their parent (areas come sorted by code)."""
    depth = {AreaLevel.DISTRICT: 0, AreaLevel.STREET: 1, AreaLevel.GRID: 2}
    language = "zh" if str(get_locale()).startswith("zh") else "en"
    return [(str(area.id), " " * depth.get(area.level, 0) + area.name(language)) for area in areas]


def zip_labels(codes: object) -> list[tuple[str, str]]:
    """Codes as (value, translated label) pairs for select options and checkboxes."""
    return [(str(code), label(code)) for code in codes]  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    app.jinja_env.filters["zip_labels"] = zip_labels
    app.jinja_env.globals.update(
        label=label,
        area_choices=area_choices,
        CATEGORIES=list(Category),
        SCHEDULE_SLOTS=list(ScheduleSlot),
        GENDERS=list(Gender),
        EMPLOYMENT_TYPES=list(EmploymentType),
        PAY_PERIODS=list(PayPeriod),
        OFFER_STATUSES=list(OfferStatus),
        LANGUAGE_NAMES=LANGUAGE_NAMES,
        ACTION_LABELS=ACTION_LABELS,
    )
