"""The production server as the repository configures it (gunicorn.conf.py): it serves the portal,
and its access log keeps paths but never query strings (a search for a name or a phone number)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import TEST_CONFIG

ROOT = Path(__file__).resolve().parents[1]
SEARCHED = "13800138000"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, deadline: float) -> int:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local test server
                return int(response.status)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_gunicorn_serves_the_portal_and_logs_no_query_string(tmp_path: Path) -> None:
    port = _free_port()
    settings = {key: value for key, value in TEST_CONFIG.items() if key != "TESTING"}
    environment = {
        **os.environ,
        **{f"PORTAL_{name}": json.dumps(value) for name, value in settings.items()},
        "PORTAL_DATABASE_URL": json.dumps(f"sqlite:///{tmp_path / 'served.db'}"),
        "BRIDGE_BIND": f"127.0.0.1:{port}",
        "BRIDGE_WORKERS": "1",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert _get(f"http://127.0.0.1:{port}/healthz?phone={SEARCHED}", time.monotonic() + 60) == 200
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    access = [line for line in output.splitlines() if '"GET /healthz HTTP/1.1" 200' in line]
    assert len(access) == 1, output
    assert SEARCHED not in output
