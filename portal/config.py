"""Configuration: safe defaults, then `PORTAL_*` environment variables, then an explicit mapping."""

from collections.abc import Mapping
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from flask import Flask

from portal.clock import DEFAULT_TIME_ZONE, zone_named
from portal.consent_text import DEFAULT_DISCLOSER
from portal.crypto import KeyConfigError, KeyRing, decode_key, keyring_from_settings


class ConfigError(RuntimeError):
    """The configuration would make the portal unsafe or unable to run."""


DEVELOPMENT_SECRET = "development-only-secret"  # noqa: S105 - only ever used when PORTAL_ENV=development
# Fixed keys so a development database survives restarts; refused outside development.
DEVELOPMENT_DATA_KEYS = {"1": "ZGV2ZWxvcG1lbnQtb25seS1kYXRhLWtleS0wMDAwMDE="}
DEVELOPMENT_BLIND_INDEX_KEY = "ZGV2ZWxvcG1lbnQtb25seS1ibGluZC1pbmRleC1rZXk="
DEVELOPMENT_AUDIT_KEY = "ZGV2ZWxvcG1lbnQtb25seS1hdWRpdC1jaGFpbi1rZXk="


def load_config(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Fill `app.config` and refuse combinations that must never reach production."""
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(
        ENV="production",
        SECRET_KEY=None,
        DATABASE_URL=f"sqlite:///{Path(app.instance_path) / 'portal.db'}",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=True,
        # Unset: `__Host-session` when Secure (the browser then keeps it for this host alone, on
        # path /), plain `session` otherwise, since browsers refuse `__Host-` cookies without Secure.
        SESSION_COOKIE_NAME=None,
        # The absolute limit of a signed-in session, enforced on the server (portal/auth/sessions.py).
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        SESSION_IDLE_MINUTES_STAFF=15,
        SESSION_IDLE_MINUTES_OTHERS=30,
        # Exports, consent overrides, account changes and the audit trail ask for the password (and
        # code) again when the user last gave it longer ago than this (portal/auth/access.py).
        FRESH_SIGN_IN_MINUTES=5,
        # There is no "remember me": these only harden the cookie should it ever be set.
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=True,
        REMEMBER_COOKIE_DURATION=timedelta(days=7),
        # Sign-in throttling (portal/auth/throttle.py).
        LOGIN_LIMIT_PER_ACCOUNT=5,
        LOGIN_LIMIT_PER_ADDRESS=20,
        LOCKOUT_FAILURES=5,
        LOCKOUT_MINUTES=15,
        # Sign-ups an hour from one client address, new and known e-mail addresses alike.
        SIGNUP_LIMIT_PER_ADDRESS=5,
        # Looks for people already recorded, per user and hour (the new-person form and a changed
        # phone or ID number each ask once): every answer tells whether someone is on the register.
        DUPLICATE_CHECKS_PER_HOUR=30,
        # Reads of the directory API (HSDS) an hour, per partner token or, without one, per address.
        API_READS_PER_HOUR=3600,
        # Staff must use a second factor (TOTP). Unset: required everywhere but in development.
        MFA_REQUIRED=None,
        # Field-level encryption (portal/crypto.py), two-step seeds included: {"1": base64 of 32
        # random bytes, ...} as JSON, the id of the key new values are sealed with, and the HMAC key
        # of the blind indexes.
        DATA_KEYS="",
        DATA_KEY_CURRENT=None,
        BLIND_INDEX_KEY="",
        # The HMAC key of the audit trail's chain (portal/audit/services.py), base64 of 32 bytes:
        # without it no one can rewrite the trail and recompute the chain.
        AUDIT_KEY="",
        # A file outside the database where run-due-jobs appends the head of the audit chain, for
        # `audit verify --anchor` to find truncation; empty: the head is only logged.
        AUDIT_ANCHOR_FILE="",
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        BABEL_DEFAULT_LOCALE="en",
        # The users' time zone (portal/clock.py): their "today", and how dates and times are shown.
        TIME_ZONE=DEFAULT_TIME_ZONE,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(app.root_path) / "translations"),
        DIRECTORY_PAGE_SIZE=25,
        # Where the offer index is written for every worker of this machine to map (a folder per
        # database under it); empty: each worker assembles its own from the database.
        INDEX_DIR=str(Path(app.instance_path) / "offer-index"),
        # Where the admins' HSDS imports keep their uploads until the import ends (portal/hsds/imports.py);
        # empty: hsds-imports in the instance folder.
        IMPORT_DIR="",
        # Programmes whose referrals a supervisor approves (JSON list in PORTAL_SUPERVISOR_APPROVAL_PROGRAMMES).
        SUPERVISOR_APPROVAL_PROGRAMMES=[],
        # Programmes whose needs' rankings, and the caseworkers' decisions on them, are recorded for
        # the ranker to learn from (portal/matches/learning.py; JSON list in PORTAL_LEARNING_PROGRAMMES).
        # Empty: recorded nowhere.
        LEARNING_PROGRAMMES=[],
        # Days a provider has to answer a referral, by offer category (JSON object in the environment).
        REFERRAL_RESPONSE_DAYS={"default": 5, "employment": 3, "housing": 2, "health": 3},
        # Minutes a run of run-due-jobs may hold its lock; a lock older than this belonged to a run
        # that died, and the next run takes it over.
        JOB_LOCK_MINUTES=60,
        # Minutes the indicators page may show figures computed before: older ones are computed
        # again when viewed (run-due-jobs also refreshes the default views of every area).
        INDICATORS_FRESH_MINUTES=15,
        # Days past the answer deadline before an unanswered referral expires (it shows as overdue meanwhile).
        REFERRAL_EXPIRY_GRACE_DAYS=2,
        # Longest gap between contacts each programme allows before a person counts as out of contact.
        CONTACT_GAP_DAYS={"default": 30, "community_detox": 30, "community_rehab": 30},
        # Indicators: a count under this is shown as "<5" (and an area with fewer people has every
        # figure hidden), the usual small-cell rule of official statistics (portal/indicators/suppression.py).
        SMALL_CELL_THRESHOLD=5,
        # Days after a person's programme ends before their record is anonymised (run-due-jobs).
        # Three years by default: community rehabilitation (社区康复) runs up to three years after
        # community detox, so a relapse or a question about the case usually comes within that time;
        # after it, keeping names and notes only adds risk (PIPL Art. 19, GDPR Art. 5(1)(e)). Set it
        # to the period local record-keeping rules require; a legal hold keeps a record longer.
        ANONYMISE_AFTER_DAYS=3 * 365,
        # Who discloses under a consent (42 CFR 2.31(a)(2)): what the consent form proposes.
        CONSENT_DISCLOSER=DEFAULT_DISCLOSER,
        # Days to answer a request to erase a record (GDPR Art. 12(3): one month).
        ERASURE_DUE_DAYS=30,
        # E-mail. Without an SMTP host nothing is sent: mails wait in the outbox for admins to read.
        SMTP_HOST="",
        SMTP_PORT=587,
        SMTP_USER="",
        SMTP_PASSWORD="",
        SMTP_STARTTLS=True,
        MAIL_FROM="",
        # Redis for the mail queue, e.g. redis://127.0.0.1:6379/0, served by `flask --app wsgi
        # mail-worker`. Empty: each web process sends the mail it wrote once its response is out.
        QUEUE_URL="",
        # SQLite outside development: refused unless this says yes, for a single-machine trial.
        ALLOW_SQLITE=False,
        # How many reverse proxies stand in front of the portal (0: clients connect directly).
        TRUSTED_PROXIES=0,
        # Where the portal is reached from outside, e.g. https://bridge.example.org: links in e-mails.
        PUBLIC_URL="",
        # Logs on stderr: "json" (one object a line, for a log collector) or "text". Unset: text in
        # development and tests, so a terminal stays readable; json everywhere else.
        LOG_FORMAT=None,
        # Who may read /metrics: client addresses and networks (JSON list; after PORTAL_TRUSTED_PROXIES
        # is applied), and, when set, anyone sending `Authorization: Bearer <PORTAL_METRICS_TOKEN>`.
        # Everyone else gets 404, as if there were no such page.
        METRICS_ALLOWED=["127.0.0.1", "::1"],
        METRICS_TOKEN="",
        # The map tiles for pinning a place (portal/maps.py): an address with {z}, {x} and {y}, e.g.
        # https://tiles.example.org/{z}/{x}/{y}.png, and the words its licence asks to show. Empty:
        # no map; places follow the grid's centre or typed coordinates.
        MAP_TILE_URL="",
        MAP_ATTRIBUTION="",
    )
    app.config.from_prefixed_env("PORTAL")
    if overrides:
        app.config.update(overrides)
    app.config["TRUSTED_PROXIES"] = int(app.config["TRUSTED_PROXIES"])
    app.config["SMALL_CELL_THRESHOLD"] = int(app.config["SMALL_CELL_THRESHOLD"])
    if app.config["SMALL_CELL_THRESHOLD"] < 1:
        raise ConfigError("PORTAL_SMALL_CELL_THRESHOLD must be 1 (no suppression) or more.")
    learning = app.config["LEARNING_PROGRAMMES"]
    if not isinstance(learning, list | tuple) or not all(isinstance(code, str) for code in learning):
        raise ConfigError("PORTAL_LEARNING_PROGRAMMES must be a JSON list of programmes, e.g. '[\"community_rehab\"]'.")
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    if not isinstance(lifetime, timedelta):  # seconds, from the environment
        app.config["PERMANENT_SESSION_LIFETIME"] = lifetime = timedelta(seconds=int(lifetime))
    if lifetime > timedelta(hours=8):
        raise ConfigError("PORTAL_PERMANENT_SESSION_LIFETIME must be 8 hours or less.")
    try:
        zone_named(app.config["TIME_ZONE"])
    except ValueError as exc:
        raise ConfigError(f"PORTAL_TIME_ZONE: {exc}, e.g. Asia/Shanghai.") from exc
    # One time zone: dates and times are shown in the zone "today" is reckoned in.
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIME_ZONE"]
    tiles = app.config["MAP_TILE_URL"]
    if tiles and not (all(part in tiles for part in ("{z}", "{x}", "{y}")) and tiles.startswith(("https://", "/"))):
        raise ConfigError(
            "PORTAL_MAP_TILE_URL must be an https:// (or the portal's own /) address with {z}, {x} and {y}."
        )
    if app.config["SMTP_HOST"] and not app.config["MAIL_FROM"]:
        raise ConfigError("PORTAL_MAIL_FROM must be set when PORTAL_SMTP_HOST is.")
    development = app.config["ENV"] == "development"
    if app.config["LOG_FORMAT"] is None:
        app.config["LOG_FORMAT"] = "text" if development or app.config.get("TESTING") else "json"
    if app.config["LOG_FORMAT"] not in ("json", "text"):
        raise ConfigError("PORTAL_LOG_FORMAT must be json or text.")
    allowed = app.config["METRICS_ALLOWED"]
    try:
        if not isinstance(allowed, list | tuple):
            raise ValueError(f"{allowed!r} is not a list")
        app.config["METRICS_ALLOWED"] = [ip_network(str(entry)) for entry in allowed]
    except ValueError as exc:
        raise ConfigError(f"PORTAL_METRICS_ALLOWED must be a JSON list of addresses or networks: {exc}.") from exc
    if app.config["MFA_REQUIRED"] is None:
        app.config["MFA_REQUIRED"] = not development
    if development:
        app.config["SESSION_COOKIE_SECURE"] = False
        app.config["REMEMBER_COOKIE_SECURE"] = False
        if not app.config["SECRET_KEY"]:
            app.config["SECRET_KEY"] = DEVELOPMENT_SECRET
        if not app.config["DATA_KEYS"]:
            app.config["DATA_KEYS"] = DEVELOPMENT_DATA_KEYS
            app.config["DATA_KEY_CURRENT"] = "1"
        if not app.config["BLIND_INDEX_KEY"]:
            app.config["BLIND_INDEX_KEY"] = DEVELOPMENT_BLIND_INDEX_KEY
        if not app.config["AUDIT_KEY"]:
            app.config["AUDIT_KEY"] = DEVELOPMENT_AUDIT_KEY
    if app.config["SESSION_COOKIE_NAME"] is None:
        app.config["SESSION_COOKIE_NAME"] = "__Host-session" if app.config["SESSION_COOKIE_SECURE"] else "session"
    if not development:
        if not app.config["SECRET_KEY"] or app.config["SECRET_KEY"] == DEVELOPMENT_SECRET:
            raise ConfigError("PORTAL_SECRET_KEY must be set outside development.")
        # Debug mode runs arbitrary code from the browser: never outside development.
        app.config["DEBUG"] = False
        app.debug = False
    app.extensions["portal_keyring"] = _keyring(app.config, development)
    app.extensions["portal_audit_key"] = _audit_key(app.config, development)
    if app.config["ENV"] == "production" and _is_sqlite(app.config["DATABASE_URL"]) and not app.config["ALLOW_SQLITE"]:
        raise ConfigError(
            "PORTAL_DATABASE_URL is SQLite, which serves one machine with one writer at a time: production "
            "runs on PostgreSQL. For a trial on one machine, set PORTAL_ALLOW_SQLITE=true."
        )


def _is_sqlite(url: str) -> bool:
    return str(url).startswith("sqlite")


def _keyring(config: Mapping[str, Any], development: bool) -> KeyRing:
    """The data keys and the blind-index key: without them, or with the development ones outside
    development, the portal does not start (the keys live in the environment, never the database)."""
    try:
        ring = keyring_from_settings(config["DATA_KEYS"], config["DATA_KEY_CURRENT"], config["BLIND_INDEX_KEY"])
    except KeyConfigError as exc:
        raise ConfigError(
            f"Encryption keys: {exc} (PORTAL_DATA_KEYS, PORTAL_DATA_KEY_CURRENT, PORTAL_BLIND_INDEX_KEY)."
        ) from exc
    development_keys = keyring_from_settings(DEVELOPMENT_DATA_KEYS, "1", DEVELOPMENT_BLIND_INDEX_KEY)
    if not development and (
        development_keys.keys[1] in ring.keys.values() or ring.blind_key == development_keys.blind_key
    ):
        raise ConfigError("The development encryption keys must not be used outside development.")
    return ring


def _audit_key(config: Mapping[str, Any], development: bool) -> bytes:
    """The audit chain's HMAC key: required, and never the development one outside development (it
    is in this file, so anyone could recompute a chain made with it)."""
    if not config["AUDIT_KEY"]:
        raise ConfigError("PORTAL_AUDIT_KEY must be set outside development (make one with `flask keys new`).")
    try:
        key = decode_key(str(config["AUDIT_KEY"]), "PORTAL_AUDIT_KEY")
    except KeyConfigError as exc:
        raise ConfigError(f"Audit key: {exc}.") from exc
    if not development and config["AUDIT_KEY"] == DEVELOPMENT_AUDIT_KEY:
        raise ConfigError("The development audit key must not be used outside development.")
    return key
