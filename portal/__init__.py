"""Bridge: the coordination portal for community-based drug rehabilitation and recovery."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import (
    area_import,
    db,
    demo,
    deployment,
    errors,
    fetch_metadata,
    headers,
    i18n,
    idempotency,
    jobs,
    keys,
    labels,
    maps,
    migrations,
    observability,
    queue,
)
from portal.audit import commands as audit_commands
from portal.audit import refusals
from portal.audit.views import bp as audit_bp
from portal.auth import access
from portal.auth import commands as auth_commands
from portal.auth.views import bp as auth_bp
from portal.config import load_config
from portal.consents.views import bp as consents_bp
from portal.erasure.views import bp as erasure_bp
from portal.followups.views import bp as followups_bp
from portal.grid.views import bp as grid_bp
from portal.home.views import bp as home_bp
from portal.hours.views import bp as hours_bp
from portal.hsds import commands as hsds_commands
from portal.hsds import views as hsds_views
from portal.htmx import htmx
from portal.indicators.views import bp as indicators_bp
from portal.matches import commands as matching_commands
from portal.matches.views import bp as matches_bp
from portal.notifications import views as notifications
from portal.offers import commands as offer_commands
from portal.offers.views import bp as offers_bp
from portal.organizations.views import bp as organizations_bp
from portal.people.views import bp as people_bp
from portal.programme.views import bp as programme_bp
from portal.referrals import pages as referral_pages
from portal.referrals.views import bp as referrals_bp
from portal.users.views import bp as users_bp

ROOT = Path(__file__).resolve().parent.parent

csrf = CSRFProtect()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal: configuration, database, sign-in, languages, then the blueprints."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    load_config(app, config)
    if app.config["TRUSTED_PROXIES"]:
        # Behind a reverse proxy the client's address is in X-Forwarded-For: sign-in limits
        # per address must count it, not the proxy's. Only as many hops as there are proxies.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    db.init_app(app)
    # First of the request hooks: a request's time and log line cover all the others.
    observability.init_app(app)
    migrations.init_app(app)
    keys.init_app(app)
    deployment.init_app(app)
    area_import.init_app(app)
    demo.init_app(app)
    jobs.init_app(app)
    queue.init_app(app)
    audit_commands.init_app(app)
    refusals.init_app(app)
    auth_commands.init_app(app)
    offer_commands.init_app(app)
    hsds_commands.init_app(app)
    matching_commands.init_app(app)
    access.init_app(app)
    # Cross-site requests are refused before the token is even looked at.
    fetch_metadata.init_app(app)
    # The HSDS import's larger upload limit, set before the CSRF check reads the body.
    hsds_views.init_app(app)
    csrf.init_app(app)
    idempotency.init_app(app)
    htmx.init_app(app)
    i18n.init_app(app)
    labels.init_app(app)
    maps.init_app(app)
    errors.init_app(app)
    headers.init_app(app)
    notifications.init_app(app)
    referral_pages.init_app(app)
    for blueprint in (
        home_bp,
        auth_bp,
        offers_bp,
        organizations_bp,
        users_bp,
        people_bp,
        matches_bp,
        referrals_bp,
        followups_bp,
        hours_bp,
        grid_bp,
        programme_bp,
        indicators_bp,
        notifications.bp,
        audit_bp,
        consents_bp,
        erasure_bp,
        hsds_views.bp,
    ):
        app.register_blueprint(blueprint)
    return app
