"""The learnt ranker as the engine uses it: one weight per signal, and the calibration that turns a
score into the gain a caseworker's grade would give. Read from `ranker.json` (written by
`python -m matching learn`, see matching.learning), so ranking needs no learning library."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]
HERE = Path(__file__).resolve().parent
RANKER_FILE = HERE / "ranker.json"

# Every signal the index computes for an offer, each in its own units (see OfferIndex.signals).
SIGNALS = (
    "category",
    "meaning",
    "wording",
    "semantic",
    "semantic_sentence",
    "skills",
    "nearness",
    "hours",
    "group",
)
GAINS = 2.0 ** np.arange(4) - 1
# How well an offer fits, in words, from the gain its grade is expected to give: "strong" from the
# gain of a good fit (grade 2) up, "good" from that of a partial fit (grade 1), else "possible".
FIT_WORDS = ((GAINS[2], "strong"), (GAINS[1], "good"))


def sigmoid(x: FloatArray) -> FloatArray:
    found: FloatArray = 0.5 * (1 + np.tanh(0.5 * x))
    return found


@dataclass(frozen=True)
class Calibration:
    """Gain expected from a score: an ordinal logistic model on (score, score - the need's best)."""

    slopes: tuple[float, float]
    thresholds: tuple[float, ...]

    def expected_gain(self, scores: FloatArray) -> FloatArray:
        """E[2^grade - 1] of each of one need's offers, from their scores."""
        if scores.size == 0:
            return np.zeros(0)
        scores = np.asarray(scores, dtype=np.float64)
        latent = np.column_stack([scores, scores - scores.max()]) @ np.array(self.slopes)
        return expected_gain(latent, np.array(self.thresholds))

    def fit_words(self, scores: FloatArray) -> list[str]:
        """Each of one need's offers' fit in a word a caseworker reads (FIT_WORDS), best first
        as the scores are."""
        return [
            next((word for least, word in FIT_WORDS if gain >= least), "possible")
            for gain in self.expected_gain(scores)
        ]


def expected_gain(latent: FloatArray, thresholds: FloatArray) -> FloatArray:
    """P(grade >= k) = sigmoid(latent - threshold_k) for k = 1..3; the gain is summed over P(grade = k)."""
    at_least = np.minimum.accumulate(sigmoid(latent[:, None] - thresholds[None, :]), axis=1)
    exactly = np.column_stack([at_least[:, :-1] - at_least[:, 1:], at_least[:, -1]])
    gains: FloatArray = exactly @ GAINS[1:]
    return gains


@dataclass(frozen=True)
class Ranker:
    weights: dict[str, float]
    calibration: Calibration
    trained_on: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "calibration": {"slopes": list(self.calibration.slopes), "thresholds": list(self.calibration.thresholds)},
            "trained_on": list(self.trained_on),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Ranker":
        weights = {name: float(data["weights"].get(name, 0.0)) for name in SIGNALS}
        calibration = data["calibration"]
        slopes = calibration["slopes"]
        return cls(
            weights,
            Calibration((float(slopes[0]), float(slopes[1])), tuple(float(t) for t in calibration["thresholds"])),
            tuple(data.get("trained_on", ())),
        )

    def digest(self) -> str:
        """A short SHA-256 of the weights and calibration: which ranker ranked, in a record of it."""
        text = json.dumps({k: v for k, v in self.to_json().items() if k != "trained_on"}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def weight_vector(self) -> FloatArray:
        """The weights in the order of SIGNALS, for scoring rows of signals."""
        return np.array([self.weights.get(name, 0.0) for name in SIGNALS], dtype=np.float64)

    @classmethod
    def load(cls, path: Path = RANKER_FILE) -> "Ranker":
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def save(self, path: Path = RANKER_FILE) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


RANKER = Ranker.load()
