"""Every route × every role: allowed, forbidden (403), or sent to sign in; no route without a rule."""

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.models import Offer, Organization, Role, User

ANONYMOUS = None
STAFF = {Role.ADMIN, Role.SUPERVISOR, Role.CASEWORKER}
OWNERS = {Role.PROVIDER, Role.VOLUNTEER}
EVERYONE = STAFF | OWNERS
PUBLIC = "public"

# (endpoint, method): (url template, who may use it). Written out by hand, not read from the
# decorators, so that a changed decorator fails here.
ROUTES: dict[tuple[str, str], tuple[str, Any]] = {
    ("home.index", "GET"): ("/", PUBLIC),
    ("home.health", "GET"): ("/healthz", PUBLIC),
    ("auth.login", "GET"): ("/auth/login", PUBLIC),
    ("auth.login", "POST"): ("/auth/login", PUBLIC),
    ("auth.logout", "POST"): ("/auth/logout", EVERYONE),
    ("auth.signup", "GET"): ("/auth/signup", PUBLIC),
    ("auth.signup_organization", "GET"): ("/auth/signup/organization", PUBLIC),
    ("auth.signup_organization", "POST"): ("/auth/signup/organization", PUBLIC),
    ("auth.signup_volunteer", "GET"): ("/auth/signup/volunteer", PUBLIC),
    ("auth.signup_volunteer", "POST"): ("/auth/signup/volunteer", PUBLIC),
    ("auth.language", "POST"): ("/auth/language", PUBLIC),
    ("offers.index", "GET"): ("/offers/", STAFF),
    ("offers.mine", "GET"): ("/offers/mine", OWNERS),
    ("offers.detail", "GET"): ("/offers/{offer}", EVERYONE),
    ("offers.create", "GET"): ("/offers/new", OWNERS),
    ("offers.create", "POST"): ("/offers/new", OWNERS),
    ("offers.update", "GET"): ("/offers/{offer}/edit", OWNERS),
    ("offers.update", "POST"): ("/offers/{offer}/edit", OWNERS),
    ("offers.status", "POST"): ("/offers/{offer}/status", OWNERS),
    ("offers.confirm", "POST"): ("/offers/{offer}/confirm", OWNERS),
    ("organizations.index", "GET"): ("/organizations/", {Role.ADMIN, Role.SUPERVISOR}),
    ("organizations.detail", "GET"): ("/organizations/{organization}", {Role.ADMIN, Role.SUPERVISOR}),
    ("organizations.verify", "POST"): ("/organizations/{organization}/verify", {Role.ADMIN}),
    ("users.index", "GET"): ("/users/", {Role.ADMIN}),
    ("users.create", "GET"): ("/users/new", {Role.ADMIN}),
    ("users.create", "POST"): ("/users/new", {Role.ADMIN}),
    ("users.verify", "POST"): ("/users/{volunteer}/verify", {Role.ADMIN}),
    ("users.active", "POST"): ("/users/{volunteer}/active", {Role.ADMIN}),
}


def test_every_route_has_an_explicit_rule(app: Flask) -> None:
    """Deny by default: a new route without a role rule, or missing from the table above, fails."""
    served = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert served == set(ROUTES)
    for endpoint, _method in served:
        view = app.view_functions[endpoint]
        assert getattr(view, "allowed_roles", None) is not None, f"{endpoint} has no role rule"


@pytest.fixture
def cast(
    make_user: Callable[..., User], make_offer: Callable[..., Offer], make_organization: Callable[..., Organization]
) -> dict[Any, Any]:
    """One user per role; the provider and the volunteer each own an offer of their own."""
    users = {role: make_user(role) for role in Role}
    provider_offer = make_offer(users[Role.PROVIDER])
    volunteer_offer = make_offer(users[Role.VOLUNTEER], category="peer_support")
    pending = make_organization(verified=False)
    return {
        "users": users,
        "offers": {Role.PROVIDER: provider_offer, Role.VOLUNTEER: volunteer_offer},
        "organization": pending,
        "volunteer": make_user(Role.VOLUNTEER, verified=False),
    }


@pytest.mark.parametrize("role", [ANONYMOUS, *Role], ids=lambda r: str(r or "anonymous"))
@pytest.mark.parametrize("route", sorted(ROUTES), ids="-".join)
def test_route_answers_each_role_as_the_table_says(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    cast: dict[Any, Any],
    route: tuple[str, str],
    role: Role | None,
) -> None:
    endpoint, method = route
    template, allowed = ROUTES[route]
    # Owners act on their own offer; everyone else on the provider's (published, verified).
    offer = cast["offers"].get(role, cast["offers"][Role.PROVIDER])
    url = template.format(offer=offer.id, organization=cast["organization"].id, volunteer=cast["volunteer"].id)
    if role is not None:
        login(cast["users"][role])
    # Enough for the action to go through where it is allowed; forms answer 422 to the rest.
    data = {"action": "pause", "active": "0", "lang": "en"}
    response = client.open(url, method=method, data=data if method == "POST" else None)

    if allowed == PUBLIC or (role is not None and role in allowed):
        assert response.status_code in {200, 302, 303, 422}, response.status_code
        assert "/auth/login" not in response.headers.get("Location", "") or endpoint == "auth.logout"
    elif role is None:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/auth/login")
    else:
        assert response.status_code == 403


def test_htmx_request_from_anonymous_gets_401_with_redirect_header(client: FlaskClient) -> None:
    response = client.get("/offers/?q=job", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/auth/login")
