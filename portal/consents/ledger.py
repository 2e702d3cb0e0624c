"""The consent ledger as the person's page, the consent views and a refused referral step show it."""

from typing import Any

from flask import current_app
from flask_login import current_user
from sqlmodel import Session
from werkzeug.wrappers import Response

from portal import consent_text
from portal.clock import local_today
from portal.consents import services
from portal.htmx import render
from portal.models import Person, User


def context(session: Session, user: User, person: Person, **typed: Any) -> dict[str, Any]:
    """What the ledger partial shows; `typed` carries a consent form typed so far and its errors."""
    today = local_today().isoformat()
    fresh_form = {"valid_from": today, "signed_at": today, "discloser": current_app.config["CONSENT_DISCLOSER"]}
    return {
        "person": person,
        "consents": services.consents_of(session, person),
        "can_manage_consents": services.may_manage(session, user, person),
        "recipient_organizations": services.recipient_organizations(session),
        "consent_form": typed.get("consent_form", fresh_form),
        # The text the person reads before signing, and what the form sends back to prove it.
        "consent_text": consent_text.consent_text(),
        "consent_text_sha256": consent_text.text_sha256(),
        "revocation_statement_version": consent_text.REVOCATION_STATEMENT_VERSION,
        "consent_errors": typed.get("consent_errors", {}),
        "consents_notice": typed.get("consents_notice", ""),
        "consents_error": typed.get("consents_error", ""),
        "unconsented_referrals": services.unconsented_referrals(session, person),
        "consent_overrides": services.overrides_for_person(session, person),
    }


def refused_for_consent(session: Session, person: Person, message: str) -> Response:
    """A referral step refused for want of consent: the ledger, where it can be fixed, and why (409)."""
    shown = context(session, current_user, person, consents_error=message)
    return render("consents/index.html", "consents/_ledger.html", status=409, **shown)
