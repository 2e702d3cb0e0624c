"""Shared fixtures: a migrated database per test (SQLite, and PostgreSQL when configured),
the app, a client, and a cast of users in every role."""

import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session

from matching import semantic
from matching.semantic import Vectors
from portal import create_app
from portal.auth import sessions as server_sessions
from portal.auth.access import AGENT_KEY, TOKEN_KEY, agent_digest
from portal.auth.passwords import hash_password
from portal.consent_text import REVOCATION_STATEMENT_VERSION
from portal.db import get_engine
from portal.migrations import alembic_config, upgrade
from portal.models import (
    Area,
    Consent,
    ConsentMethod,
    ConsentPurpose,
    DataCategory,
    ExpiryEvent,
    Offer,
    OfferStatus,
    Organization,
    OrganizationKind,
    Person,
    RecipientKind,
    Role,
    SignerRole,
    User,
    VerificationStatus,
    utcnow,
)

PASSWORD = "correct horse battery"
PASSWORD_HASH = hash_password(PASSWORD)
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
DATABASES = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(autouse=True, scope="session")
def _each_text_encoded_once() -> Iterator[None]:
    """The model's vectors of a text are the same every time; the suite writes the same few
    hundred offers and needs thousands of times, so each text is encoded once a test process
    (about 0.1 s a text otherwise). Still the real model: only repeats are saved."""
    encoded: dict[str, Vectors] = {}
    model = semantic.model_vectors

    def remembered(texts: Sequence[str]) -> Vectors:
        new = [text for text in dict.fromkeys(texts) if text not in encoded]
        if new:
            encoded.update(zip(new, model(new), strict=True))
        return np.array([encoded[text] for text in texts], dtype=np.float32).reshape(len(texts), semantic.DIMENSIONS)

    patch = pytest.MonkeyPatch()
    patch.setattr(semantic, "model_vectors", remembered)
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _logging_as_before() -> Iterator[None]:
    """An app made with production settings logs JSON through a handler on the root logger, which
    belongs to the process (portal/observability/logs.py): take it off after the test."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [handler for handler in root.handlers if handler.get_name() == "portal-json"]:
        root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once, copied for every test."""
    path = tmp_path_factory.mktemp("template") / "portal.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    """The PostgreSQL test database, emptied and migrated once per run."""
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    upgrade(POSTGRES_URL)
    return POSTGRES_URL


def _truncate_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        tables = [
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ]
        if tables:
            connection.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    engine.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "portal.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_migrated")
        yield url
        _truncate_postgres(url)


def revision_before(revision: str) -> str:
    """The migration just below this one, for tests that step back across one migration only
    (stepping further would cross others that need keys of their own)."""
    below = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision).down_revision
    assert isinstance(below, str)
    return below


TEST_CONFIG: dict[str, Any] = {
    "TESTING": True,
    "ENV": "testing",
    "SECRET_KEY": "test-secret",
    "WTF_CSRF_ENABLED": False,
    "SESSION_COOKIE_SECURE": False,
    "REMEMBER_COOKIE_SECURE": False,
    # Staff sign in without a second factor here; tests/portal/test_auth_mfa.py turns it on.
    "MFA_REQUIRED": False,
    # Fixed keys for field-level encryption (32 bytes each, base64); never used outside tests.
    "DATA_KEYS": {"1": "dGVzdC1vbmx5LWRhdGEta2V5LW51bWJlci1vbmUtMDE="},
    "DATA_KEY_CURRENT": "1",
    "BLIND_INDEX_KEY": "dGVzdC1vbmx5LWJsaW5kLWluZGV4LWtleS0wMDAwMDA=",
    # The audit chain's HMAC key (32 bytes, base64); never used outside tests.
    "AUDIT_KEY": "dGVzdC1vbmx5LWF1ZGl0LWNoYWluLWtleS0wMDAwMDA=",
    # No offer index files unless a test gives a folder of its own (the app fixture does).
    "INDEX_DIR": "",
}


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            **TEST_CONFIG,
            "DATABASE_URL": database_url,
            "INDEX_DIR": str(tmp_path / "offer-index"),
            "IMPORT_DIR": str(tmp_path / "hsds-imports"),
        }
    )
    yield app
    get_engine(app).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """The test's own session. It begins deferred, so a read here never holds SQLite's write
    lock while the app under test writes; tests end their transaction before re-reading."""
    with Session(get_engine(app).execution_options(read_only=True), expire_on_commit=False) as session:
        yield session


@pytest.fixture
def make_organization(session: Session) -> Callable[..., Organization]:
    def make(kind: OrganizationKind = OrganizationKind.NGO, verified: bool = True, **fields: Any) -> Organization:
        organization = Organization(
            name=fields.pop("name", f"Org {uuid.uuid4().hex[:6]}"),
            kind=kind,
            status=VerificationStatus.VERIFIED if verified else VerificationStatus.PENDING,
            verified_at=utcnow() if verified else None,
            **fields,
        )
        session.add(organization)
        session.commit()
        return organization

    return make


@pytest.fixture
def make_user(session: Session, make_organization: Callable[..., Organization]) -> Callable[..., User]:
    def make(role: Role, organization: Organization | None = None, verified: bool = True, **fields: Any) -> User:
        if role == Role.PROVIDER and organization is None:
            organization = make_organization()
        user = User(
            email=fields.pop("email", f"{role}-{uuid.uuid4().hex[:8]}@bridge.example"),
            name=fields.pop("name", f"{role.title()} Tester"),
            password_hash=fields.pop("password_hash", PASSWORD_HASH),
            role=role,
            organization_id=organization.id if organization else None,
            verified_at=utcnow() if verified else None,
            **fields,
        )
        session.add(user)
        session.commit()
        return user

    return make


@pytest.fixture
def make_offer(session: Session) -> Callable[..., Offer]:
    def make(owner: User, **fields: Any) -> Offer:
        owned = (
            {"organization_id": owner.organization_id} if owner.role == Role.PROVIDER else {"volunteer_id": owner.id}
        )
        offer = Offer(
            **owned,
            category=fields.pop("category", "counselling"),
            title=fields.pop("title", "Weekly counselling group"),
            status=fields.pop("status", OfferStatus.OPEN),
            **fields,
        )
        session.add(offer)
        session.commit()
        return offer

    return make


def sign_in_with_session(client: FlaskClient, session: Session, user: User) -> FlaskClient:
    """Open a real server-side session for the user and put its cookie into this client,
    without going through the form (and its throttling and second factor)."""
    session.commit()  # end a read begun before the app's writes: SQLite could not write after it
    token = server_sessions.start(session, user)
    session.commit()
    with client.session_transaction() as flask_session:
        flask_session.clear()
        flask_session["_user_id"] = str(user.id)
        flask_session["_fresh"] = True
        flask_session[TOKEN_KEY] = token
        flask_session[AGENT_KEY] = agent_digest(client.environ_base["HTTP_USER_AGENT"])
    return client


# The elements every consent has besides its recipient, purpose and scope (42 CFR 2.31(a)): a
# paper form signed by the person on the day the consent starts, ending with the programme.
CONSENT_ELEMENTS: dict[str, Any] = {
    "discloser": "Bridge community drug rehabilitation programme",
    "signature_ref": "FORM-0001",
    "signed_at": date(2025, 1, 1),
    "signed_by_role": SignerRole.SELF,
    "expiry_event": ExpiryEvent.PROGRAMME_END,
    "revocation_statement_version": REVOCATION_STATEMENT_VERSION,
    "text_version_sha256": "0" * 64,
}


# What an organization's sign-up asks for its verification: a unified social credit code with a
# right check character (GB 32100-2015), its registered address and a person to call.
ORGANIZATION_PAPERS = {
    "credit_code": "52510100MJ00000016",
    "registered_address": "成都市金牛区营门口路 88 号",
    "contact_person": "陈静",
    "contact_phone": "028-8765 4321",
}


def keyed(data: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A create form's data with the one-time key its page would carry (portal/idempotency.py)."""
    return {"idempotency_key": str(uuid.uuid4()), **(data or {}), **fields}


def record_consent(
    session: Session,
    person: Person,
    *,
    organization: Organization | None = None,
    kind: RecipientKind | None = None,
    purpose: ConsentPurpose = ConsentPurpose.REFERRAL,
    categories: tuple[DataCategory, ...] = (DataCategory.NEEDS,),
    **fields: Any,
) -> Consent:
    """A consent of this person, from a year ago with no end, naming an organization or a kind."""
    consent = Consent(
        person_id=person.id,
        recipient_organization_id=organization.id if organization else None,
        recipient_kind=kind,
        purpose=purpose,
        data_categories=[str(category) for category in categories],
        valid_from=fields.pop("valid_from", date(2025, 1, 1)),
        method=fields.pop("method", ConsentMethod.PAPER),
        **{**CONSENT_ELEMENTS, **fields},
    )
    session.add(consent)
    session.commit()
    return consent


def consent_to_every_recipient(session: Session, person: Person) -> None:
    """Consent to referrals and employment with every kind of recipient: for tests about other things."""
    for kind in RecipientKind:
        for purpose in (ConsentPurpose.REFERRAL, ConsentPurpose.EMPLOYMENT):
            record_consent(session, person, kind=kind, purpose=purpose)


@pytest.fixture
def login(client: FlaskClient, session: Session) -> Callable[[User], FlaskClient]:
    """Sign a user in with a real server-side session; only test_auth*.py go through the form."""

    def sign_in(user: User) -> FlaskClient:
        return sign_in_with_session(client, session, user)

    return sign_in


@pytest.fixture
def grid(session: Session) -> Area:
    """A community grid for a test's people and staff (a module may define its own)."""
    area = Area(level="grid", name_en="Grid 3", name_zh="第三网格", code="TEST-G3")
    session.add(area)
    session.commit()
    return area


@pytest.fixture
def caseworker(make_user: Callable[..., User], grid: Area) -> User:
    """A caseworker of the grid: the areas they may put people in are that grid and those below it."""
    return make_user(Role.CASEWORKER, name="Zhao Min", area_id=grid.id)


@pytest.fixture
def offer(make_user: Callable[..., User], make_offer: Callable[..., Offer]) -> Offer:
    """An open offer of a verified NGO, for tests about the people referred to it."""
    return make_offer(make_user(Role.PROVIDER), title="Welding apprenticeship")
