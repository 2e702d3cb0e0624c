"""An index written as files and mapped back ranks exactly as the one written, follows changes as
any index does, and refuses files it cannot trust."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from matching import Need, Offer, OfferIndex, Person, mapped
from matching.features import TextFeatures, text_features
from tests.matching.test_ranking import KITCHEN_NEED, cook, mixed_catalogue

NEEDS = (
    KITCHEN_NEED,
    Need("n-zh", "employment", "想找厨房的工作，做过厨师"),
    Need("n-h", "housing", "需要住处"),
)


def people() -> list[tuple[Person, Need]]:
    return [(cook(need, **fields), need) for need in NEEDS for fields in ({}, {"languages": ("zh",)})]


def written(index: OfferIndex, folder: Path) -> OfferIndex:
    folder.mkdir()
    mapped.save(index, folder)
    return mapped.load(folder)


def changed(offers: list[Offer]) -> tuple[list[tuple[Offer, TextFeatures | None]], list[str]]:
    renamed = Offer("guard", "employment", "Kitchen porter", "Washing up in a restaurant kitchen")
    return [(replace(offers[0], status="paused"), None), (renamed, text_features([renamed])[0])], ["course"]


def test_a_mapped_index_ranks_as_the_one_written(tmp_path: Path) -> None:
    fitted = OfferIndex().fit(mixed_catalogue())
    loaded = written(fitted, tmp_path / "index")
    for person, need in people():
        assert loaded.rank(person, need, near_misses=3) == fitted.rank(person, need, near_misses=3)
        assert loaded.eligible_ids(person, need.category) == fitted.eligible_ids(person, need.category)


def test_a_mapped_index_follows_changes_and_writes_them_again(tmp_path: Path) -> None:
    offers = mixed_catalogue()
    fitted = OfferIndex().fit(offers)
    updates, removed = changed(offers)
    expected = fitted.updated(updates, removed)
    loaded = written(fitted, tmp_path / "index")
    followed = loaded.updated(updates, removed)
    assert followed.appended_rows == 2 and loaded.appended_rows == 0
    again = written(followed, tmp_path / "again")
    assert again.appended_rows == 0 and len(again.offers_) == len(offers) - 1
    for person, need in people():
        assert followed.rank(person, need, near_misses=3) == expected.rank(person, need, near_misses=3)
        assert again.rank(person, need, near_misses=3) == expected.rank(person, need, near_misses=3)


def test_a_mapped_index_outlives_its_files(tmp_path: Path) -> None:
    """A newer generation replaces the files; the workers that mapped them rank and write on."""
    offers = mixed_catalogue()
    loaded = written(OfferIndex().fit(offers), tmp_path / "index")
    before = loaded.rank(cook(), KITCHEN_NEED)
    shutil.rmtree(tmp_path / "index")
    assert loaded.rank(cook(), KITCHEN_NEED) == before
    assert written(loaded, tmp_path / "copy").rank(cook(), KITCHEN_NEED) == before
    updates, removed = changed(offers)
    assert written(loaded.updated(updates, removed), tmp_path / "again").rank(cook(), KITCHEN_NEED).offer_ids


def test_files_of_other_features_or_cut_short_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    written(OfferIndex().fit(mixed_catalogue()), folder)
    meta = json.loads((folder / mapped.META).read_text())
    (folder / mapped.META).write_text(json.dumps({**meta, "scheme": "another"}))
    with pytest.raises(ValueError, match="other features"):
        mapped.load(folder)
    (folder / mapped.META).write_text(json.dumps(meta))
    ids = folder / "ids.npy"
    ids.write_bytes(ids.read_bytes()[:-40])
    with pytest.raises(ValueError):
        mapped.load(folder)
