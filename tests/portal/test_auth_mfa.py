"""The second factor: staff set up TOTP before anything else where it is required, signing in
asks for a code after the password, codes work once, and recovery codes stand in for a lost phone."""

import base64
import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa
import time_machine
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session

from portal import create_app
from portal.auth import mfa
from portal.crypto import aad, key_id_of, keyring_of
from portal.db import get_engine
from portal.migrations import downgrade, upgrade
from portal.models import Role, User, utcnow
from tests.conftest import PASSWORD, TEST_CONFIG, revision_before, sign_in_with_session


@pytest.fixture
def strict_app(database_url: str) -> Iterator[Flask]:
    """The portal as deployed: MFA required for staff."""
    app = create_app({**TEST_CONFIG, "DATABASE_URL": database_url, "MFA_REQUIRED": True})
    yield app
    get_engine(app).dispose()


def enrol(session: Session, user: User) -> tuple[pyotp.TOTP, list[str]]:
    """Set up TOTP for a user as the set-up page would, returning their app and recovery codes."""
    seed = mfa.begin_enrolment(session, user)
    totp = pyotp.TOTP(seed)
    with time_machine.travel(utcnow() - timedelta(minutes=5), tick=False):
        codes = mfa.confirm_enrolment(session, user, totp.now(), utcnow())
    assert codes is not None
    session.refresh(user)
    user.totp_last_step = None
    session.add(user)
    session.commit()
    return totp, codes


def password_step(client: FlaskClient, email: str) -> str:
    response = client.post("/auth/login?next=/notifications/", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302
    return str(response.headers["Location"])


def test_staff_without_mfa_reach_only_the_set_up_page(
    strict_app: Flask, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.CASEWORKER)
    client = sign_in_with_session(strict_app.test_client(), session, user)
    for page in ("/", "/people/", "/notifications/", "/auth/account"):
        response = client.get(page)
        assert response.status_code == 302 and response.headers["Location"] == "/auth/two-step"
    assert client.get("/people/", headers={"HX-Request": "true"}).headers["HX-Redirect"] == "/auth/two-step"

    assert client.post("/auth/two-step", data={"action": "start"}).status_code == 303
    html = client.get("/auth/two-step").get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in html
    seed = re.search(r'<code class="totp-key">([A-Z2-7]+)</code>', html)
    assert seed is not None and len(seed.group(1)) >= 32  # 160 bits
    stored = _raw_seeds(session)[user.email]
    session.rollback()
    assert stored is not None and seed.group(1) not in stored  # encrypted at rest

    wrong = client.post("/auth/two-step", data={"action": "confirm", "code": "000000"})
    assert wrong.status_code == 422
    done = client.post("/auth/two-step", data={"action": "confirm", "code": pyotp.TOTP(seed.group(1)).now()})
    assert done.status_code == 200
    assert len(re.findall(r"<li><code>[0-9a-f-]+</code></li>", done.get_data(as_text=True))) == 10
    assert client.get("/people/").status_code == 200


def test_providers_are_not_asked_for_mfa(strict_app: Flask, make_user: Callable[..., User], session: Session) -> None:
    client = sign_in_with_session(strict_app.test_client(), session, make_user(Role.PROVIDER))
    assert client.get("/offers/mine").status_code == 200


def test_sign_in_asks_for_the_code_after_the_password(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.SUPERVISOR, email="sv@bridge.example")
    totp, _codes = enrol(session, user)
    assert password_step(client, "sv@bridge.example") == "/auth/code"
    assert client.get("/notifications/").status_code == 302  # not signed in yet
    assert client.post("/auth/code", data={"code": "123456" if totp.now() != "123456" else "654321"}).status_code == 422
    response = client.post("/auth/code", data={"code": totp.now()})
    assert response.status_code == 302 and response.headers["Location"] == "/notifications/"
    assert client.get("/notifications/").status_code == 200


def test_a_code_is_accepted_once_and_only_near_its_time(
    app: Flask, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.ADMIN, email="admin@bridge.example")
    totp, _codes = enrol(session, user)
    with time_machine.travel(utcnow(), tick=False) as clock:
        first = app.test_client()
        password_step(first, "admin@bridge.example")
        code = totp.now()
        assert first.post("/auth/code", data={"code": code}).status_code == 302
        second = app.test_client()
        password_step(second, "admin@bridge.example")
        assert second.post("/auth/code", data={"code": code}).status_code == 422  # replayed
        clock.shift(timedelta(seconds=61))  # past the per-minute limit
        assert second.post("/auth/code", data={"code": totp.at(utcnow() - timedelta(seconds=60))}).status_code == 422
        assert second.post("/auth/code", data={"code": totp.at(utcnow() + timedelta(seconds=30))}).status_code == 302


def test_recovery_codes_work_once(app: Flask, make_user: Callable[..., User], session: Session) -> None:
    make_user(Role.CASEWORKER, email="cw@bridge.example")
    user = make_user(Role.CASEWORKER, email="cw2@bridge.example")
    _totp, codes = enrol(session, user)
    first = app.test_client()
    password_step(first, "cw2@bridge.example")
    assert first.post("/auth/code", data={"code": codes[0].upper()}).status_code == 302
    second = app.test_client()
    password_step(second, "cw2@bridge.example")
    assert second.post("/auth/code", data={"code": codes[0]}).status_code == 422
    assert second.post("/auth/code", data={"code": codes[1]}).status_code == 302


def test_the_code_step_expires_and_wrong_codes_lock_the_account(
    app: Flask, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.CASEWORKER, email="cw@bridge.example")
    totp, _codes = enrol(session, user)
    with time_machine.travel(utcnow(), tick=False) as clock:
        client = app.test_client()
        password_step(client, "cw@bridge.example")
        clock.shift(timedelta(minutes=5, seconds=1))
        assert client.post("/auth/code", data={"code": totp.now()}).headers["Location"] == "/auth/login"

        password_step(client, "cw@bridge.example")
        for _ in range(4):  # with the password step: five checks, the last four wrong
            clock.shift(timedelta(seconds=20))
            assert client.post("/auth/code", data={"code": "000000"}).status_code == 422
        clock.shift(timedelta(minutes=1))
        password_step(client, "cw@bridge.example")
        assert client.post("/auth/code", data={"code": "000000"}).status_code == 422
        response = client.post("/auth/code", data={"code": totp.now()})
        assert response.status_code == 429 and "locked" in response.get_data(as_text=True)


def test_an_admin_resets_a_lost_second_factor(
    strict_app: Flask, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.CASEWORKER, email="cw@bridge.example")
    enrol(session, user)
    signed_in = sign_in_with_session(strict_app.test_client(), session, user)
    assert signed_in.get("/people/").status_code == 200
    admin = make_user(Role.ADMIN)
    enrol(session, admin)
    admin_client = sign_in_with_session(strict_app.test_client(), session, admin)
    assert "Reset two-step sign-in" in admin_client.get("/users/").get_data(as_text=True)
    assert admin_client.post(f"/users/{user.id}/two-step/reset").status_code == 303
    assert signed_in.get("/people/").status_code == 302  # signed out
    client = strict_app.test_client()
    assert password_step(client, "cw@bridge.example") == "/notifications/"  # no code step: nothing to ask
    assert client.get("/people/").headers["Location"] == "/auth/two-step"  # but set it up first
    assert admin_client.post(f"/users/{admin.id}/two-step/reset").status_code == 409


# --- The seeds in the key ring (portal/crypto.py) ------------------------------------------------

SECOND_KEY = base64.b64encode(b"test-only-data-key-number-two-02").decode()


def _raw_seeds(session: Session) -> dict[str, str | None]:
    """Each user's stored seed by e-mail, as the database holds it."""
    user = sa.table("user", sa.column("email"), sa.column("totp_secret", sa.Text))
    return dict(session.connection().execute(sa.select(user.c.email, user.c.totp_secret)).all())  # type: ignore[arg-type]


def _signs_in_with_code(app: Flask, email: str, code: str) -> bool:
    client = app.test_client()
    assert password_step(client, email) == "/auth/code"
    return client.post("/auth/code", data={"code": code}).status_code == 302


def test_a_seed_is_not_readable_in_the_raw_row(app: Flask, make_user: Callable[..., User], session: Session) -> None:
    user = make_user(Role.CASEWORKER, email="cw@bridge.example")
    totp, _codes = enrol(session, user)
    stored = _raw_seeds(session)["cw@bridge.example"]
    session.rollback()
    assert stored is not None and totp.secret not in stored
    assert key_id_of(stored) == 1  # sealed with the key ring's current key
    counts = app.test_cli_runner().invoke(args=["keys", "status"]).output
    assert "key 1 (current): " in counts


def test_after_rotation_and_dropping_the_old_key_the_user_still_signs_in(
    app: Flask, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.SUPERVISOR, email="sv@bridge.example")
    totp, _codes = enrol(session, user)
    session.close()
    url, first = app.config["DATABASE_URL"], TEST_CONFIG["DATA_KEYS"]["1"]
    both = create_app(
        {**TEST_CONFIG, "DATABASE_URL": url, "DATA_KEYS": {"1": first, "2": SECOND_KEY}, "DATA_KEY_CURRENT": "2"}
    )
    only_second = create_app(
        {**TEST_CONFIG, "DATABASE_URL": url, "DATA_KEYS": {"2": SECOND_KEY}, "DATA_KEY_CURRENT": "2"}
    )
    try:
        result = both.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code == 0 and "user: 1" in result.output, result.output
        status = both.test_cli_runner().invoke(args=["keys", "status"]).output
        assert "key 1" not in status and "key 2 (current)" in status
        with Session(get_engine(only_second)) as reader:
            assert key_id_of(_raw_seeds(reader)["sv@bridge.example"] or "") == 2
        assert _signs_in_with_code(only_second, "sv@bridge.example", totp.now())
    finally:
        get_engine(both).dispose()
        get_engine(only_second).dispose()


def test_a_seed_copied_onto_another_users_row_does_not_open(
    app: Flask, make_user: Callable[..., User], session: Session
) -> None:
    enrol(session, make_user(Role.ADMIN, email="admin@bridge.example"))
    thief = make_user(Role.CASEWORKER, email="cw@bridge.example")
    table = sa.table("user", sa.column("email"), sa.column("totp_secret", sa.Text))
    stored = _raw_seeds(session)["admin@bridge.example"]
    session.connection().execute(
        sa.update(table).where(table.c.email == "cw@bridge.example").values(totp_secret=stored)
    )
    session.commit()
    with Session(get_engine(app)) as reader:
        with pytest.raises(InvalidTag, match=r"user\|totp_secret\|.*copied from another row"):
            reader.get(User, thief.id)


def _retired_key(secret_key: str) -> bytes:
    """The key the seeds had before the key ring (migration 0018): derived from SECRET_KEY."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"bridge totp seeds").derive(secret_key.encode())


def test_the_migration_moves_seeds_into_the_key_ring_and_its_downgrade_moves_them_back(
    app: Flask, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.CASEWORKER, email="cw@bridge.example")
    totp, _codes = enrol(session, user)
    session.close()
    url, ring = app.config["DATABASE_URL"], keyring_of(get_engine(app))
    get_engine(app).dispose()
    downgrade(url, revision_before("0018"), keyring=ring, settings=app.config)
    plain = sa.create_engine(url)
    try:
        with Session(plain) as reader:
            stored = _raw_seeds(reader)["cw@bridge.example"] or ""
        version, _, payload = stored.partition(":")
        raw = base64.b64decode(payload)
        retired = AESGCM(_retired_key(app.config["SECRET_KEY"]))
        assert version == "v1" and retired.decrypt(raw[:12], raw[12:], str(user.id).encode()).decode() == totp.secret
        with pytest.raises(RuntimeError, match="db upgrade"):
            upgrade(url)  # without the keys the seeds cannot move
        upgrade(url, keyring=ring, settings=app.config)
        with Session(plain) as reader:
            stored = _raw_seeds(reader)["cw@bridge.example"] or ""
        assert ring.open(stored, aad("user", "totp_secret", user.id)) == totp.secret
    finally:
        plain.dispose()
    assert _signs_in_with_code(app, "cw@bridge.example", totp.now())
