"""What the match and referral pages share: the programme's rules from the configuration, the
sentence for a step refused for want of consent, and the approve form's summary for the provider."""

import uuid
from collections.abc import Callable, Hashable
from datetime import date

from flask import Flask, current_app
from flask_babel import gettext as _
from pydantic import BaseModel, Field, field_validator, model_validator

from portal.forms import FieldErrors
from portal.labels import label
from portal.referrals.history import HISTORY_FILTERS
from portal.referrals.services import Policy

# Short: what the provider needs to decide, not the person's story.
SUMMARY_LENGTH = 300


class ApproveForm(BaseModel):
    """The summary the provider will read instead of the caseworker's description of the need."""

    summary: str = Field(min_length=1, max_length=SUMMARY_LENGTH)


class HistoryForm(BaseModel):
    """The provider's search of its history: a state, one of its offers, a person's code, the dates
    sent between; `after` is the page's cursor, checked when the search runs."""

    state: str = "all"
    offer: uuid.UUID | None = None
    code: str = Field(default="", max_length=20)
    sent_from: date | None = None
    sent_to: date | None = None
    after: str | None = Field(default=None, max_length=400)

    @field_validator("state")
    @classmethod
    def _a_filter(cls, state: str) -> str:
        if state not in HISTORY_FILTERS:
            raise ValueError(_("Choose one of the options."))
        return state

    @model_validator(mode="after")
    def _dates_in_order(self) -> "HistoryForm":
        if self.sent_from and self.sent_to and self.sent_to < self.sent_from:
            raise FieldErrors({"sent_to": _("The end date cannot be before the start date.")})
        return self


def history_filter_names() -> dict[str, str]:
    """The history's filters as the provider reads them: the inbox's words, then the states."""
    names = {"all": _("All"), "waiting": _("Waiting for your answer")}
    return names | {name: label(name) for name in HISTORY_FILTERS if name not in names}


def neutral_summary(category: str) -> str:
    """The approve form's starting summary: built from the kind of need only, which the provider
    sees anyway, so approving without editing discloses nothing of the caseworker's own words."""
    return _("Looking for help with: %(category)s.", category=label(category))


def no_consent_message() -> str:
    """What to do when a referral is refused for want of consent (nothing is lost: it stays proposed)."""
    return _(
        "Not sent: no valid consent from the person covers this recipient for this purpose. "
        "The referral is kept as proposed. Record the consent on the person's page and approve it there, "
        "or ask a supervisor to record a legal basis."
    )


def step_taken(action: str, offer: str, reason: str = "") -> str:
    """What a step did, to the referral to which offer: the sentence the person who took it reads."""
    sentences = {
        "approve": lambda: _("Referral to %(offer)s approved and sent to the provider.", offer=offer),
        "accept": lambda: _("Referral to %(offer)s accepted.", offer=offer),
        "decline": lambda: _("Referral to %(offer)s declined: %(reason)s.", offer=offer, reason=label(reason)),
        "waitlist": lambda: _("Referral to %(offer)s put on the waiting list.", offer=offer),
        "start": lambda: _("Service at %(offer)s marked as started.", offer=offer),
        "complete": lambda: _("Outcome at %(offer)s recorded: %(outcome)s.", offer=offer, outcome=label(reason)),
        "withdraw": lambda: _("Referral to %(offer)s withdrawn: %(reason)s.", offer=offer, reason=label(reason)),
    }
    found = sentences.get(action)
    return found() if found is not None else _("Referral updated.")


def policy_for(programme: str | None) -> Policy:
    """The programme's approval rule and the provider's answer time, from the configuration."""
    config = current_app.config
    return Policy(
        supervisor_approval=programme in config["SUPERVISOR_APPROVAL_PROGRAMMES"],
        response_days=dict(config["REFERRAL_RESPONSE_DAYS"]),
    )


def labels_for_one_response() -> Callable[[object], str]:
    """`label`, looking each code up once for the page being rendered: a page of fifty referrals
    asks for the same few dozen words (states, kinds of need, reasons, actions) thousands of times."""
    words: dict[Hashable, str] = {}

    def cached(value: object) -> str:
        if not isinstance(value, Hashable):
            return label(value)
        if value not in words:
            words[value] = label(value)
        return words[value]

    return cached


def init_app(app: Flask) -> None:
    """The approve forms (on the matches list and on a person's referrals) start from these."""
    app.jinja_env.globals.update(neutral_summary=neutral_summary, summary_length=SUMMARY_LENGTH)
