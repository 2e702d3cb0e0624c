"""An offer index written as files and mapped back: every process that maps the same files shares
their pages (the operating system's page cache) instead of holding a copy, and a ranking reads
only the pages it touches (the n-grams of one need, the offers' field arrays).

The files are plain numpy arrays (`.npy`) and one JSON file naming them, their shapes and the
feature scheme; `load` refuses files of another scheme or shape rather than rank with them. The
offers themselves are kept as JSON records, one an offer, turned into `Offer` objects only for
the few offers a ranking explains.
"""

import json
import mmap
import os
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from matching import semantic
from matching.features import N_FEATURES, SCHEME
from matching.hours import OFFER_HOURS
from matching.index import COLUMN_TYPES, CONCEPT_NAMES, OfferIndex, _CodeSets, _Columns
from matching.model import Eligibility, Location, Offer
from matching.ranker import RANKER

FORMAT = "bridge-offer-index-1"
META = "index.json"
# Sparse matrices as their three arrays; 32-bit positions, so scipy uses them as they are mapped.
SPARSE = ("wording", "concepts", "skills")
INDEX_TYPE = np.int32


def _record(offer: Offer) -> list[Any]:
    place = offer.location
    rules = offer.eligibility
    return [
        offer.id,
        offer.category,
        offer.title,
        offer.description,
        offer.provider,
        list(offer.skills),
        list(offer.languages),
        None if place is None else [place.lat, place.lon, place.area],
        offer.remote,
        list(offer.schedule),
        offer.capacity,
        offer.status,
        rules.min_age,
        rules.max_age,
        list(rules.genders),
        rules.min_months_in_recovery,
    ]


def _offer(record: list[Any]) -> Offer:
    (id_, category, title, description, provider, skills, languages, place, remote, schedule, capacity, status) = (
        record[:12]
    )
    min_age, max_age, genders, min_months = record[12:]
    return Offer(
        id=id_,
        category=category,
        title=title,
        description=description,
        provider=provider,
        skills=tuple(skills),
        languages=tuple(languages),
        location=None if place is None else Location(*place),
        remote=remote,
        schedule=tuple(schedule),
        capacity=capacity,
        status=status,
        eligibility=Eligibility(min_age, max_age, tuple(genders), min_months),
    )


class StoredRows:
    """A sparse matrix in .npy files, read a few rows at a time, never mapped: a need's n-grams pick
    a few hundred scattered rows of the offers' wording, and mapping them would bring whole large
    pages of the files into the process (most of them, at city size) where reading takes only the
    bytes of those rows. What is read still comes from the page cache every process shares."""

    def __init__(self, folder: Path, name: str, shape: tuple[int, int]) -> None:
        self.name, self.shape = name, shape
        self._parts: dict[str, tuple[int, int, np.dtype[Any]]] = {}
        for part in ("indptr", "indices", "data"):
            path = folder / f"{name}_{part}.npy"
            with open(path, "rb") as file:
                version = np.lib.format.read_magic(file)
                header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                _shape, _fortran, kind = header(file)
                offset = file.tell()
            descriptor = os.open(path, os.O_RDONLY)
            weakref.finalize(self, os.close, descriptor)
            self._parts[part] = (descriptor, offset, np.dtype(kind))

    def _read(self, part: str, start: int, stop: int) -> npt.NDArray[Any]:
        descriptor, offset, kind = self._parts[part]
        read = os.pread(descriptor, (stop - start) * kind.itemsize, offset + start * kind.itemsize)
        if len(read) != (stop - start) * kind.itemsize:
            raise ValueError(f"the index file {self.name}_{part} is cut short")
        return np.frombuffer(read, dtype=kind)

    def __getitem__(self, rows: npt.NDArray[np.integer[Any]]) -> sp.csr_matrix:
        """These rows, in this order, as a matrix of their own."""
        bounds = [self._read("indptr", int(row), int(row) + 2) for row in rows]
        lengths = np.array([int(stop - start) for start, stop in bounds], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(INDEX_TYPE)
        pieces = [(int(start), int(stop)) for start, stop in bounds if stop > start]
        indices = [self._read("indices", start, stop) for start, stop in pieces]
        data = [self._read("data", start, stop) for start, stop in pieces]
        return sp.csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0, np.float32),
                np.concatenate(indices) if indices else np.zeros(0, INDEX_TYPE),
                indptr,
            ),
            shape=(len(bounds), self.shape[1]),
        )

    def _whole(self, part: str) -> npt.NDArray[Any]:
        # From the descriptor opened with the others: the files may have been removed since (a
        # newer generation replaced them), and what is open stays readable.
        descriptor, offset, kind = self._parts[part]
        mapping = mmap.mmap(descriptor, 0, access=mmap.ACCESS_READ)
        return np.frombuffer(mapping, dtype=kind, offset=offset)

    def tocsr(self) -> sp.csr_matrix:
        """The whole matrix, mapped (to write it again, say)."""
        parts = (self._whole(part) for part in ("data", "indices", "indptr"))
        return sp.csr_matrix(tuple(parts), shape=self.shape, copy=False)


class StoredOffers(Sequence[Offer]):
    """The offers of a mapped index, each decoded from its record when asked for."""

    def __init__(self, records: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]) -> None:
        self.records = records
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, i: int) -> Offer: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Offer]: ...

    def __getitem__(self, i: int | slice) -> Offer | Sequence[Offer]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        return _offer(json.loads(self.records[self.offsets[i] : self.offsets[i + 1]].tobytes()))

    def __iter__(self) -> Iterator[Offer]:
        return (self[i] for i in range(len(self)))


def _arrays(index: OfferIndex) -> dict[str, npt.NDArray[Any]]:
    encoded = [json.dumps(_record(offer), ensure_ascii=False).encode() for offer in index.offers_]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(record) for record in encoded])
    arrays: dict[str, npt.NDArray[Any]] = {
        "idf": index.idf_,
        "concept_idf": index.concept_idf_,
        "ids": index.ids_,
        "hours": index.hours_,
        "records": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "record_offsets": offsets,
        "genders": index.columns_.genders.matrix,
        "languages": index.columns_.languages.matrix,
        **{f"column_{name}": getattr(index.columns_, name) for name in COLUMN_TYPES},
    }
    if index.vectors_ is not None:
        arrays["vectors"] = index.vectors_.astype(np.float32)
    for name, matrix in (
        ("wording", index.wording_blocks_[0].tocsr()),
        ("concepts", index.concepts_),
        ("skills", index.skills_),
    ):
        arrays[f"{name}_data"] = matrix.data.astype(np.float32)
        arrays[f"{name}_indices"] = matrix.indices.astype(INDEX_TYPE)
        arrays[f"{name}_indptr"] = matrix.indptr.astype(INDEX_TYPE)
    return arrays


def save(index: OfferIndex, folder: Path) -> None:
    """Write the index (compacted first) into this folder, which must exist and be empty. The
    folder is complete once META is in it; an application renames it into place after that."""
    index = index.compacted()
    arrays = _arrays(index)
    for name, array in arrays.items():
        with open(folder / f"{name}.npy", "wb") as file:
            np.save(file, np.ascontiguousarray(array), allow_pickle=False)
    meta = {
        "format": FORMAT,
        "scheme": SCHEME,
        "semantic_scheme": semantic.SCHEME,
        "n_features": N_FEATURES,
        "concepts": list(CONCEPT_NAMES),
        "offer_hours": list(OFFER_HOURS),
        "max_df": index.max_df,
        "offers": len(index.ids_),
        "genders": index.columns_.genders.codes,
        "languages": index.columns_.languages.codes,
        "skills": sorted(index.skill_index_, key=index.skill_index_.__getitem__),
        "arrays": {name: [list(array.shape), array.dtype.str] for name, array in arrays.items()},
    }
    (folder / META).write_text(json.dumps(meta, ensure_ascii=False))


def _checked(meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Refuse files written for other features, or whose arrays do not fit together."""
    if (
        meta.get("format") != FORMAT
        or meta.get("scheme") != SCHEME
        or meta.get("semantic_scheme") != semantic.SCHEME
        or meta.get("n_features") != N_FEATURES
        or meta.get("concepts") != list(CONCEPT_NAMES)
        or meta.get("offer_hours") != list(OFFER_HOURS)
    ):
        raise ValueError("the index files were written for other features")
    for name, (shape, kind) in meta["arrays"].items():
        if list(arrays[name].shape) != shape or arrays[name].dtype.str != kind:
            raise ValueError(f"the index file {name} is not the one described")
    offers = meta["offers"]
    rows = {"ids": offers, "hours": offers, "genders": offers, "languages": offers, "record_offsets": offers + 1}
    rows |= {f"column_{name}": offers for name in COLUMN_TYPES}
    rows |= {"idf": N_FEATURES, "wording_indptr": N_FEATURES + 1, "concepts_indptr": offers + 1}
    rows |= {"skills_indptr": offers + 1, "concept_idf": len(CONCEPT_NAMES)}
    if "vectors" in arrays:
        rows["vectors"] = offers
    if any(len(arrays[name]) != length for name, length in rows.items()):
        raise ValueError("the index files do not describe the same offers")
    for name in SPARSE:
        indptr, indices, data = (arrays[f"{name}_{part}"] for part in ("indptr", "indices", "data"))
        if indptr[0] != 0 or indptr[-1] != len(indices) or len(indices) != len(data):
            raise ValueError(f"the index file {name} is cut short")
    if int(arrays["record_offsets"][-1]) != len(arrays["records"]):
        raise ValueError("the index file of the offers is cut short")


def load(folder: Path) -> OfferIndex:
    """The index written in this folder, its arrays mapped read-only (nothing read until used).

    :raise ValueError: the files are of another scheme, cut short or do not fit together.
    :raise OSError: a file is missing or unreadable.
    """
    meta = json.loads((folder / META).read_text())
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in meta["arrays"]}
    _checked(meta, arrays)
    offers = meta["offers"]
    shapes = {"wording": (N_FEATURES, offers), "concepts": (offers, len(CONCEPT_NAMES))}
    shapes["skills"] = (offers, max(1, len(meta["skills"])))
    matrices = {
        name: sp.csr_matrix(
            (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
            shape=shapes[name],
            copy=False,
        )
        for name in SPARSE
        if name != "wording"
    }
    index = OfferIndex(meta["max_df"])
    index.idf_ = arrays["idf"]
    index.concept_idf_ = arrays["concept_idf"]
    index.ids_ = arrays["ids"]
    index.position_ = {str(offer_id): n for n, offer_id in enumerate(index.ids_)}
    index.offers_ = StoredOffers(arrays["records"], arrays["record_offsets"])
    index.retired_ = np.zeros(offers, dtype=bool)
    index.wording_blocks_ = (
        StoredRows(folder, "wording", shapes["wording"]),
        sp.csr_matrix((N_FEATURES, 0), dtype=np.float32),
    )
    index.wording_row_ = np.arange(offers, dtype=np.int64)
    index.concepts_ = matrices["concepts"]
    index.hours_ = arrays["hours"]
    index.skill_index_ = {skill: n for n, skill in enumerate(meta["skills"])}
    index.skills_ = matrices["skills"]
    index.vectors_ = arrays.get("vectors")
    index.ranker_ = RANKER
    index.columns_ = _Columns(
        genders=_CodeSets(meta["genders"], arrays["genders"]),
        languages=_CodeSets(meta["languages"], arrays["languages"]),
        **{name: arrays[f"column_{name}"] for name in COLUMN_TYPES},
    )
    return index
