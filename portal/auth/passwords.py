"""Password hashing with argon2id (OWASP's minimum: 19 MiB, two passes, one lane), and the password policy."""

import string
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from zxcvbn.frequency_lists import FREQUENCY_LISTS

hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

# Verified against when the account does not exist, so that unknown and known accounts
# take the same time to answer.
_DUMMY_HASH = hasher.hash("no such account")


def hash_password(password: str) -> str:
    return hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; spends the same effort when there is no hash."""
    try:
        return hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher.check_needs_rehash(password_hash)


# Length is what makes a password strong; no composition rules (ASVS 6.2.5). Staff see the most.
MIN_LENGTH = 12
STAFF_MIN_LENGTH = 15
MAX_LENGTH = 256
# Words an attacker tries first against this portal in particular.
PORTAL_WORDS = frozenset({"bridge", "bridgeportal", "rehab", "recovery", "xian", "xi'an", "changan"})
_EDGES = string.digits + string.punctuation + string.whitespace


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords, from zxcvbn's bundled frequency list."""
    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, staff: bool) -> str | None:
    """Why this password is refused, in the user's language, or None. Nothing is trimmed or cut:
    the password is checked, hashed and compared exactly as typed."""
    minimum = STAFF_MIN_LENGTH if staff else MIN_LENGTH
    if len(password) < minimum:
        return _("Use at least %(n)s characters.", n=minimum)
    if len(password) > MAX_LENGTH:
        return _("Use at most %(n)s characters.", n=MAX_LENGTH)
    lowered = password.lower()
    core = lowered.strip(_EDGES)
    if lowered in common_passwords() or core in common_passwords() or core in PORTAL_WORDS:
        return _("This password is too common. Choose a longer phrase that only you would think of.")
    return None
