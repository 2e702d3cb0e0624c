"""The matches index shared through files: a new worker maps what another wrote instead of reading
every offer's features, the database still decides what is ranked, and files that cannot be trusted
are written again rather than used."""

import json
import multiprocessing
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlmodel import Session, select

from matching import mapped
from portal.db import get_engine
from portal.matches import services, snapshots
from portal.models import Need, Offer, Role, User, utcnow
from portal.offers import services as offer_services
from portal.offers.forms import OfferForm
from tests.portal.test_matches import TODAY, a_cook, a_kitchen_need, job, post, ranked_titles


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "offer-index"


@pytest.fixture
def kitchen_need(session: Session, make_user: Callable[..., User]) -> Need:
    return a_kitchen_need(session, a_cook(session, make_user))


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL the app sends meanwhile."""
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    engine = get_engine(app)
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)


def catalogue(session: Session, employer: User) -> Offer:
    """A kitchen job and a guard's job; the guard's is returned."""
    post(session, employer, title="后厨帮工", description="餐馆后厨切配、备料。")
    return post(session, employer, title="小区保安", description="负责小区门岗和夜间巡逻。")


def test_a_new_worker_ranks_from_the_files_without_reading_every_offers_features(
    app: Flask, session: Session, make_user: Callable[..., User], kitchen_need: Need, folder: Path
) -> None:
    catalogue(session, make_user(Role.PROVIDER))
    first = ranked_titles(session, services.LiveIndex(folder), kitchen_need)
    assert snapshots.generations(folder)

    with statements(app) as sent:
        assert ranked_titles(session, services.LiveIndex(folder), kitchen_need) == first == ["后厨帮工", "小区保安"]
    assert sent and not [statement for statement in sent if "offer_features" in statement]


def test_an_offer_edited_after_the_files_were_written_is_ranked_by_its_new_text(
    session: Session, make_user: Callable[..., User], kitchen_need: Need, folder: Path
) -> None:
    employer = make_user(Role.PROVIDER)
    guard = catalogue(session, employer)
    ranked_titles(session, services.LiveIndex(folder), kitchen_need)
    edit = OfferForm.model_validate(job(title="食堂厨师", description="单位食堂炒菜、切配。", version=guard.version))
    offer_services.update_offer(session, employer, guard, edit)

    new_worker = services.LiveIndex(folder)
    ranked = services.rank_need(session, new_worker, kitchen_need, today=TODAY).ranked
    assert sorted(match.offer.title for match in ranked) == ["后厨帮工", "食堂厨师"]
    canteen = next(match for match in ranked if match.offer.title == "食堂厨师")
    assert "shared_meaning" in [reason.code for reason in canteen.reasons]


def _other_scheme(generation: Path) -> None:
    meta = json.loads((generation / mapped.META).read_text())
    (generation / mapped.META).write_text(json.dumps({**meta, "scheme": "char_wb-2-4-hash20-v0"}))


def _cut_short(generation: Path) -> None:
    data = generation / "wording_data.npy"
    data.write_bytes(data.read_bytes()[:-8])


def _versions_missing(generation: Path) -> None:
    (generation / "versions.npy").unlink()


def _garbled(generation: Path) -> None:
    (generation / "ids.npy").write_bytes(b"\x93NUMPY garbled")
    (generation / mapped.META).write_text("[")


@pytest.mark.parametrize("damage", [_other_scheme, _cut_short, _versions_missing, _garbled])
def test_files_of_another_scheme_or_cut_short_are_ignored_and_written_again(
    session: Session,
    make_user: Callable[..., User],
    kitchen_need: Need,
    folder: Path,
    damage: Callable[[Path], None],
) -> None:
    catalogue(session, make_user(Role.PROVIDER))
    ranked_titles(session, services.LiveIndex(folder), kitchen_need)
    (written,) = snapshots.generations(folder)
    damage(written)

    assert ranked_titles(session, services.LiveIndex(folder), kitchen_need) == ["后厨帮工", "小区保安"]
    newest = snapshots.generations(folder)[-1]
    assert newest != written
    assert sorted(snapshots.read(newest).versions) == sorted(
        str(offer_id) for offer_id in session.exec(select(Offer.id))
    )


def test_files_that_disagree_with_the_database_are_not_used(
    session: Session, make_user: Callable[..., User], kitchen_need: Need, folder: Path
) -> None:
    """Files from before a restore, say: written "later" than the offers, yet without one of them."""
    employer = make_user(Role.PROVIDER)
    post(session, employer, title="小区保安", description="负责小区门岗和夜间巡逻。")
    ranked_titles(session, services.LiveIndex(folder), kitchen_need)
    (written,) = snapshots.generations(folder)
    meta = json.loads((written / snapshots.PORTAL_META).read_text())
    later = (utcnow() + timedelta(days=1)).isoformat()
    (written / snapshots.PORTAL_META).write_text(json.dumps({**meta, "synced_at": later}))
    post(session, employer, title="后厨帮工", description="餐馆后厨切配、备料。")

    assert ranked_titles(session, services.LiveIndex(folder), kitchen_need) == ["后厨帮工", "小区保安"]


def test_files_naming_offers_the_database_has_not_are_never_shown(
    session: Session, make_user: Callable[..., User], kitchen_need: Need, folder: Path
) -> None:
    """As many offers at the same versions, yet not the same offers (a restored database, say)."""
    catalogue(session, make_user(Role.PROVIDER))
    ranked_titles(session, services.LiveIndex(folder), kitchen_need)
    (written,) = snapshots.generations(folder)
    meta = json.loads((written / snapshots.PORTAL_META).read_text())
    later = (utcnow() + timedelta(days=1)).isoformat()
    (written / snapshots.PORTAL_META).write_text(json.dumps({**meta, "synced_at": later}))
    ids = np.load(written / "ids.npy")
    ids[0] = str(uuid.uuid4())
    np.save(written / "ids.npy", ids)

    assert ranked_titles(session, services.LiveIndex(folder), kitchen_need) == ["后厨帮工", "小区保安"]
    assert snapshots.generations(folder)[-1] != written


def _write(folder: Path, snapshot: snapshots.Snapshot, ready: Any) -> None:
    ready.wait()
    snapshots.write(folder, snapshot)


def test_two_processes_writing_at_once_leave_one_good_generation(
    session: Session, make_user: Callable[..., User], kitchen_need: Need, folder: Path
) -> None:
    catalogue(session, make_user(Role.PROVIDER))
    live = services.LiveIndex()
    expected = ranked_titles(session, live, kitchen_need)
    assert live.snapshot is not None
    fork = multiprocessing.get_context("fork")
    ready = fork.Barrier(2)
    writers = [fork.Process(target=_write, args=(folder, live.snapshot, ready)) for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert [writer.exitcode for writer in writers] == [0, 0]

    assert not [path for path in folder.iterdir() if path.name.startswith(snapshots.WRITING)]
    assert snapshots.newest(folder) is not None
    assert ranked_titles(session, services.LiveIndex(folder), kitchen_need) == expected


def test_a_worker_whose_changes_pass_the_bound_writes_the_files_again(
    session: Session,
    make_user: Callable[..., User],
    kitchen_need: Need,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "REWRITE_AFTER", 1)
    employer = make_user(Role.PROVIDER)
    guard = catalogue(session, employer)
    live = services.LiveIndex(folder)
    ranked_titles(session, live, kitchen_need)
    (written,) = snapshots.generations(folder)
    edit = OfferForm.model_validate(job(title="食堂厨师", description="单位食堂炒菜、切配。", version=guard.version))
    offer_services.update_offer(session, employer, guard, edit)
    post(session, employer, title="夜班保安", description="夜间巡逻。")

    assert sorted(ranked_titles(session, live, kitchen_need)[:2]) == ["后厨帮工", "食堂厨师"]
    assert snapshots.generations(folder)[-1] != written
    assert live.index is not None and live.index.appended_rows == 0


def test_run_due_jobs_writes_the_files_a_new_worker_maps(
    app: Flask, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    catalogue(session, make_user(Role.PROVIDER))
    result = app.test_cli_runner().invoke(args=["run-due-jobs"])
    assert "offers in the matches index 2" in result.output
    folder = services.live_index(app).folder
    assert folder is not None and snapshots.generations(folder)

    with statements(app) as sent:
        assert ranked_titles(session, services.LiveIndex(folder), kitchen_need) == ["后厨帮工", "小区保安"]
    assert not [statement for statement in sent if "offer_features" in statement]
