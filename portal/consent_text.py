"""The consent text read to or by the person before they sign (42 CFR 2.31, 2024 rule), and its
revocation statement. Each consent stores the statement's version and the SHA-256 of the text it
was given on, in the language it was shown in, so the words the person agreed to can be proven
later. Change a word, change the version."""

import hashlib

from flask_babel import LazyString, force_locale
from flask_babel import lazy_gettext as _l

from portal.i18n import LOCALES

CONSENT_TEXT_VERSION = "2026-1"
# Who discloses under a consent unless the form names another (PORTAL_CONSENT_DISCLOSER).
DEFAULT_DISCLOSER = "Bridge community drug rehabilitation programme"
REVOCATION_STATEMENT_VERSION = "2026-1"

REVOCATION_STATEMENT: LazyString = _l(
    "You may revoke this consent at any time, in writing or by telling your caseworker, who records it the same "
    "day. Revoking stops any further disclosure, except what was already done in reliance on this consent."
)
CONSENT_TEXT: tuple[LazyString, ...] = (
    _l(
        "I allow the discloser named below to disclose the parts of my record ticked below to the recipient named "
        "below, for the purpose stated, and for nothing else."
    ),
    _l(
        "My record is protected by law (42 CFR Part 2 and the personal information protection law). The recipient "
        "may not disclose it further, or use it against me, without my written consent or as the law allows."
    ),
    _l(
        "This consent ends on the date or at the event stated below. Refusing to sign does not change the help "
        "I get from my caseworker; only this referral cannot be sent."
    ),
    REVOCATION_STATEMENT,
)


def consent_text() -> str:
    """The whole text in the current language, with its version, as shown and printed."""
    body = "\n\n".join(str(paragraph) for paragraph in CONSENT_TEXT)
    return f"{body}\n\n[{CONSENT_TEXT_VERSION} / {REVOCATION_STATEMENT_VERSION}]"


def text_sha256() -> str:
    """The SHA-256 of the text as the current language shows it."""
    return hashlib.sha256(consent_text().encode("utf-8")).hexdigest()


def text_sha256_in(locale: str) -> str:
    """The SHA-256 of the text as shown in this language, outside any request too."""
    with force_locale(locale):
        return text_sha256()


def known_text_hashes() -> frozenset[str]:
    """The SHA-256 of the current text in every language the portal speaks: a consent given on any
    other text (an old version, a text altered on the way) is refused."""
    return frozenset(text_sha256_in(locale) for locale in LOCALES.values())
