"""Vectors that stand in for the matching model's in benchmarks that write or rank many thousands
of texts: the model takes about 70 ms a text (some 25 minutes for a city's 20,000 offers), which an
application pays once, as each offer or need is written, and bench_matching.py measures on its own.
A stand-in vector costs what a real one does to store and to rank with."""

import hashlib
from collections.abc import Sequence

import numpy as np

from matching.semantic import DIMENSIONS, Vectors


def stand_in_vectors(texts: Sequence[str]) -> Vectors:
    """A unit vector for each text, fixed by the text's hash."""
    rows = [
        np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")).standard_normal(
            DIMENSIONS
        )
        for text in texts
    ]
    vectors = np.array(rows, dtype=np.float32).reshape(len(texts), DIMENSIONS)
    unit: Vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit
