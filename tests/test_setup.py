"""Set-up on a fresh machine: `make test` installs what it needs (or says the one command to run),
and two installs a month apart get the same packages."""

import ast
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# The benchmarks import each other by file name (bench_caseload, bench_matching), run as scripts.
FIRST_PARTY = {
    "portal",
    "matching",
    "tests",
    "migrations",
    "wsgi",
    "benchmarks",
    "bench_caseload",
    "bench_matching",
    "stand_in",
}


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for line in requirements:
        requirement = Requirement(line)
        (specifier,) = requirement.specifier  # exactly one, an exact pin
        assert specifier.operator == "==", f"{line} is not pinned exactly"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


RUNTIME = _pins(PYPROJECT["dependencies"])
DEV = _pins(PYPROJECT["optional-dependencies"]["dev"])


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _imported_distributions(*places: str) -> dict[str, set[str]]:
    """Which installed distributions the code in these places imports, and from which files."""
    providers = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    files = [path for place in places for path in sorted((ROOT / place).rglob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in FIRST_PARTY:
                    continue
                for distribution in providers.get(top, [f"<not installed: {top}>"]):
                    found.setdefault(canonicalize_name(distribution), set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_package_the_portal_imports_is_a_pinned_dependency() -> None:
    imported = _imported_distributions("portal", "matching", "migrations", "wsgi.py")
    missing = {name: sorted(files)[:3] for name, files in imported.items() if name not in RUNTIME}
    assert missing == {}, "imported but not in [project].dependencies"


def test_every_package_the_tests_import_is_a_pinned_dependency_or_dev_extra() -> None:
    imported = _imported_distributions("tests", "benchmarks")
    missing = {name: sorted(files)[:3] for name, files in imported.items() if name not in RUNTIME | DEV}
    assert missing == {}, "imported by tests or benchmarks but not in the dependencies or the dev extras"


def _tree(roots: list[str]) -> set[str]:
    """Every distribution these requirements pull in, with their extras, on this machine."""
    seen: set[str] = set()
    pending = [Requirement(line) for line in roots]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        for extra in requirement.extras or {""}:
            if f"{name}[{extra}]" in seen:
                continue
            seen.add(f"{name}[{extra}]")
            for line in metadata.requires(name) or []:
                needed = Requirement(line)
                if needed.marker is None or needed.marker.evaluate({"extra": extra}):
                    pending.append(needed)
    return {entry.split("[")[0] for entry in seen}


def test_the_lock_pins_the_whole_tree_at_the_versions_pyproject_asks_for() -> None:
    lock = _lock()
    tree = _tree(PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"])
    assert sorted(tree - set(lock)) == [], "in the installed tree but not in requirements.lock: run make lock"
    differing = {
        name: (version, lock.get(name)) for name, version in (RUNTIME | DEV).items() if lock.get(name) != version
    }
    assert differing == {}, "pyproject.toml and requirements.lock disagree: run make lock"


def test_what_is_installed_is_what_the_lock_says() -> None:
    """make installs with the lock as constraints: a stray upgrade by hand shows here."""
    lock = _lock()
    tree = _tree(PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"])
    installed = {name: metadata.version(name) for name in tree}
    assert {name: v for name, v in installed.items() if lock.get(name) != v} == {}


# --- The browser's system packages --------------------------------------------------------------


def _fake_machine(tmp_path: Path, *, uid: int, sudo_works: bool, apt_works: bool, fonts: bool) -> Path:
    """A PATH whose id, sudo, apt-get and fc-list stand in for a machine's; apt-get logs its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "id": f"echo {uid}",
        "sudo": 'if [ "$1" = -n ] && [ "$2" = true ]; then exit {0}; fi; shift; exec "$@"'.replace(
            "{0}", "0" if sudo_works else "1"
        ),
        "apt-get": f'echo "$@" >> {tmp_path}/apt-calls; exit {0 if apt_works else 100}',
        "fc-list": "echo 'NotoSansCJK-Regular.ttc: Noto Sans CJK SC'" if fonts else "true",
    }
    for name, body in scripts.items():
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return bin_dir


def _make_system_packages(bin_dir: Path, chromium: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "system-packages", f"CHROMIUM={chromium}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "apt-calls"
    return log.read_text().splitlines() if log.exists() else []


ONE_COMMAND = "sudo apt-get install -y chromium fonts-noto-cjk"


def test_make_test_stops_at_once_with_the_command_to_run_when_it_may_not_install(tmp_path: Path) -> None:
    bin_dir = _fake_machine(tmp_path, uid=1000, sudo_works=False, apt_works=True, fonts=False)
    result = _make_system_packages(bin_dir, chromium="")
    assert result.returncode != 0
    assert ONE_COMMAND in result.stderr
    assert _apt_calls(tmp_path) == []


def test_make_test_installs_chromium_and_fonts_as_root(tmp_path: Path) -> None:
    bin_dir = _fake_machine(tmp_path, uid=0, sudo_works=False, apt_works=True, fonts=False)
    result = _make_system_packages(bin_dir, chromium="")
    assert result.returncode == 0, result.stderr
    assert any(re.search(r"install .*chromium fonts-noto-cjk", call) for call in _apt_calls(tmp_path))


def test_make_test_uses_sudo_when_it_needs_no_password(tmp_path: Path) -> None:
    bin_dir = _fake_machine(tmp_path, uid=1000, sudo_works=True, apt_works=True, fonts=False)
    assert _make_system_packages(bin_dir, chromium="").returncode == 0
    assert any("chromium" in call for call in _apt_calls(tmp_path))


def test_make_test_says_the_command_when_installing_fails_offline(tmp_path: Path) -> None:
    bin_dir = _fake_machine(tmp_path, uid=0, sudo_works=False, apt_works=False, fonts=False)
    result = _make_system_packages(bin_dir, chromium="")
    assert result.returncode != 0
    assert ONE_COMMAND in result.stderr


@pytest.mark.parametrize("fonts", [True, False])
def test_make_test_installs_nothing_when_chromium_and_fonts_are_there(tmp_path: Path, fonts: bool) -> None:
    bin_dir = _fake_machine(tmp_path, uid=0, sudo_works=False, apt_works=True, fonts=fonts)
    result = _make_system_packages(bin_dir, chromium="/usr/bin/chromium")
    assert result.returncode == 0
    assert (_apt_calls(tmp_path) == []) is fonts
