"""What an offer's text says, computed from that offer alone: its character n-grams (hashed and
counted, not weighted), the concepts of the vocabulary it names and the fixed hours it states.

Nothing here depends on the other offers, so an application computes an offer's features once,
when the offer is written, and stores them; an index is then assembled from stored features in a
fraction of the time a fit takes. What does depend on the catalogue (how rare an n-gram or a
concept is among the offers) is applied when the index is assembled.
"""

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from matching import semantic
from matching.hours import offer_hours
from matching.model import Offer
from matching.semantic import Encoder, Vectors, e5_encode, offer_text, offer_vectors, vector_bytes, vectors_from_bytes
from matching.vocabulary import CONCEPTS, concepts_in

# Names how the features are computed: features stored under another scheme are computed anew.
SCHEME = "char_wb-2-4-hash20-v1"
# 2^20 columns: at 20,000 offers about one n-gram in a few hundred shares its column with another.
# Names features stored with their vector: the n-grams' scheme and the model's.
STORED_SCHEME = f"{SCHEME}+{semantic.SCHEME}"
N_FEATURES = 2**20
NGRAM_RANGE = (2, 4)

VOCABULARY_TEXT = " ".join(term for chinese, english in CONCEPTS.values() for term in (*chinese, *english))

_INDEX_BYTES = np.dtype("<u4")
_COUNT_BYTES = np.dtype("<u2")
_MAX_COUNT = np.iinfo(_COUNT_BYTES).max


def normalise(text: str) -> str:
    """Full-width to half-width and lower case, so 'ＡＢＣ' and 'abc' are one word."""
    return unicodedata.normalize("NFKC", text).lower()


# What scikit-learn's HashingVectorizer(analyzer="char_wb", alternate_sign=False, norm=None) does,
# here in numpy: importing scikit-learn brings scipy.stats and the rest of it into every worker
# (about 70 MiB and a second of start-up) for one hash function. tests/matching/test_features.py
# holds the two to the same counts.
_WHITE_SPACES = re.compile(r"\s\s+")
_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def char_wb_ngrams(text: str) -> list[str]:
    """The n-grams of each word padded with a space either side, as the char_wb analyzer makes them."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", normalise(text)).split():
        word = f" {word} "
        for n in range(NGRAM_RANGE[0], NGRAM_RANGE[1] + 1):
            grams.extend(word[start : start + n] for start in range(max(1, len(word) - n + 1)))
            if len(word) <= n:  # a short word counts once
                break
    return grams


def _rotated(x: npt.NDArray[np.uint32], bits: int) -> npt.NDArray[np.uint32]:
    return (x << np.uint32(bits)) | (x >> np.uint32(32 - bits))


def murmurhash3_32(tokens: Sequence[bytes]) -> npt.NDArray[np.int32]:
    """MurmurHash3 (x86, 32 bits, seed 0) of each token, signed: scikit-learn's murmurhash3_32."""
    lengths = np.fromiter((len(token) for token in tokens), dtype=np.int64, count=len(tokens))
    width = max(4, (int(lengths.max(initial=0)) + 3) // 4 * 4)
    padded = np.zeros((len(tokens), width), dtype=np.uint8)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = np.repeat(np.arange(len(tokens)), lengths)
    padded[rows, np.arange(len(rows)) - starts] = np.frombuffer(b"".join(tokens), dtype=np.uint8)
    blocks = padded.view("<u4").astype(np.uint32)
    h = np.zeros(len(tokens), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for n in range(width // 4):
            k = _rotated(blocks[:, n] * _C1, 15) * _C2
            whole, tail = lengths >= 4 * (n + 1), lengths > 4 * n
            h = np.where(whole, _rotated(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64), np.where(tail, h ^ k, h))
        h ^= lengths.astype(np.uint32)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    return h.view(np.int32)


# Texts hashed together: the hashing's arrays grow with every byte of every n-gram hashed at once
# (gigabytes for a whole catalogue), so a large batch is hashed this many texts at a time.
HASHED_TOGETHER = 1000


def ngram_counts(texts: Sequence[str]) -> sp.csr_matrix:
    """Each text's n-grams counted, one row a text, the columns sorted within a row."""
    if not texts:
        return sp.csr_matrix((0, N_FEATURES), dtype=np.float32)
    if len(texts) > HASHED_TOGETHER:
        return sp.vstack(
            [ngram_counts(texts[start : start + HASHED_TOGETHER]) for start in range(0, len(texts), HASHED_TOGETHER)],
            format="csr",
        )
    grams = [char_wb_ngrams(text) for text in texts]
    hashed = murmurhash3_32([gram.encode() for found in grams for gram in found]).astype(np.int64)
    # |h| mod 2^20, with |-2^31| taken as 2^31, as scikit-learn defines it.
    columns = (np.abs(hashed) % N_FEATURES).astype(np.int32)
    indptr = np.concatenate([[0], np.cumsum([len(found) for found in grams])]).astype(np.int32)
    counts = sp.csr_matrix((np.ones(len(columns), dtype=np.float32), columns, indptr), shape=(len(texts), N_FEATURES))
    counts.sum_duplicates()
    counts.sort_indices()
    return counts


@dataclass(frozen=True)
class TextFeatures:
    """One offer's text features; `ngrams` and `counts` are parallel, by ascending column."""

    ngrams: npt.NDArray[np.uint32]
    counts: npt.NDArray[np.uint16]
    concepts: dict[str, int]
    hours: frozenset[str]
    # The offer's place in the space of meaning (matching.semantic), when it was computed.
    vector: Vectors | None = None

    def vector_bytes(self) -> bytes | None:
        return None if self.vector is None else vector_bytes(self.vector)

    def ngram_bytes(self) -> bytes:
        """The n-grams in six bytes each (column, count), for storing."""
        return self.ngrams.astype(_INDEX_BYTES).tobytes() + self.counts.astype(_COUNT_BYTES).tobytes()

    @classmethod
    def from_stored(
        cls, ngram_bytes: bytes, concepts: dict[str, int], hours: Sequence[str], vector: bytes | None = None
    ) -> "TextFeatures":
        """Features as stored by an application: `ngram_bytes` from `ngram_bytes()`, `vector` from `vector_bytes()`."""
        size = len(ngram_bytes) // (_INDEX_BYTES.itemsize + _COUNT_BYTES.itemsize)
        split = size * _INDEX_BYTES.itemsize
        return cls(
            np.frombuffer(ngram_bytes, dtype=_INDEX_BYTES, count=size),
            np.frombuffer(ngram_bytes, dtype=_COUNT_BYTES, count=size, offset=split),
            {str(name): int(hits) for name, hits in concepts.items() if name in CONCEPTS},
            frozenset(hours),
            None if vector is None else vectors_from_bytes(vector)[0],
        )


def text_features(offers: Sequence[Offer], encode: Encoder | None = e5_encode) -> list[TextFeatures]:
    """The features of each offer (all texts hashed in one call, far cheaper than one by one), with
    their vectors unless `encode` is None (about 70 ms an offer: computed once, when it is written)."""
    counts = ngram_counts([offer.text for offer in offers])
    vectors = None if encode is None else offer_vectors([offer_text(o.title, o.description) for o in offers], encode)
    found = []
    for row, offer in enumerate(offers):
        start, end = counts.indptr[row], counts.indptr[row + 1]
        found.append(
            TextFeatures(
                counts.indices[start:end].astype(np.uint32),
                np.minimum(counts.data[start:end], _MAX_COUNT).astype(np.uint16),
                concepts_in(offer.text),
                offer_hours(offer.category, offer.text),
                None if vectors is None else vectors[row],
            )
        )
    return found


def text_digest(offer: Offer) -> str:
    """Names the text features are computed from, and how: equal digests, equal features."""
    return hashlib.sha256(f"{SCHEME}\n{offer.category or ''}\n{offer.text}".encode()).hexdigest()


def stacked_counts(features: Sequence[TextFeatures]) -> sp.csr_matrix:
    """Offers' n-gram counts as one matrix, one row an offer."""
    if not features:
        return sp.csr_matrix((0, N_FEATURES), dtype=np.float32)
    lengths = np.fromiter((len(f.ngrams) for f in features), dtype=np.int64, count=len(features))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([f.ngrams for f in features]).astype(np.int32)
    data = np.concatenate([f.counts for f in features]).astype(np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(features), N_FEATURES))
