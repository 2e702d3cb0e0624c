"""`check-deploy`: what an operator is told is unsafe or missing before real records go in."""

from pathlib import Path

import pytest

from portal import create_app
from portal.db import get_engine
from portal.deployment import SERIOUS, findings
from tests.conftest import TEST_CONFIG

# What a production configuration sets (tests/conftest.py's keys, which are not the development ones).
PRODUCTION = {
    **TEST_CONFIG,
    "TESTING": False,
    "ENV": "production",
    "SECRET_KEY": "a-production-secret-of-forty-eight-characters-00",
    "SESSION_COOKIE_SECURE": True,
    "REMEMBER_COOKIE_SECURE": True,
    "MFA_REQUIRED": True,
    "SMTP_HOST": "mail.bridge.example",
    "MAIL_FROM": "bridge@bridge.example",
    "QUEUE_URL": "redis://127.0.0.1:6379/15",
    "PUBLIC_URL": "https://bridge.example.org",
    "TRUSTED_PROXIES": 1,
    "AUDIT_ANCHOR_FILE": "/var/lib/bridge/audit-anchor",
}


def test_the_development_settings_fail_the_check_naming_each_unsafe_one(tmp_path: Path) -> None:
    app = create_app({"ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}"})
    result = app.test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == 1
    for setting in (
        "PORTAL_ENV",
        "PORTAL_SECRET_KEY",
        "PORTAL_DATA_KEYS",
        "PORTAL_BLIND_INDEX_KEY",
        "PORTAL_AUDIT_KEY",
        "PORTAL_MFA_REQUIRED",
        "PORTAL_SESSION_COOKIE_SECURE",
        "PORTAL_DATABASE_URL",
    ):
        assert f"SERIOUS  {setting}: " in result.output
    assert "WARNING  PORTAL_SMTP_HOST: " in result.output
    assert result.output.rstrip().endswith("8 serious, 4 warnings.")


def test_a_production_configuration_on_postgresql_passes_but_for_the_server_itself(database_url: str) -> None:
    """Everything the portal's own settings control is right; what is left is the database server's
    (this machine's PostgreSQL may run without autovacuum, which production must not)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("production runs on PostgreSQL")
    app = create_app({**PRODUCTION, "DATABASE_URL": database_url})
    engine = get_engine(app)
    with engine.connect() as connection:
        autovacuum = connection.exec_driver_sql("SHOW autovacuum").scalar()
    expected = [] if autovacuum == "on" else [(SERIOUS, "PostgreSQL autovacuum")]
    assert [(finding.level, finding.setting) for finding in findings(app)] == expected
    result = app.test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == (0 if autovacuum == "on" else 1)
    engine.dispose()


def test_a_database_across_the_network_needs_tls_and_must_answer() -> None:
    app = create_app({**PRODUCTION, "DATABASE_URL": "postgresql+psycopg://bridge@db.invalid/bridge"})
    found = {(finding.setting, finding.message.split(":")[0]) for finding in findings(app) if finding.level == SERIOUS}
    assert ("PORTAL_DATABASE_URL", "reaches PostgreSQL at db.invalid without TLS") in found
    assert ("PORTAL_DATABASE_URL", "cannot be reached") in found
    secure = create_app(
        {**PRODUCTION, "DATABASE_URL": "postgresql+psycopg://bridge@db.invalid/bridge?sslmode=verify-full"}
    )
    assert not any("without TLS" in finding.message for finding in findings(secure))


def test_mail_without_a_queue_or_with_one_that_does_not_answer_is_a_warning(tmp_path: Path) -> None:
    """Mail still goes out either way (from the web workers, or from run-due-jobs), only later."""
    sqlite = {**PRODUCTION, "ALLOW_SQLITE": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'trial.db'}"}
    warned = {
        queue_url: [
            (f.level, f.message.split(":")[0])
            for f in findings(create_app({**sqlite, "QUEUE_URL": queue_url}))
            if f.setting == "PORTAL_QUEUE_URL"
        ]
        for queue_url in ("", "redis://127.0.0.1:1/15")
    }
    assert warned[""] == [("warning", "is not set")]
    assert warned["redis://127.0.0.1:1/15"] == [("warning", "cannot be reached (ConnectionError)")]
