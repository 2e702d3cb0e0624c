"""Configuration: environment variables with one prefix, and no unsafe production start."""

import ast
import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from flask import Flask

from portal import create_app
from portal.config import DEVELOPMENT_AUDIT_KEY, DEVELOPMENT_BLIND_INDEX_KEY, DEVELOPMENT_DATA_KEYS, ConfigError
from tests.conftest import TEST_CONFIG

ROOT = Path(__file__).resolve().parents[2]


def test_production_refuses_to_start_without_a_secret_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    with pytest.raises(ConfigError, match="PORTAL_SECRET_KEY"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})


def test_settings_come_from_portal_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PORTAL_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("PORTAL_ALLOW_SQLITE", "true")
    monkeypatch.setenv("PORTAL_DEBUG", "true")
    monkeypatch.setenv("PORTAL_DATA_KEYS", json.dumps(TEST_CONFIG["DATA_KEYS"]))
    monkeypatch.setenv("PORTAL_DATA_KEY_CURRENT", "1")
    monkeypatch.setenv("PORTAL_BLIND_INDEX_KEY", TEST_CONFIG["BLIND_INDEX_KEY"])
    monkeypatch.setenv("PORTAL_AUDIT_KEY", TEST_CONFIG["AUDIT_KEY"])
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["DATABASE_URL"].endswith("env.db")
    assert app.debug is False  # never in debug mode outside development
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.extensions["portal_keyring"].current == 1
    assert app.extensions["portal_audit_key"] == base64.b64decode(TEST_CONFIG["AUDIT_KEY"])


def test_production_refuses_to_start_without_encryption_keys(tmp_path: Path) -> None:
    production = {"SECRET_KEY": "production-secret", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    keys = {key: TEST_CONFIG[key] for key in ("DATA_KEYS", "DATA_KEY_CURRENT", "BLIND_INDEX_KEY", "AUDIT_KEY")}
    for missing in ("DATA_KEYS", "DATA_KEY_CURRENT", "BLIND_INDEX_KEY"):
        with pytest.raises(ConfigError, match="Encryption keys"):
            create_app({**production, **keys, missing: ""})
    with pytest.raises(ConfigError, match="32 bytes"):
        create_app({**production, **keys, "DATA_KEYS": {"1": base64.b64encode(b"too short").decode()}})
    with pytest.raises(ConfigError, match="not in the key ring"):
        create_app({**production, **keys, "DATA_KEY_CURRENT": "2"})
    with pytest.raises(ConfigError, match="development encryption keys"):
        create_app({**production, **keys, "DATA_KEYS": DEVELOPMENT_DATA_KEYS})
    with pytest.raises(ConfigError, match="development encryption keys"):
        create_app({**production, **keys, "BLIND_INDEX_KEY": DEVELOPMENT_BLIND_INDEX_KEY})


def test_production_refuses_to_start_without_its_own_audit_key(tmp_path: Path) -> None:
    """Whoever knows the audit key can rewrite the trail and its chain: the development key is in
    the source, so it is refused like a missing one."""
    production = {
        "SECRET_KEY": "production-secret",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "ALLOW_SQLITE": True,
        **{key: TEST_CONFIG[key] for key in ("DATA_KEYS", "DATA_KEY_CURRENT", "BLIND_INDEX_KEY")},
    }
    with pytest.raises(ConfigError, match="PORTAL_AUDIT_KEY must be set"):
        create_app(production)
    with pytest.raises(ConfigError, match="32 bytes"):
        create_app({**production, "AUDIT_KEY": base64.b64encode(b"too short").decode()})
    with pytest.raises(ConfigError, match="development audit key"):
        create_app({**production, "AUDIT_KEY": DEVELOPMENT_AUDIT_KEY})
    assert create_app({**production, "AUDIT_KEY": TEST_CONFIG["AUDIT_KEY"]}).extensions["portal_audit_key"]


def test_development_runs_without_a_configured_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    monkeypatch.setenv("PORTAL_ENV", "development")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}"})
    assert app.config["SECRET_KEY"]
    assert app.config["SESSION_COOKIE_SECURE"] is False  # served over plain http on localhost
    assert app.extensions["portal_keyring"].keys  # fixed development keys, refused elsewhere
    assert app.extensions["portal_audit_key"] == base64.b64decode(DEVELOPMENT_AUDIT_KEY)


def test_vendored_htmx_is_the_pinned_release() -> None:
    """htmx 2.0.11 from the npm registry, byte for byte (no CDN at run time)."""
    data = (ROOT / "static/vendor/htmx-2.0.11.min.js").read_bytes()
    digest = base64.b64encode(hashlib.sha384(data).digest()).decode()
    assert digest == "2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg"


@pytest.mark.parametrize(
    ("name", "digest"),
    [
        ("leaflet.js", "cxOPjt7s7Iz04uaHJceBmS+qpjv2JkIHNVcuOrM+YHwZOmJGBXI00mdUXEq65HTH"),
        ("leaflet.css", "sHL9NAb7lN7rfvG5lfHpm643Xkcjzp4jFvuavGOndn6pjVqS6ny56CAt3nsEVT4H"),
    ],
)
def test_vendored_leaflet_is_the_pinned_release(name: str, digest: str) -> None:
    """Leaflet 1.9.4 from the npm registry, byte for byte (the map of portal/maps.py)."""
    data = (ROOT / "static/vendor/leaflet-1.9.4" / name).read_bytes()
    assert base64.b64encode(hashlib.sha384(data).digest()).decode() == digest


def test_vendored_idb_keyval_is_the_pinned_release() -> None:
    """idb-keyval 6.3.0 (dist/umd.js) from the npm registry, byte for byte (static/waiting-contacts.js)."""
    data = (ROOT / "static/vendor/idb-keyval-6.3.0/idb-keyval.umd.js").read_bytes()
    digest = "heZBNbZ5qOuEy6kN0six3ZVIzCVxqm0GmdO13Biy02ZPr/Ec/pXgGK5IBi2+z+XP"
    assert base64.b64encode(hashlib.sha384(data).digest()).decode() == digest


def test_every_setting_the_portal_defines_is_read_somewhere() -> None:
    """A default nobody reads documents a rule that does not exist. Flask and its extensions read
    their own keys; each of the portal's own must appear in the code again besides its default."""
    config_py = ROOT / "portal" / "config.py"
    [defaults] = [
        node
        for node in ast.walk(ast.parse(config_py.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_mapping"
    ]
    keys = {keyword.arg for keyword in defaults.keywords if keyword.arg}
    assert {"SECRET_KEY", "CONTACT_GAP_DAYS", "PUBLIC_URL"} <= keys
    extensions = set(Flask.default_config) | {k for k in keys if k.startswith(("REMEMBER_", "WTF_", "BABEL_"))}
    sources = [path.read_text(encoding="utf-8") for path in [*(ROOT / "portal").rglob("*.py"), ROOT / "wsgi.py"]]
    sources += [path.read_text(encoding="utf-8") for path in (ROOT / "templates").rglob("*.html")]
    unread = {key for key in keys - extensions if sum(len(re.findall(rf"\b{key}\b", s)) for s in sources) < 2}
    assert unread == set()


def test_production_refuses_sqlite_unless_allowed(tmp_path: Path) -> None:
    """A city's records on SQLite would have one writer and one machine: production starts on it
    only when the operator says it is a trial."""
    production = {**TEST_CONFIG, "ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    with pytest.raises(ConfigError, match="PORTAL_ALLOW_SQLITE"):
        create_app(production)
    assert create_app({**production, "ALLOW_SQLITE": True}).config["ENV"] == "production"


@pytest.mark.parametrize(
    "tiles",
    ["http://tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org/tile.png", "tiles/{z}/{x}/{y}.png"],
)
def test_a_map_tile_address_must_be_https_with_its_three_numbers(tiles: str) -> None:
    with pytest.raises(ConfigError, match="PORTAL_MAP_TILE_URL"):
        create_app({**TEST_CONFIG, "MAP_TILE_URL": tiles})
