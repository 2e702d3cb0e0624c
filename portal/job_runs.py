"""When each periodic command last did all its work, kept in the database where every server and
the metrics see it (a log line on one machine is not enough to notice that cron stopped)."""

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from portal.models import JobRun


def record_success(session: Session, name: str, at: datetime) -> None:
    """Write (or move forward) the command's last success, and commit; two commands finishing at once
    both succeed, the later time kept."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = JobRun.__table__  # type: ignore[attr-defined]
    statement = insert(table).values(name=name, last_success_at=at)
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={"last_success_at": statement.excluded.last_success_at},
        where=table.c.last_success_at < statement.excluded.last_success_at,
    )
    session.execute(statement)
    session.commit()


def last_successes(session: Session) -> dict[str, datetime]:
    return {run.name: run.last_success_at for run in session.exec(select(JobRun)).all()}
