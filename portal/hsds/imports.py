"""An admin's HSDS import from the page (issue 17): the same import as `flask hsds import`
(portal/hsds/importing.py), uploaded or named by an API's address, checked, then applied once an
admin confirms the report.

A file of ten thousand services takes a minute or more to check, longer than a request may last, so
the work runs in a thread of its own, with its own session; the upload is kept under IMPORT_DIR
until the import ends. The row (DirectoryImport) carries the thread's progress, so that whichever
worker answers the page's polling can show it. A thread dies with its process: a run whose row has
not moved for STALLED_AFTER is shown as interrupted and may be started again. Applying again is safe:
an import is keyed by the source's ids, so what was written already is found unchanged.
"""

import shutil
import threading
import time
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlmodel import Session, col, select
from werkzeug.utils import secure_filename

from portal.clock import utcnow
from portal.db import get_engine
from portal.hsds import importing, reading
from portal.hsds.reading import Problem, Report
from portal.models import DirectoryImport, ImportState, User

# A run whose row has not moved for this long belongs to a process that stopped.
STALLED_AFTER = timedelta(minutes=5)
RUNNING = frozenset({ImportState.WAITING, ImportState.CHECKING, ImportState.APPLYING})
# The states in which an import keeps its upload and token (an applied or refused one has ended).
KEEPING = RUNNING | {ImportState.CHECKED, ImportState.FAILED}
# The report keeps this many problems (and notes): enough to correct a file by, not a copy of it.
MAX_PROBLEMS_KEPT = 1000
RECENT = 20
# An upload (or an API's token) waits this long for its confirmation, or a run that failed or was
# interrupted for its restart; then run-due-jobs deletes it: another directory's data, its contact
# persons' names and phones among them, is not kept on a server for no purpose.
KEPT_FOR = timedelta(days=7)
# Seconds between two writes of the progress: the polling asks every second.
PROGRESS_EVERY_SECONDS = 0.5
SUFFIXES = (".zip", ".json")


class NotReady(ValueError):
    """The import is not in a state that allows what was asked (confirmed twice, still running)."""


class TooLarge(ValueError):
    """The upload is over reading.MAX_FILE_BYTES."""


def import_dir() -> Path:
    return Path(current_app.config.get("IMPORT_DIR") or Path(current_app.instance_path) / "hsds-imports")


def recent(session: Session) -> list[DirectoryImport]:
    query = select(DirectoryImport).order_by(col(DirectoryImport.created_at).desc()).limit(RECENT)
    return list(session.exec(query))


def find(session: Session, import_id: uuid.UUID) -> DirectoryImport | None:
    return session.get(DirectoryImport, import_id)


def interrupted(row: DirectoryImport) -> bool:
    """A run its process stopped in: still marked running, unchanged for minutes."""
    return row.state in RUNNING and utcnow() - row.updated_at > STALLED_AFTER


def create(
    session: Session,
    user: User,
    source: str,
    file_name: str = "",
    stream: IO[bytes] | None = None,
    token: str | None = None,
) -> DirectoryImport:
    """A new import of an upload (its stream copied under IMPORT_DIR, refused past the size limit
    with nothing kept) or of an API's base URL (`source`, with no stream, and the `token` that API
    asks for, if any: kept sealed until the import ends, as the check and the apply both read)."""
    row = DirectoryImport(created_by_id=user.id, source=source[:300], token=token or None)
    if stream is not None:
        folder = import_dir() / str(row.id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name
        try:
            _copy(stream, path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        row.file_path = str(path)
    session.add(row)
    session.commit()
    return row


def _copy(stream: IO[bytes], path: Path) -> None:
    written = 0
    with path.open("wb") as file:
        while chunk := stream.read(1024 * 1024):
            written += len(chunk)
            if written > reading.MAX_FILE_BYTES:
                raise TooLarge(written)
            file.write(chunk)


def _locked(session: Session, import_id: uuid.UUID) -> DirectoryImport:
    """The row, locked until the commit: of two admins confirming at once, the second waits, then
    finds it applying."""
    row = session.exec(select(DirectoryImport).where(DirectoryImport.id == import_id).with_for_update()).first()
    if row is None:
        raise NotReady("no such import")
    return row


def _begin(session: Session, row: DirectoryImport, state: ImportState) -> None:
    row.state = state
    row.phase, row.done, row.total = "", 0, 0
    row.updated_at = utcnow()
    session.commit()


def confirm(session: Session, import_id: uuid.UUID) -> DirectoryImport:
    """Mark a checked import without problems as applying (once); the caller starts the thread."""
    row = _locked(session, import_id)
    if row.state != ImportState.CHECKED or row.report.get("problem_count", 1):
        session.rollback()
        raise NotReady(row.state)
    _begin(session, row, ImportState.APPLYING)
    return row


def restart(session: Session, import_id: uuid.UUID) -> tuple[DirectoryImport, str]:
    """Start an interrupted or failed run again: an apply that was under way is applied again, any
    other is checked again. Returns the row and what to run ("check" or "apply")."""
    row = _locked(session, import_id)
    if not (interrupted(row) or row.state == ImportState.FAILED) or not (row.file_path or _is_url(row.source)):
        session.rollback()
        raise NotReady(row.state)
    action = "apply" if row.state == ImportState.APPLYING else "check"
    _begin(session, row, ImportState.APPLYING if action == "apply" else ImportState.WAITING)
    return row, action


def expire_unconfirmed(session: Session, now: datetime) -> int:
    """Delete the uploads and tokens of imports left KEPT_FOR without a confirmation or a restart
    (checked, failed or interrupted): run-due-jobs' step. Returns how many expired."""
    stale = select(DirectoryImport).where(
        col(DirectoryImport.state).in_(KEEPING), col(DirectoryImport.updated_at) < now - KEPT_FOR
    )
    rows = list(session.exec(stale.with_for_update()))
    for row in rows:
        _remove_upload(row)
        row.file_path, row.token, row.phase = "", None, ""
        row.state = ImportState.EXPIRED
        row.updated_at = now
    session.commit()
    return len(rows)


def _remove_upload(row: DirectoryImport) -> None:
    """The import's own folder (named by its id) and the upload in it."""
    path = Path(row.file_path) if row.file_path else None
    if path is not None and path.parent.name == str(row.id):
        shutil.rmtree(path.parent, ignore_errors=True)


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def start(import_id: uuid.UUID, action: str, language: str, actor_id: uuid.UUID | None) -> None:
    """Run the check or the apply in a thread; the request answers at once."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=_run, args=(app, import_id, action, language, actor_id), name=f"hsds-import-{import_id}", daemon=True
    )
    thread.start()


# --- The thread ----------------------------------------------------------------------------------


class _Progress:
    """Writes how far the run has got on the row, in a short transaction of its own, at most twice a
    second."""

    def __init__(self, app: Flask, import_id: uuid.UUID) -> None:
        self.app = app
        self.import_id = import_id
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_SECONDS and done < total:
            return
        self.last = now
        _update(self.app, self.import_id, phase=phase, done=done, total=total)


def _update(app: Flask, import_id: uuid.UUID, **values: Any) -> None:
    with Session(get_engine(app)) as session:
        statement = sa.update(DirectoryImport).where(col(DirectoryImport.id) == import_id)
        session.execute(statement.values(updated_at=utcnow(), **values))
        session.commit()


def _run(app: Flask, import_id: uuid.UUID, action: str, language: str, actor_id: uuid.UUID | None) -> None:
    with app.app_context():
        try:
            if action == "apply":
                _apply(app, import_id, language, actor_id)
            else:
                _check(app, import_id, language)
        except Exception:
            app.logger.exception("directory import %s failed", import_id)
            _update(app, import_id, state=ImportState.FAILED, phase="")


def _source(app: Flask, import_id: uuid.UUID, progress: _Progress) -> reading.Source:
    with Session(get_engine(app)) as session:
        row = session.get(DirectoryImport, import_id)
        location, token = ((row.file_path or row.source), row.token) if row else ("", None)
    progress("reading", 0, 0)
    return reading.read(location, token=token, progress=progress)


def _check(app: Flask, import_id: uuid.UUID, language: str) -> None:
    _update(app, import_id, state=ImportState.CHECKING)
    progress = _Progress(app, import_id)
    source = _source(app, import_id, progress)
    # A dry run only reads: on SQLite it then never holds the write lock the progress needs.
    with Session(get_engine(app).execution_options(read_only=True)) as session:
        report = importing.dry_run(session, source, progress, language).report
    _finish(app, import_id, ImportState.CHECKED if report.ok else ImportState.REFUSED, report)


def _apply(app: Flask, import_id: uuid.UUID, language: str, actor_id: uuid.UUID | None) -> None:
    progress = _Progress(app, import_id)
    source = _source(app, import_id, progress)
    engine = get_engine(app)
    with Session(engine, expire_on_commit=False) as session:
        checked = importing.dry_run(session, source, progress, language)
        if not checked.report.ok:  # the stored file cannot change; only a failed read can do this
            session.rollback()
            _finish(app, import_id, ImportState.REFUSED, checked.report)
            return
        actor = session.get(User, actor_id) if actor_id else None
        # SQLite has one writer: the apply's transaction holds it until its commit, so the progress
        # of the writing itself is not shown there (the check's is).
        writing = progress if engine.dialect.name != "sqlite" else None
        report = importing.apply(session, checked, writing, actor)
    _finish(app, import_id, ImportState.APPLIED, report)


def _finish(app: Flask, import_id: uuid.UUID, state: ImportState, report: Report) -> None:
    """The run's outcome and report; an ended import (applied, or refused: the corrected file is
    uploaded anew) keeps no copy of the other directory's data, nor its token."""
    values: dict[str, Any] = {"state": state, "phase": "", "report": report_document(report)}
    if state in (ImportState.APPLIED, ImportState.REFUSED):
        with Session(get_engine(app)) as session:
            row = session.get(DirectoryImport, import_id)
            if row is not None:
                _remove_upload(row)
        values["file_path"], values["token"] = "", None
    _update(app, import_id, **values)


# --- The report, as the row keeps it and the page shows it ------------------------------------------


def _problem_document(item: Problem) -> dict[str, Any]:
    params = {key: value if isinstance(value, int | float) else str(value) for key, value in item.params}
    return {"file": item.file, "row": item.row, "field": item.field, "code": item.code, "params": params}


def report_document(report: Report) -> dict[str, Any]:
    """The report as JSON: the first MAX_PROBLEMS_KEPT problems by file and row, and how many in all."""
    problems = [item for items in report.by_file().values() for item in items]
    return {
        "source": report.source,
        "services_read": report.services_read,
        "applied": report.applied,
        "problem_count": len(problems),
        "problems": [_problem_document(item) for item in problems[:MAX_PROBLEMS_KEPT]],
        "warnings": [_problem_document(item) for item in report.warnings[:MAX_PROBLEMS_KEPT]],
        "unmapped_terms": [[*label, count] for label, count in sorted(report.unmapped_terms.items())],
        "organizations": asdict(report.organizations),
        "offers": asdict(report.offers),
    }


def _problem(document: dict[str, Any]) -> Problem:
    params = tuple(document.get("params", {}).items())
    return Problem(document["file"], document["row"], document["field"], document["code"], params)


def problems_by_file(document: dict[str, Any]) -> dict[str, list[Problem]]:
    """The kept problems, file by file, as Problems (whose `message` is in the reader's language)."""
    found: dict[str, list[Problem]] = {}
    for item in document.get("problems", []):
        found.setdefault(item["file"], []).append(_problem(item))
    return found


def warnings(document: dict[str, Any]) -> list[Problem]:
    return [_problem(item) for item in document.get("warnings", [])]


def file_name(name: str) -> str | None:
    """A safe name to keep an upload under, or None when it is neither a .zip nor a .json file."""
    safe = secure_filename(name) or ""
    if not safe.lower().endswith(SUFFIXES):
        return None
    return safe
