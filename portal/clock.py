"""The portal's one notion of the local date. The server and the database keep UTC moments
(`portal.models.utcnow`), but the portal's users live in one time zone (`PORTAL_TIME_ZONE`, Xi'an's
by default, eight hours ahead of UTC): "today", an age, an overdue contact, a snooze or a period of
the indicators are days as they live them. A UTC date would be yesterday's between midnight and
08:00 in Xi'an, so no code takes the date of a UTC moment directly; a test keeps it that way."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_app_context

from portal.models import utcnow

DEFAULT_TIME_ZONE = "Asia/Shanghai"


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone of this name.

    :raise ValueError: for a name the time zone database does not know.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def time_zone() -> ZoneInfo:
    """The users' time zone; the default one outside the app (a test module's constants)."""
    return zone_named(current_app.config["TIME_ZONE"] if has_app_context() else DEFAULT_TIME_ZONE)


def local_date(moment: datetime) -> date:
    """The users' date at a (timezone-aware) moment."""
    return moment.astimezone(time_zone()).date()


def local_time(moment: datetime) -> datetime:
    """A (timezone-aware) moment on the users' clock: "as of 10:05" is their 10:05."""
    return moment.astimezone(time_zone())


def local_today() -> date:
    """Today, where the users live."""
    return local_date(utcnow())


def local_midnight(day: date) -> datetime:
    """The UTC moment a local day begins: where a day's stored moments start."""
    return datetime.combine(day, time.min, tzinfo=time_zone()).astimezone(UTC)
