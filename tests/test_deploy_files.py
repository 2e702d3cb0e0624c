"""The deployment files in deploy/ (README "Deploying") agree with the code they run: the commands
the systemd units start exist, the paths they may write are those the settings name, and nginx's
limits and caching fit the portal's."""

import configparser
import json
import os
import re
import runpy
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask

from portal import create_app
from tests.conftest import TEST_CONFIG

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
NGINX = (DEPLOY / "nginx" / "bridge.conf").read_text()
# Where README "Deploying" clones the repository; the units and nginx name files under it.
INSTALLED = "/srv/bridge"
# systemd's generator of the user environment, which prints what it read from environment.d files.
ENVIRONMENT_D = Path("/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator")
SIZES = {"": 1, "k": 1024, "m": 1024 * 1024}


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd's keys are case-sensitive
    unit.read_string((SYSTEMD / name).read_text())
    return unit


def _in_repository(installed_path: str) -> Path:
    return ROOT / Path(installed_path).relative_to(INSTALLED)


def _example_settings() -> dict[str, str]:
    return sourced(DEPLOY / "bridge.env.example")


def sourced(env_file: Path) -> dict[str, str]:
    """The portal's and gunicorn's variables a shell exports after sourcing the file, as
    deploy/bridge-flask does; systemd's EnvironmentFile reads the same single-quoted values."""
    script = 'set -a; . "$0"; env -0'
    environment = {"PATH": os.environ["PATH"]}
    result = subprocess.run(["sh", "-c", script, str(env_file)], env=environment, capture_output=True, check=True)
    pairs = (item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)
    return {name: value for name, value in pairs if name.startswith(("PORTAL_", "BRIDGE_"))}


def _development_app() -> Flask:
    """The app as a new server has it: no database reachable, no keys of its own."""
    return create_app({"ENV": "development", "DATABASE_URL": "postgresql+psycopg://bridge@db.invalid/bridge"})


def _under(path: str, folders: list[str]) -> bool:
    return any(Path(path).is_relative_to(folder) for folder in folders)


def test_the_portal_service_runs_gunicorn_with_the_repositorys_settings_hardened() -> None:
    service = _unit("bridge.service")["Service"]
    program, *arguments = shlex.split(service["ExecStart"])
    assert Path(program) == Path(INSTALLED) / ".venv" / "bin" / "gunicorn"
    assert arguments[arguments.index("-c") + 1] == f"{INSTALLED}/gunicorn.conf.py"
    assert _in_repository(arguments[arguments.index("-c") + 1]).is_file()
    module, _, name = arguments[-1].partition(":")
    assert re.search(rf"^{name} = create_app\(", (ROOT / f"{module}.py").read_text(), flags=re.MULTILINE)
    assert service["WorkingDirectory"] == INSTALLED
    assert service["EnvironmentFile"] == "/etc/bridge/bridge.env"
    assert service["User"] == "bridge"
    assert service["ExecReload"] == "/bin/kill -s HUP $MAINPID"
    for option, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes"}.items():
        assert service[option] == value


def test_the_timer_runs_the_periodic_work_every_five_minutes_within_its_lock() -> None:
    timer = _unit("bridge-jobs.timer")["Timer"]
    assert timer["Unit"] == "bridge-jobs.service"
    assert timer["OnCalendar"] == "*:0/5"
    service = _unit(timer["Unit"])["Service"]
    assert service["Type"] == "oneshot"
    assert service["EnvironmentFile"] == "/etc/bridge/bridge.env"
    program, *arguments = shlex.split(service["ExecStart"])
    assert program == f"{INSTALLED}/.venv/bin/flask" and arguments[:2] == ["--app", "wsgi"]
    assert arguments[2:] == ["run-due-jobs"]
    portal = _development_app()
    assert "run-due-jobs" in portal.cli.commands
    # A run killed for taking too long has not yet lost its lock to the next one.
    assert int(service["TimeoutStartSec"].removesuffix("min")) < portal.config["JOB_LOCK_MINUTES"]


def test_each_service_may_write_only_what_it_writes() -> None:
    settings = _example_settings()
    index, anchors = settings["PORTAL_INDEX_DIR"], settings["PORTAL_AUDIT_ANCHOR_FILE"]
    portal = _unit("bridge.service")["Service"]["ReadWritePaths"].split()
    jobs = _unit("bridge-jobs.service")["Service"]["ReadWritePaths"].split()
    assert _under(index, portal) and _under(index, jobs)
    assert _under(anchors, jobs)
    assert not _under(anchors, portal), "the web workers must not be able to rewrite the audit anchors"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """As installed, but with this checkout in place of /srv/bridge, so the programs they start exist."""
    for unit in SYSTEMD.iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(ROOT)))
    units = sorted(str(path) for path in tmp_path.iterdir())
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    # An unknown or misspelt option is only a warning (exit 0); lines about other units are the host's.
    about_ours = [line for line in result.stderr.splitlines() if "bridge" in line]
    assert result.returncode == 0 and about_ours == [], result.stderr


@pytest.mark.skipif(not ENVIRONMENT_D.exists(), reason="systemd's environment.d generator is not installed")
def test_systemd_reads_the_env_file_as_the_shell_does(tmp_path: Path) -> None:
    """systemd reads environment.d files with the parser of EnvironmentFile=; its generator prints
    what it read, so the example and `keys env`'s lines (JSON in quotes) are read here as systemd will."""
    env_file = tmp_path / "environment.d" / "bridge.conf"
    env_file.parent.mkdir()
    keys = _development_app().test_cli_runner().invoke(args=["keys", "env"])
    env_file.write_text((DEPLOY / "bridge.env.example").read_text() + keys.output)
    generated = subprocess.run(
        [str(ENVIRONMENT_D)],
        env={"XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert generated.returncode == 0, generated.stderr
    read = dict(shlex.split(line)[0].split("=", 1) for line in generated.stdout.splitlines())
    expected = sourced(env_file)
    assert {name: read.get(name) for name in expected} == expected
    assert json.loads(expected["PORTAL_DATA_KEYS"]).keys() == {"1"}


def _directive(name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", NGINX, flags=re.MULTILINE)


def test_nginx_refuses_what_the_portal_would_refuse_and_waits_longer_than_gunicorn() -> None:
    (size,) = _directive("client_max_body_size")
    number, unit = re.fullmatch(r"(\d+)([km]?)", size.lower()).groups()  # type: ignore[union-attr]
    portal = create_app({**TEST_CONFIG, "DATABASE_URL": "sqlite://"})
    assert int(number) * SIZES[unit] == portal.config["MAX_CONTENT_LENGTH"]
    gunicorn_timeout = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["timeout"]
    for timeout in _directive("proxy_read_timeout") + _directive("proxy_send_timeout"):
        assert gunicorn_timeout < int(timeout.removesuffix("s")) <= gunicorn_timeout + 10
    headers = dict(header.split(maxsplit=1) for header in _directive("proxy_set_header"))
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-Host"] == "$host"
    assert _directive("proxy_pass") == [f"http://{_example_settings()['BRIDGE_BIND']}"]


def test_nginx_serves_the_static_folder_and_caches_for_good_only_versioned_names() -> None:
    locations = re.findall(r"location (/static/\S*) \{(.*?)\}", NGINX, flags=re.DOTALL)
    static_url = create_app({**TEST_CONFIG, "DATABASE_URL": "sqlite://"}).static_url_path
    assert f"{static_url}/" in {prefix for prefix, _ in locations}
    for prefix, body in locations:
        (alias,) = re.findall(r"alias (\S+);", body)
        folder = _in_repository(alias)
        assert folder == ROOT / "static" / prefix.removeprefix("/static/")
        if "immutable" in body:
            # The version is in the file's name or its folder's (vendor/leaflet-1.9.4/leaflet.js).
            served = [str(path.relative_to(folder)) for path in folder.rglob("*") if path.suffix in {".js", ".css"}]
            assert served and all(re.search(r"-\d+(\.\d+)+", name) for name in served), served


def test_the_example_settings_and_fresh_keys_pass_check_deploy(database_url: str, tmp_path: Path) -> None:
    """What README "Deploying" does: the example, the database's real URL, then `keys env` appended;
    read through deploy/bridge-flask as an operator runs it."""
    if not database_url.startswith("postgresql"):
        pytest.skip("production runs on PostgreSQL")
    keys = _development_app().test_cli_runner().invoke(args=["keys", "env"])
    example = (DEPLOY / "bridge.env.example").read_text()
    example = re.sub(r"^PORTAL_DATABASE_URL=.*$", f"PORTAL_DATABASE_URL='{database_url}'", example, flags=re.M)
    env_file = tmp_path / "bridge.env"
    env_file.write_text(example + keys.output)
    environment = {"PATH": os.environ["PATH"], "BRIDGE_ENV_FILE": str(env_file)}
    result = subprocess.run(
        [str(DEPLOY / "bridge-flask"), "check-deploy"], env=environment, capture_output=True, text=True, timeout=120
    )
    # This machine's PostgreSQL may run without autovacuum, which is the server's to fix.
    serious = [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("SERIOUS")]
    assert serious in ([], ["SERIOUS  PostgreSQL autovacuum"]), result.stdout
    assert "WARNING" not in result.stdout
    assert result.returncode == (1 if serious else 0), result.stderr
