"""The offers' n-grams are counted exactly as scikit-learn's HashingVectorizer counted them when the
stored features were computed, without a worker importing scikit-learn to do it."""

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils.murmurhash import murmurhash3_32 as reference_hash

from matching.exchange import load
from matching.features import N_FEATURES, NGRAM_RANGE, VOCABULARY_TEXT, murmurhash3_32, ngram_counts, normalise

EVAL = Path(__file__).resolve().parents[3] / "shared" / "match-eval" / "dev.json"
ODD = ["", " ", "a", "I", "ＡＢＣ  abc\t\n厨师", "😀 x  y", "  leading and trailing  ", "后厨帮工（泡馍馆）"]


def texts() -> list[str]:
    rng = random.Random(20261206)
    alphabet = "ab c厨师后\t工作帮😀é Ｘ\n"
    made = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    return [VOCABULARY_TEXT, *ODD, *made]


def test_the_hash_is_scikit_learns_murmurhash3() -> None:
    tokens = [text.encode() for text in texts()] + [bytes(range(n)) for n in range(20)]
    assert murmurhash3_32(tokens).tolist() == [reference_hash(token, seed=0) for token in tokens]


@pytest.mark.skipif(not EVAL.exists(), reason="the evaluation set is not beside the repository")
def test_the_evaluation_offers_and_needs_count_as_scikit_learn_counted_them() -> None:
    offers, people = load(EVAL)
    check([offer.text for offer in offers] + [need.description for person in people for need in person.needs])


def test_odd_and_mixed_texts_count_as_scikit_learn_counted_them() -> None:
    check(texts())


def check(documents: list[str]) -> None:
    reference = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=NGRAM_RANGE,
        preprocessor=normalise,
        n_features=N_FEATURES,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    ).transform(documents)
    reference.sort_indices()
    counted = ngram_counts(documents)
    assert np.array_equal(counted.indptr, reference.indptr)
    assert np.array_equal(counted.indices, reference.indices)
    assert np.array_equal(counted.data, reference.data)


def test_a_worker_ranking_a_need_imports_no_scikit_learn() -> None:
    probe = "import sys, matching; print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
