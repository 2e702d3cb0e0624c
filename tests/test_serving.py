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

from prometheus_client.multiprocess import MultiProcessCollector

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


def _serve(tmp_path: Path, port: int, workers: int, **environment: str) -> subprocess.Popen[str]:
    """gunicorn with the repository's settings, the portal configured as in production but for the
    test keys and SQLite (its logs therefore JSON)."""
    settings = {key: value for key, value in TEST_CONFIG.items() if key != "TESTING"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.Popen(
        [str(gunicorn), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env={
            **os.environ,
            **{f"PORTAL_{name}": json.dumps(value) for name, value in settings.items()},
            "PORTAL_DATABASE_URL": json.dumps(f"sqlite:///{tmp_path / 'served.db'}"),
            "BRIDGE_BIND": f"127.0.0.1:{port}",
            "BRIDGE_WORKERS": str(workers),
            **environment,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_gunicorn_serves_the_portal_and_logs_no_query_string(tmp_path: Path) -> None:
    port = _free_port()
    server = _serve(tmp_path, port, workers=1)
    try:
        assert _get(f"http://127.0.0.1:{port}/healthz?phone={SEARCHED}", time.monotonic() + 60) == 200
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    access = [line for line in output.splitlines() if '"GET /healthz HTTP/1.1" 200' in line]
    assert len(access) == 1, output
    # The portal's own line: JSON, with the route and the time taken, and nothing of the query.
    [line] = [json.loads(line) for line in output.splitlines() if line.startswith('{"') and "portal.request" in line]
    assert (line["method"], line["route"], line["status"]) == ("GET", "/healthz", 200)
    assert line["duration_ms"] > 0 and line["db_queries"] >= 1
    assert SEARCHED not in output


def _healthz_counted(files: list[Path]) -> float:
    """The /healthz requests these workers' files hold, as their own processes wrote them."""
    total = 0.0
    for metric in MultiProcessCollector.merge([str(file) for file in files]):
        for found in metric.samples:
            if found.name == "bridge_requests_total" and found.labels["route"] == "/healthz":
                total += found.value
    return total


def test_metrics_scraped_from_any_worker_count_the_requests_of_all(tmp_path: Path) -> None:
    """Two workers, each counting in its own file of the shared folder: every scrape, whichever
    worker answers it, gives the total of both (without the folder each would give its share)."""
    port, folder = _free_port(), tmp_path / "metrics"
    server = _serve(tmp_path, port, workers=2, PROMETHEUS_MULTIPROC_DIR=str(folder))
    deadline = time.monotonic() + 60
    try:
        assert _get(f"http://127.0.0.1:{port}/healthz", deadline) == 200  # the server is up
        with socket.create_connection(("127.0.0.1", port), timeout=30) as held:
            # One worker takes this connection and waits for its request: the next goes to the other.
            assert _get(f"http://127.0.0.1:{port}/healthz", deadline) == 200
            held.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert held.recv(100).startswith(b"HTTP/1.1 200")
        workers = sorted(folder.glob("counter_*.db"))
        each = [_healthz_counted([file]) for file in workers]
        assert len(each) == 2 and min(each) > 0  # both workers served some
        for _scrape in range(6):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:  # noqa: S310
                text = response.read().decode()
            counted = 'bridge_requests_total{method="GET",route="/healthz",status="2xx"}'
            assert f"{counted} {sum(each)}" in text.splitlines()
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
