"""Every refusal a service can raise, in one place: views catch these by name and answer with a
page in the user's language; services never answer HTTP themselves."""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from flask_babel import gettext as _

from portal.i18n import moment

if TYPE_CHECKING:
    from portal.auth.throttle import Verdict


class NotAllowed(PermissionError):
    """The user may not take this action on this record; the service re-checks what the view let through."""


class RecordClosed(RuntimeError):
    """The record was anonymised (or erased): it is read-only from then on."""


class OnLegalHold(RuntimeError):
    """The record is on legal hold: it may not be erased (GDPR Art. 17(3)(b), (e))."""

    def __init__(self, reason: str) -> None:
        super().__init__("the record is on legal hold")
        self.reason = reason


class StaleEdit(RuntimeError):
    """The record changed after the form was loaded; `changed_by` and `changed_at` say who and when."""

    def __init__(self, record_id: uuid.UUID, changed_by: str | None, changed_at: datetime | None) -> None:
        super().__init__(str(record_id))
        self.record_id = record_id
        self.changed_by = changed_by
        self.changed_at = changed_at

    def message(self) -> str:
        """The sentence shown above the form, in the user's language and time zone."""
        if self.changed_at is None:
            return _("Someone else changed this record while you had it open. Reload it, then try again.")
        return _(
            "%(name)s changed this record at %(time)s, while you had it open. "
            "Your changes are not saved: reload it, then try again.",
            name=self.changed_by or _("The portal"),
            time=moment(self.changed_at),
        )


# --- People -------------------------------------------------------------------------------------


class OutsideYourAreas(ValueError):
    """The area chosen for a person is not within the user's own: nobody moves a person out of the
    supervision of their area (a supervisor moves people between the areas they supervise)."""


class TooManyChecks(RuntimeError):
    """The user looked for people already recorded as often as an hour allows; `limit` says how often."""

    def __init__(self, limit: int) -> None:
        super().__init__("too many duplicate checks")
        self.limit = limit

    def message(self) -> str:
        return _(
            "You have checked for people already recorded %(limit)s times in the last hour, the most "
            "allowed. Nothing was saved: wait a little, then send the form again.",
            limit=self.limit,
        )


# --- Referrals ----------------------------------------------------------------------------------


class IllegalTransition(ValueError):
    """This action cannot be taken on a referral in its present state."""


class MissingReason(ValueError):
    """This action needs a reason from its fixed list."""


class MissingFairChance(ValueError):
    """A job is published with a fair-chance statement, or with its employer's word that it gives none."""


class ReferenceTaken(ValueError):
    """Another of the owner's offers already carries this reference."""


class StillReferred(RuntimeError):
    """Pausing or closing an offer that people hold places on, or whose referrals wait for an
    answer: the owner is told what happens to them and confirms first."""

    def __init__(self, holding: int, waiting: int) -> None:
        super().__init__(f"{holding} holding a place, {waiting} waiting for an answer")
        self.holding = holding
        self.waiting = waiting


class NoPlaceLeft(RuntimeError):
    """The offer has no open place left."""


class NoConsent(RuntimeError):
    """No valid consent covers this referral's recipient and purpose, and no override was recorded."""


class AlreadyReferred(RuntimeError):
    """The need already has an open referral to this offer (a second approval of one match)."""

    def __init__(self, referral_id: uuid.UUID, status: str) -> None:
        super().__init__(str(referral_id))
        self.referral_id = referral_id
        self.status = status


# --- Consents -----------------------------------------------------------------------------------


class UnknownRecipient(ValueError):
    """The chosen organization is not a verified organization."""


class IncompleteConsent(ValueError):
    """A consent lacks an element 42 CFR 2.31(a) requires, or has one that is not valid."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(errors)))
        self.errors = errors


# --- Erasure and follow-ups ---------------------------------------------------------------------


class AlreadyRequested(RuntimeError):
    """The person already has an open erasure request."""


class AlreadyDecided(RuntimeError):
    """The request was carried out or refused already, or the hours were confirmed or returned."""


class MissingOutcome(ValueError):
    """A job check is done only with what it found: still employed or not."""


# --- Accounts -----------------------------------------------------------------------------------


class EmailTaken(ValueError):
    """Another account already uses this e-mail address."""


class Throttled(Exception):
    """Too many attempts, or the account is locked: the password was not even checked."""

    def __init__(self, verdict: "Verdict") -> None:
        super().__init__(verdict.value)
        self.verdict = verdict


class WrongPassword(ValueError):
    """The current password given to confirm a change is not right."""


class AdminExists(ValueError):
    """An active administrator exists already: the first-admin command is not the way to add one."""


# --- Audit ---------------------------------------------------------------------------------------


class BadAnchorFile(ValueError):
    """A line of the audit anchor file names an anchor but does not read as one."""


# --- Lists --------------------------------------------------------------------------------------


class BadCursor(ValueError):
    """A list's page cursor was not one the portal wrote for that list (edited, or from another list)."""


# --- Periodic jobs -------------------------------------------------------------------------------


class JobsRunning(RuntimeError):
    """Another run of the periodic job holds its lock: this run must not act beside it."""
