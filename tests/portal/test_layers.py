"""The layers keep to their side (docs/style.md): services store what things are about and leave
addresses to the web layer, and a view never imports another blueprint's views; what two views
share lives in a module both import."""

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[2] / "portal"


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PORTAL.parent).with_suffix("").parts)


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring nodes: prose may quote a path."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def urls_built_in(source: str) -> list[str]:
    """What in a module builds an address: `url_for`, or a string (plain or f-string) that starts
    like a path inside the portal ("/people/…"). A lone "/" is left out: it splits and joins as
    often as it links, and `notify` takes a NoticeTarget, which mypy checks."""
    tree = ast.parse(source)
    skipped = _docstrings(tree) | {
        id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values
    }
    found = []
    for node in ast.walk(tree):
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if name == "url_for":
            found.append("url_for")
        elif isinstance(node, ast.alias) and node.name.rpartition(".")[2] == "url_for":
            found.append("import url_for")
        elif isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and str(head.value).startswith("/"):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            if node.value.startswith("/") and node.value[1:2].isalpha():
                found.append(repr(node.value))
    return found


def test_the_check_finds_every_way_a_service_could_build_an_address() -> None:
    built = urls_built_in(
        '"""A docstring may say /people/<id>."""\n'
        "from flask import url_for\n"
        "import flask\n"
        'a = f"/people/{person.id}"\n'
        'b = "/referrals/inbox"\n'
        'c = "/"\n'
        'd = flask.url_for("home.index")\n'
        'e = "a/b".split("/")\n'
    )
    assert sorted(built) == sorted(["import url_for", "f'/people/{person.id}'", "'/referrals/inbox'", "url_for"])


def test_no_service_builds_an_address() -> None:
    """Services (and the jobs that run them) store a NoticeTarget and an id; the web layer makes the
    link (portal/notifications/links.py), so a route can move without touching a service."""
    modules = [*PORTAL.rglob("services.py"), PORTAL / "jobs.py"]
    assert len(modules) > 10
    found = {_module(path): built for path in modules if (built := urls_built_in(path.read_text(encoding="utf-8")))}
    assert found == {}


def views_imported_by(source: str, module: str) -> set[str]:
    """The other views modules a module imports, however it spells the import."""
    package = module.rpartition(".")[0]
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            imported.add(base)
            imported |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in imported if name.endswith(".views") and name != module}


def test_the_check_finds_a_view_importing_another_however_spelt() -> None:
    source = (
        "import portal.a.views\n"
        "from portal.b.views import helper\n"
        "from portal.c import views as c_views\n"
        "from ..d.views import helper\n"
        "from ..e import views\n"
        "from . import views\n"  # itself
        "from portal.f.services import views_of\n"
        "def later():\n"
        "    from portal.g.views import helper\n"
    )
    found = views_imported_by(source, "portal.home.views")
    assert found == {f"portal.{name}.views" for name in "abcdeg"}


def test_no_view_imports_another_views_module() -> None:
    """A helper two views share lives in a module both import (services, forms, a small module of
    its own); only portal/__init__.py, which registers the blueprints, imports views."""
    offenders = {
        (_module(path), imported)
        for path in PORTAL.rglob("views.py")
        for imported in views_imported_by(path.read_text(encoding="utf-8"), _module(path))
    }
    assert offenders == set()
