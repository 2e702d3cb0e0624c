"""Snapshots of the offer index, and the files through which the processes of one machine share them.

A snapshot is written as a generation: a folder made under a temporary name, then renamed into
place, so a reader sees a whole generation or none. Every worker maps the newest one (its pages are
shared through the page cache) and applies the offers changed since it was written; the generation
a worker mapped stays readable when a newer one replaces it, since a mapping holds the file even
after it is removed. One writer at a time, under a file lock; a process that finds the lock taken
leaves the writing to its holder.
"""

import fcntl
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

import matching
from matching import mapped

log = logging.getLogger(__name__)

GENERATION = "generation-"
WRITING = ".writing-"
LOCK = "write.lock"
PORTAL_META = "snapshot.json"
# Generations kept besides the newest: a worker that listed the folder just before a write can
# still open the one it chose.
KEPT_GENERATIONS = 1


@dataclass(frozen=True)
class Snapshot:
    """One state of the offer index, never changed once made, and what it was made from."""

    index: matching.OfferIndex
    synced_at: datetime
    # offer id → (version, digest of its features): what a catch-up compares with
    versions: Mapping[str, tuple[int, str]]
    assembled_size: int


@contextmanager
def _writer(folder: Path) -> Iterator[bool]:
    """Whether this process holds the write lock of the folder (never waits for it)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def generations(folder: Path) -> list[Path]:
    """The complete generations in the folder, oldest first (their names begin with when they were synced)."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.name.startswith(GENERATION))


def write(folder: Path, snapshot: Snapshot) -> Path | None:
    """Write the snapshot as the newest generation and remove the older ones; None when another
    process is writing one now."""
    with _writer(folder) as mine:
        if not mine:
            return None
        # Left by a writer that died: no one else writes while the lock is held.
        for path in folder.iterdir():
            if path.name.startswith(WRITING):
                shutil.rmtree(path, ignore_errors=True)
        index = snapshot.index.compacted()
        writing = Path(tempfile.mkdtemp(prefix=WRITING, dir=folder))
        try:
            mapped.save(index, writing)
            ids = [str(offer_id) for offer_id in index.ids_]
            np.save(writing / "versions.npy", np.array([snapshot.versions[i][0] for i in ids], dtype=np.int64))
            np.save(writing / "digests.npy", np.array([snapshot.versions[i][1] for i in ids], dtype="S64"))
            meta = {"synced_at": snapshot.synced_at.isoformat(), "assembled_size": snapshot.assembled_size}
            (writing / PORTAL_META).write_text(json.dumps(meta))
            name = f"{GENERATION}{snapshot.synced_at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
            os.rename(writing, folder / name)
        except BaseException:
            shutil.rmtree(writing, ignore_errors=True)
            raise
        for old in generations(folder)[: -1 - KEPT_GENERATIONS]:
            shutil.rmtree(old, ignore_errors=True)
        return folder / name


def read(generation: Path) -> Snapshot:
    """The snapshot of one generation, mapped.

    :raise ValueError: the files are of another scheme or do not fit together (KeyError,
        TypeError, EOFError: a description or header not as written).
    :raise OSError: a file is missing (removed meanwhile) or unreadable.
    """
    index = mapped.load(generation)
    meta = json.loads((generation / PORTAL_META).read_text())
    versions = np.load(generation / "versions.npy", allow_pickle=False)
    digests = np.load(generation / "digests.npy", allow_pickle=False)
    if not len(versions) == len(digests) == len(index.ids_):
        raise ValueError("the snapshot's versions do not describe its offers")
    known = {
        str(offer_id): (int(version), digest.decode())
        for offer_id, version, digest in zip(index.ids_, versions, digests, strict=True)
    }
    return Snapshot(index, datetime.fromisoformat(meta["synced_at"]), known, int(meta["assembled_size"]))


def newest(folder: Path) -> Snapshot | None:
    """The newest generation that reads whole; None when there is none. A generation that does
    not read (another feature scheme, cut short) is skipped, and replaced by the next writer."""
    for generation in reversed(generations(folder)):
        try:
            return read(generation)
        except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
            log.warning("offer index files %s not used: %s", generation, exc)
    return None
