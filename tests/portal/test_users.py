"""Admins create staff accounts, verify volunteers and deactivate accounts."""

import re
from collections.abc import Callable

from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal.models import Offer, Organization, Role, User
from tests.conftest import keyed, sign_in_with_session
from tests.portal.pager import rows, walk

Login = Callable[[User], FlaskClient]


def test_admin_creates_a_caseworker_who_can_sign_in(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    login(make_user(Role.ADMIN))
    response = client.post(
        "/users/new",
        data=keyed(
            {"role": "caseworker", "name": "刘芳", "email": "liufang@bridge.example", "password": "a long password"}
        ),
    )
    assert response.status_code == 303
    client.post("/auth/logout")
    signed_in = client.post("/auth/login", data={"email": "liufang@bridge.example", "password": "a long password"})
    assert signed_in.status_code == 302
    assert client.get("/offers/").status_code == 200


def test_admin_cannot_create_admins_or_providers_through_the_form(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    login(make_user(Role.ADMIN))
    for role in ("admin", "provider", "volunteer"):
        response = client.post(
            "/users/new",
            data=keyed({"role": role, "name": "X", "email": f"{role}@x.bridge.example", "password": "long enough!"}),
        )
        assert response.status_code == 422
        assert 'id="role-error"' in response.get_data(as_text=True)
    assert session.exec(select(User).where(User.email.like("%@x.bridge.example"))).first() is None  # type: ignore[attr-defined]


def test_volunteer_is_verified_before_their_offers_are_seen(
    client: FlaskClient, login: Login, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    volunteer = make_user(Role.VOLUNTEER, verified=False)
    offer = make_offer(volunteer, category="peer_support", title="Weekend mentoring")
    caseworker = make_user(Role.CASEWORKER)
    login(caseworker)
    assert client.get(f"/offers/{offer.id}").status_code == 404
    login(make_user(Role.ADMIN))
    assert "Pending verification" in client.get("/users/").get_data(as_text=True)
    assert client.post(f"/users/{volunteer.id}/verify").status_code == 303
    login(caseworker)
    assert client.get(f"/offers/{offer.id}").status_code == 200


def test_deactivating_signs_the_user_out_and_hides_a_volunteers_offers(
    app: object,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    session: Session,
) -> None:
    volunteer = make_user(Role.VOLUNTEER)
    offer = make_offer(volunteer, category="peer_support")
    admin_client = app.test_client()  # type: ignore[attr-defined]
    volunteer_client = app.test_client()  # type: ignore[attr-defined]
    for client, user in ((admin_client, make_user(Role.ADMIN)), (volunteer_client, volunteer)):
        sign_in_with_session(client, session, user)
    assert volunteer_client.get("/offers/mine").status_code == 200
    assert admin_client.post(f"/users/{volunteer.id}/active", data={"active": "0"}).status_code == 303
    assert volunteer_client.get("/offers/mine").status_code == 302
    caseworker = make_user(Role.CASEWORKER)
    login(caseworker)
    assert admin_client.get(f"/offers/{offer.id}").status_code == 404
    assert admin_client.post(f"/users/{volunteer.id}/active", data={"active": "1"}).status_code == 303
    assert volunteer_client.get("/offers/mine").status_code == 302  # signed out for good; signs in again


def test_admin_cannot_deactivate_themselves(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    admin = make_user(Role.ADMIN)
    login(admin)
    response = client.post(f"/users/{admin.id}/active", data={"active": "0"}, follow_redirects=True)
    assert "You cannot deactivate your own account." in response.get_data(as_text=True)
    session.refresh(admin)
    assert admin.active


def test_the_accounts_come_fifty_a_page_by_role_and_name_each_once(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_organization: Callable[..., Organization],
    session: Session,
) -> None:
    lotus = make_organization(name="Lotus NGO")
    make_organization(name="Unrelated NGO")
    session.add_all(
        [
            *(
                User(email=f"c{n}@bridge.example", password_hash="-", name=f"Caseworker {n:02d}", role=Role.CASEWORKER)
                for n in range(50, -1, -1)
            ),
            *(
                User(
                    email=f"p{n}@lotus.example",
                    password_hash="-",
                    name=f"Provider {n:02d}",
                    role=Role.PROVIDER,
                    organization_id=lotus.id,
                )
                for n in range(2)
            ),
        ]
    )
    session.commit()
    login(make_user(Role.ADMIN, name="Admin Tester"))
    pages = walk(client, "/users/")
    names = rows(pages, r"<tr>\s*<td>([^<]+)</td>")
    assert [len(page) for page in names] == [50, 4]
    assert sum(names, []) == [
        "Admin Tester",
        *(f"Caseworker {n:02d}" for n in range(51)),
        "Provider 00",
        "Provider 01",
    ]
    assert "Lotus NGO" not in pages[0] and pages[1].count("<td>Lotus NGO</td>") == 2
    assert "Unrelated NGO" not in pages[0] + pages[1]
    assert client.get("/users/?after=not-a-cursor").status_code == 400


def test_an_action_on_a_later_page_comes_back_to_that_page(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    session.add_all(
        User(email=f"c{n}@bridge.example", password_hash="-", name=f"Caseworker {n:02d}", role=Role.CASEWORKER)
        for n in range(51)
    )
    session.commit()
    login(make_user(Role.ADMIN))
    first, second = walk(client, "/users/")
    cursor = re.search(r'rel="next" href="/users/\?after=([^"]+)"', first).group(1)  # type: ignore[union-attr]
    assert f'<input type="hidden" name="after" value="{cursor}">' in second
    last = session.exec(select(User).where(User.name == "Caseworker 50")).one()
    response = client.post(f"/users/{last.id}/active", data={"active": "0", "after": cursor})
    assert response.status_code == 303 and response.headers["Location"] == f"/users/?after={cursor}"
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Caseworker 50</td>" in html and "Deactivated" in html
