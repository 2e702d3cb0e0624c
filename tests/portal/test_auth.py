"""Signing in and out, signing up, and the language a user sees."""

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal.auth.passwords import hash_password
from portal.auth.views import safe_next
from portal.models import Organization, OutboxMail, Role, User, VerificationStatus, utcnow
from tests.conftest import ORGANIZATION_PAPERS, PASSWORD, keyed, sign_in_with_session

Login = Callable[[User], FlaskClient]


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, next_url: str = "") -> object:
    url = "/auth/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password})


def test_sign_in_and_out(client: FlaskClient, make_user: Callable[..., User]) -> None:
    user = make_user(Role.CASEWORKER, email="cw@bridge.example")
    response = sign_in(client, "CW@bridge.example")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert f"Welcome, {user.name}" in client.get("/").get_data(as_text=True)
    assert client.post("/auth/logout").status_code == 302
    assert client.get("/offers/").status_code == 302


def test_wrong_password_and_unknown_account_get_the_same_answer(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user(Role.CASEWORKER, email="cw@bridge.example")
    wrong = sign_in(client, "cw@bridge.example", "wrong password")
    unknown = sign_in(client, "nobody@bridge.example", "wrong password")
    assert wrong.status_code == unknown.status_code == 422
    message = "The e-mail address or password is not right."
    assert message in wrong.get_data(as_text=True) and message in unknown.get_data(as_text=True)


def test_password_is_stored_as_argon2id(session: Session, client: FlaskClient) -> None:
    client.post(
        "/auth/signup/volunteer",
        data=keyed({"name": "Zhao Lei", "email": "zl@bridge.example", "password": "a long password"}),
    )
    user = session.exec(select(User).where(User.email == "zl@bridge.example")).one()
    assert user.password_hash.startswith("$argon2id$")
    assert "m=19456,t=2" in user.password_hash


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/offers/", "/offers/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_next_never_leaves_the_site(app: object, target: str, expected: str) -> None:
    with app.test_request_context():  # type: ignore[attr-defined]
        assert safe_next(target) == expected


def test_sign_in_returns_to_the_page_asked_for(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user(Role.CASEWORKER, email="cw@bridge.example")
    assert sign_in(client, "cw@bridge.example", next_url="/offers/").headers["Location"] == "/offers/"


def test_organization_signs_up_and_stays_pending(client: FlaskClient, session: Session) -> None:
    response = client.post(
        "/auth/signup/organization",
        data=keyed(
            {
                "organization_name": "阳光社工服务中心",
                "kind": "ngo",
                "name": "Chen Jing",
                "email": "chen@sunshine.bridge.example",
                "password": "a long password",
                **ORGANIZATION_PAPERS,
                "credit_code": "5251 0100 mj00 0000 16",  # typed with spaces, in lower case
            }
        ),
    )
    assert response.status_code == 303 and response.headers["Location"] == "/auth/login"
    organization = session.exec(select(Organization)).one()
    assert organization.status == VerificationStatus.PENDING
    assert organization.credit_code == "52510100MJ00000016"
    assert organization.registered_address == ORGANIZATION_PAPERS["registered_address"]
    assert (organization.contact_person, organization.contact_phone) == ("陈静", "028-8765 4321")
    user = session.exec(select(User).where(User.email == "chen@sunshine.bridge.example")).one()
    assert user.role == Role.PROVIDER and user.organization_id == organization.id
    assert client.get("/offers/mine").status_code == 302  # not signed in: a known address could not be either
    sign_in(client, "chen@sunshine.bridge.example", "a long password")
    assert "waiting for verification" in client.get("/").get_data(as_text=True)


def test_sign_up_errors_keep_what_was_typed(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user(Role.VOLUNTEER, email="taken@bridge.example")
    response = client.post(
        "/auth/signup/organization",
        data=keyed(
            {
                "organization_name": "X",
                "kind": "government",
                "name": "",
                "email": "taken@bridge.example",
                "password": "short",
            }
        ),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="organization_name-error"' in html and 'id="password-error"' in html and 'id="kind-error"' in html
    assert 'value="taken@bridge.example"' in html
    assert "short" not in html  # passwords are never echoed back


@pytest.mark.parametrize(
    ("typed", "locale", "message"),
    [
        ("52510100MJ00000017", "en", "last character does not match"),
        ("52510100MJ00000017", "zh-CN", "校验码"),
        ("5251010", "en", "18-character unified social credit code"),
        ("52510100MJ0000001O", "zh-CN", "18 位统一社会信用代码"),
        ("", "en", "This field is required"),
    ],
)
def test_an_organization_signs_up_only_with_a_credit_code_whose_check_character_holds(
    client: FlaskClient, session: Session, typed: str, locale: str, message: str
) -> None:
    fields = {
        "organization_name": "阳光社工服务中心",
        "kind": "ngo",
        "name": "Chen Jing",
        "email": "chen@sunshine.bridge.example",
        "password": "a long password",
        **ORGANIZATION_PAPERS,
        "credit_code": typed,
    }
    response = client.post("/auth/signup/organization", data=keyed(fields), headers={"Accept-Language": locale})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = html[html.index('id="credit_code-error"') :]
    assert message in error[: error.index("</")]
    assert ORGANIZATION_PAPERS["registered_address"] in html  # what was typed is kept
    assert session.exec(select(Organization)).all() == []


def _signup_answer(client: FlaskClient, url: str, fields: dict[str, str], address: str) -> tuple[int, str, str]:
    response = client.post(url, data=keyed(fields), environ_base={"REMOTE_ADDR": address}, follow_redirects=True)
    body = re.sub(r'(csrf_token" value="|X-CSRFToken": ")[^"]*', r"\1", response.get_data(as_text=True))
    return response.status_code, response.request.path, body


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/auth/signup/volunteer", {"name": "Li", "password": "a long password"}),
        (
            "/auth/signup/organization",
            {"organization_name": "Sunrise", "kind": "ngo", "name": "Li", "password": "a long password"}
            | ORGANIZATION_PAPERS,
        ),
    ],
)
def test_sign_up_answers_alike_for_new_and_known_addresses_and_tells_the_owner(
    app: Flask, make_user: Callable[..., User], session: Session, url: str, fields: dict[str, str]
) -> None:
    owner = make_user(Role.VOLUNTEER, email="taken@bridge.example", locale="zh")
    known = _signup_answer(app.test_client(), url, {**fields, "email": "TAKEN@bridge.example"}, "192.0.2.1")
    new = _signup_answer(app.test_client(), url, {**fields, "email": "new@bridge.example"}, "192.0.2.2")
    assert known == new
    assert known[0] == 200 and known[1] == "/auth/login" and "If this address is new to Bridge" in known[2]
    session.rollback()
    assert [user.email for user in session.exec(select(User).order_by(User.email))] == [
        "new@bridge.example",
        "taken@bridge.example",
    ]
    assert len(session.exec(select(Organization)).all()) == (1 if "organization" in url else 0)
    [mail] = session.exec(select(OutboxMail)).all()
    assert mail.to_address == owner.email and mail.subject == "Bridge：有人试图用您的邮箱地址注册"
    assert "/auth/login" in mail.body and "/auth/forgot" in mail.body


def test_sign_ups_are_limited_per_client_address(client: FlaskClient, make_user: Callable[..., User]) -> None:
    """New and known addresses count alike, so the limit tells nothing either."""
    make_user(Role.VOLUNTEER, email="taken@bridge.example")
    with time_machine.travel(utcnow(), tick=False) as clock:
        for number in range(5):
            email = "taken@bridge.example" if number % 2 else f"new{number}@bridge.example"
            fields = {"name": "Li", "email": email, "password": "a long password"}
            assert _signup_answer(client, "/auth/signup/volunteer", fields, "192.0.2.1")[0] == 200
        fields = {"name": "Li", "email": "new9@bridge.example", "password": "a long password"}
        status, _path, body = _signup_answer(client, "/auth/signup/volunteer", fields, "192.0.2.1")
        assert status == 429 and "Too many sign-ups from your network in the last hour." in body
        assert _signup_answer(client, "/auth/signup/volunteer", fields, "198.51.100.7")[0] == 200
        clock.shift(timedelta(hours=1, seconds=1))
        fields["email"] = "new10@bridge.example"
        assert _signup_answer(client, "/auth/signup/volunteer", fields, "192.0.2.1")[0] == 200


def test_deactivated_user_is_signed_out_at_the_next_request(
    client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.CASEWORKER, email="cw@bridge.example")
    sign_in(client, "cw@bridge.example")
    assert client.get("/offers/").status_code == 200
    user.active = False
    session.add(user)
    session.commit()
    assert client.get("/offers/").status_code == 302
    assert sign_in(client, "cw@bridge.example").status_code == 422


def test_outdated_password_hash_is_upgraded_at_sign_in(
    client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user = make_user(Role.CASEWORKER, email="cw@bridge.example", password_hash=weak)
    sign_in(client, "cw@bridge.example")
    session.refresh(user)
    assert user.password_hash != weak and "m=19456,t=2" in user.password_hash
    assert hash_password(PASSWORD) != user.password_hash  # salted


def test_language_follows_the_browser(client: FlaskClient) -> None:
    html = client.get("/auth/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).get_data(as_text=True)
    assert '<html lang="zh-Hans-CN">' in html and "登录" in html
    html = client.get("/auth/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in html and "Sign in" in html


def test_language_switch_is_remembered_for_the_user(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.CASEWORKER)
    login(user)
    response = client.post("/auth/language", data={"lang": "zh", "next": "/offers/"})
    assert response.headers["Location"] == "/offers/"
    session.refresh(user)
    assert user.locale == "zh"
    # A new browser with English preferences still gets Chinese once signed in.
    other = sign_in_with_session(client.application.test_client(), session, user)
    html = other.get("/offers/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="zh-Hans-CN">' in html


def test_anonymous_language_choice_lasts_the_session(client: FlaskClient) -> None:
    client.post("/auth/language", data={"lang": "zh", "next": "https://evil.example/"})
    assert '<html lang="zh-Hans-CN">' in client.get("/auth/login").get_data(as_text=True)
