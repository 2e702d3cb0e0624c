"""The redisclosure notice (42 CFR 2.32, 2024 rule) every disclosure of a referred person carries:
provider pages, their partials and e-mails. Change the text, change the version."""

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

REDISCLOSURE_NOTICE_VERSION = "2026-1"
REDISCLOSURE_NOTICE: LazyString = _l(
    "This information is disclosed to you from records protected by law, with the person's consent or on a "
    "recorded legal basis, for the purpose stated only. You may not disclose it further, or use it to "
    "investigate or bring proceedings against the person, without their written consent or as the law "
    "allows. A general authorisation to release information is not sufficient."
)


def notice_line() -> str:
    """The notice with its version, in the current language."""
    return f"{REDISCLOSURE_NOTICE} [{REDISCLOSURE_NOTICE_VERSION}]"
