"""`check-deploy`: what an operator is told is unsafe or missing before real records go in."""

from pathlib import Path

import pytest

from portal import create_app
from portal.db import get_engine
from portal.deployment import SERIOUS, findings
from portal.migrations import revisions
from tests.conftest import TEST_CONFIG, revision_before
from tests.test_deploy_files import sourced

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
    assert "WARNING  PORTAL_METRICS_ALLOWED: allows this machine while PORTAL_TRUSTED_PROXIES is 0" in result.output
    assert result.output.rstrip().endswith("8 serious, 5 warnings.")


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


def _keys_env() -> str:
    """`keys env` as a new server runs it: development mode, no database to reach, no keys yet."""
    portal = create_app({"ENV": "development", "DATABASE_URL": "postgresql+psycopg://bridge@db.invalid/bridge"})
    result = portal.test_cli_runner().invoke(args=["keys", "env"])
    assert result.exit_code == 0, result.output
    return result.output


SECRETS = ["PORTAL_SECRET_KEY", "PORTAL_DATA_KEYS", "PORTAL_BLIND_INDEX_KEY", "PORTAL_AUDIT_KEY"]


def test_keys_env_makes_every_secret_afresh_and_they_pass_the_check(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first.env", tmp_path / "second.env"
    first.write_text(_keys_env())
    second.write_text(_keys_env())
    made, made_again = sourced(first), sourced(second)
    assert sorted(made) == sorted([*SECRETS, "PORTAL_DATA_KEY_CURRENT"])
    assert all(made[name] != made_again[name] for name in SECRETS)
    for name, value in made.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    monkeypatch.setenv("PORTAL_ALLOW_SQLITE", "true")
    app = create_app()
    about_keys = [finding for finding in findings(app) if finding.setting in SECRETS]
    assert about_keys == []
    get_engine(app).dispose()


@pytest.mark.parametrize(
    ("allowed", "warned"),
    [(["127.0.0.1", "::1"], False), (["10.0.0.0/8", "fd00::/8"], False), (["0.0.0.0/0"], True), (["8.8.8.8"], True)],
)
def test_metrics_readable_from_the_internet_is_a_warning(tmp_path: Path, allowed: list[str], warned: bool) -> None:
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "ALLOW_SQLITE": True, "METRICS_ALLOWED": allowed}
    app = create_app({**PRODUCTION, **settings})
    metrics = [finding for finding in findings(app) if finding.setting == "PORTAL_METRICS_ALLOWED"]
    assert [finding.level for finding in metrics] == (["warning"] if warned else [])
    get_engine(app).dispose()


def test_a_schema_behind_the_code_is_serious(database_url: str) -> None:
    """Code deployed without `db upgrade`: the check names the revisions and the command to run."""
    if not database_url.startswith("postgresql"):
        pytest.skip("production runs on PostgreSQL")
    app = create_app({**PRODUCTION, "DATABASE_URL": database_url})
    engine = get_engine(app)
    with engine.connect() as connection:
        _, head = revisions(connection)
    assert head is not None
    before = revision_before(head)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = %s", (before,))
    try:
        schema = [finding for finding in findings(app) if finding.setting == "database schema"]
        assert [finding.level for finding in schema] == [SERIOUS]
        assert f"revision {before}, the code at {head}" in schema[0].message and "db upgrade" in schema[0].message
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = %s", (head,))
    assert not any(finding.setting == "database schema" for finding in findings(app))
    engine.dispose()


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
