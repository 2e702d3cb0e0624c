"""Browser hardening headers on pages, partials and errors."""

from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from portal import create_app
from portal.models import Role, User
from tests.conftest import TEST_CONFIG


def test_pages_carry_a_strict_content_security_policy_with_a_fresh_nonce(client: FlaskClient) -> None:
    first, second = client.get("/auth/login"), client.get("/auth/login")
    policy = first.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert policy != second.headers["Content-Security-Policy"]  # the nonce changes every response


def test_pages_are_not_cached_framed_or_sniffed(
    client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    login(make_user(Role.CASEWORKER))
    for response in (
        client.get("/offers/"),
        client.get("/offers/?q=x", headers={"HX-Request": "true"}),
        client.get("/nope"),
    ):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in client.get("/").headers  # tests run as non-production


def test_static_files_may_be_cached(client: FlaskClient) -> None:
    response = client.get("/static/app.css")
    assert response.status_code == 200 and response.headers.get("Cache-Control") != "no-store"
    response.close()


def test_templates_hold_no_inline_script_or_style() -> None:
    """The policy allows neither; a template that adds one breaks the page, so it fails here first."""

    root = Path(__file__).resolve().parents[2] / "templates"
    for template in root.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "style=" not in text and "<style" not in text, template
        for line in text.splitlines():
            if "<script" in line:
                assert "src=" in line or "nonce=" in line, (template, line)


def test_production_asks_browsers_to_use_https_only(tmp_path: Path) -> None:

    keys = {key: TEST_CONFIG[key] for key in ("DATA_KEYS", "DATA_KEY_CURRENT", "BLIND_INDEX_KEY", "AUDIT_KEY")}
    trial = {"DATABASE_URL": f"sqlite:///{tmp_path}/p.db", "ALLOW_SQLITE": True}
    app = create_app({"SECRET_KEY": "production-secret", **trial, **keys})
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_map_tile_server_is_the_only_other_place_images_may_come_from(tmp_path: Path) -> None:
    assert (
        "img-src 'self' data:;"
        in create_app(TEST_CONFIG).test_client().get("/auth/login").headers["Content-Security-Policy"]
    )
    mapped = create_app({**TEST_CONFIG, "MAP_TILE_URL": "https://tiles.example.org/{z}/{x}/{y}.png"})
    policy = mapped.test_client().get("/auth/login").headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://tiles.example.org;" in policy
    assert "script-src 'self' 'nonce-" in policy and "tiles.example.org" not in policy.split("img-src")[0]
