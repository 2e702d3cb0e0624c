"""How well an eligible offer answers a need: the signals, and the words that explain a score.

The signals, each in [0, 1] (hours and group 0 or 1); their weights are learnt (matching.learning,
matching.ranker):
- category: the same category, or one that can answer it (family therapy listed as counselling
  meets a family-support need);
- meaning: the concepts of the bilingual vocabulary that need and offer share, weighted by how
  rare they are among offers, with partial credit for related concepts; this works across
  Chinese and English;
- wording: char n-gram TF-IDF similarity (same-language words the vocabulary does not know);
- semantic, semantic_sentence: closeness in a multilingual model's space of meaning, of the whole
  need and of its closest sentence (matching.semantic): words no list foresaw;
- skills: for work and training needs, the person's skills that the offer asks for;
- hours: -1 when a job's or course's fixed hours clash with what the need says the person
  cannot do (an 8 am start after a school run or a morning methadone dose: see matching/hours.py);
- group: an offer reserved for the group the need asks to be among (women-only for "other women").
"""

from matching.model import CATEGORIES

# A need that mentions one of these concepts asks for offers reserved for that gender.
GROUP_CONCEPTS = {"women": "female", "men": "male"}

# Category pairs where an offer of one can answer a need of the other.
ADJACENT_CATEGORIES = {
    frozenset(pair)
    for pair in (
        ("family_support", "counselling"),
        ("counselling", "peer_support"),
        ("counselling", "health"),
        ("training", "employment"),
        ("housing", "employment"),
        ("legal", "family_support"),
        ("health", "peer_support"),
    )
}
ADJACENT_CREDIT = 0.6
SKILL_CATEGORIES = frozenset({"employment", "training"})


def category_affinity(need_category: str | None, offer_category: str | None) -> float:
    """1 for the same category, partial for an adjacent one, 0 otherwise (or when unknown)."""
    if need_category is None or offer_category is None:
        return 0.0
    if need_category == offer_category:
        return 1.0
    return ADJACENT_CREDIT if frozenset((need_category, offer_category)) in ADJACENT_CATEGORIES else 0.0


CATEGORY_INDEX = {name: i for i, name in enumerate(CATEGORIES)}
