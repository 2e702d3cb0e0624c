"""Browser tests: the portal served on a free local port, driven by the system Chromium."""

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from portal import create_app
from portal.db import get_engine
from tests.conftest import TEST_CONFIG

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """The system Chromium; Playwright's own browser downloads are not used (nor reachable)."""
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: apt-get install -y chromium fonts-noto-cjk (see .ci/run)")
    with sync_playwright() as playwright:
        # The background-networking flags keep Chromium from calling hosts this machine cannot reach.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile per test, preferring English like most test readers."""
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def live_server_settings() -> dict[str, Any]:
    """Settings a test module changes for its server; none by default."""
    return {}


RESPONSE_KEY = "bridge.tests.response"


def remembering_responses(app: Any) -> Any:
    """Keeps each response in its request's environ, for the handler below to close."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ[RESPONSE_KEY] = response = app(environ, start_response)
        return response

    return wsgi


class ClosingRequestHandler(WSGIRequestHandler):
    """Werkzeug skips closing a response when the browser drops the connection while the server
    drains the request (a navigation cancels a stylesheet still loading); the open file then warns
    at a random later moment and fails whichever test is running. Close it when the drop is seen."""

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        response = (environ or {}).get(RESPONSE_KEY)
        if response is not None and hasattr(response, "close"):
            response.close()


@pytest.fixture
def live_server(database_url: str, live_server_settings: dict[str, Any]) -> Iterator[str]:
    """The portal with CSRF protection on, as users get it, served in a background thread."""
    app = create_app({**TEST_CONFIG, "WTF_CSRF_ENABLED": True, "DATABASE_URL": database_url, **live_server_settings})
    server = make_server(
        "127.0.0.1", 0, remembering_responses(app), threaded=True, request_handler=ClosingRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    get_engine(app).dispose()


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
