"""The sentence each kind of notification reads as, in the reader's language."""

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from portal.labels import label

# One sentence per stored kind; its %(name)s placeholders are the params `notify` was given.
TEXTS: dict[str, LazyString] = {
    "referral_received": _l("New referral for %(offer)s"),
    "referral_reminder": _l("Reminder: a referral for %(offer)s is waiting for your answer"),
    "referral_accept": _l("%(person)s: referral to %(offer)s was accepted"),
    "referral_decline": _l("%(person)s: referral to %(offer)s was declined"),
    "referral_waitlist": _l("%(person)s: referral to %(offer)s was put on the waiting list"),
    "referral_start": _l("%(person)s: service at %(offer)s has started"),
    "referral_complete": _l("%(person)s: the outcome at %(offer)s was recorded"),
    "referral_expire": _l("%(person)s: referral to %(offer)s expired without an answer"),
    "referral_withdrawn": _l("A referral for %(offer)s was withdrawn: there is nothing more to do for it"),
    "referral_proposed": _l("A new offer is proposed for your review: %(offer)s"),
    "referral_needs_approval": _l("%(person)s: a referral is waiting for your approval"),
    "person_handed_over": _l("%(person)s: handed over to a new caseworker"),
    "grid_visits_handed_over": _l("%(person)s: grid visits handed over to a new grid worker"),
    "programme_handed_over": _l("%(person)s: the programme handed over to a new anti-drug specialist"),
    "follow_up_lost_contact": _l("Follow up with %(person)s: no contact for too long"),
    "follow_up_contact_overdue": _l("Follow up with %(person)s: the planned contact is overdue"),
    "follow_up_referral_overdue": _l("Follow up with %(person)s: a provider has not answered in time"),
    "follow_up_employment_30": _l("Follow up with %(person)s: 30 days in the job"),
    "follow_up_employment_90": _l("Follow up with %(person)s: 90 days in the job"),
    "follow_up_employment_180": _l("Follow up with %(person)s: 180 days in the job"),
    "mail_failed": _l("An e-mail to %(account)s could not be delivered and will not be tried again"),
}
# The same kinds when the step's reason or outcome was stored with them (`reason`, a code read in
# the reader's language): the caseworker learns which outcome without opening the record.
WITH_REASON: dict[str, LazyString] = {
    "referral_decline": _l("%(person)s: referral to %(offer)s was declined: %(reason)s"),
    "referral_complete": _l("%(person)s: the outcome at %(offer)s was recorded: %(reason)s"),
}
GENERIC = _l("You have a new notification")

# Kinds that go to a provider about a referred person: their e-mails carry the redisclosure notice.
PROVIDER_KINDS = frozenset({"referral_received", "referral_reminder", "referral_withdrawn"})

# Kinds never e-mailed: a mail telling of a failed mail would, with the server down, fail in turn
# and tell every admin again, without end.
IN_APP_ONLY = frozenset({"mail_failed"})


class _Params(dict[str, str]):
    """Params for %-formatting; a placeholder the caller did not fill reads as "…", never fails."""

    def __missing__(self, key: str) -> str:
        return "…"


def sentence(kind: str, params: dict[str, str]) -> str:
    """The notification as a sentence in the current language; unknown kinds read generically."""
    if params.get("reason") and kind in WITH_REASON:
        return str(WITH_REASON[kind]) % _Params({**params, "reason": label(params["reason"])})
    template = TEXTS.get(kind)
    if template is None:
        return str(GENERIC)
    return str(template) % _Params(params)
