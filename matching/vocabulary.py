"""A bilingual vocabulary of the field: words in Chinese and English that mean the same thing to a
caseworker map to one concept, so a need written in one language meets an offer written in the
other, and "颠勺" meets "line cook". General domain knowledge, not the words of any one data set.

The vocabulary is data (`vocabulary.tsv`, `related.tsv` beside this file), so that caseworkers'
words can be added without touching code. Chinese terms match as substrings (Chinese has no
spaces); English terms match at the start of a word, so "cook" also finds "cooking".
"""

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _rows(name: str) -> list[list[str]]:
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def _load_concepts() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    concepts = {}
    for name, chinese, english in _rows("vocabulary.tsv"):
        concepts[name] = (tuple(chinese.split()), tuple(term for term in english.split("|") if term))
    return concepts


# concept: (Chinese terms, English word starts)
CONCEPTS = _load_concepts()

# Concepts close in meaning: a need for one is partly answered by an offer for the other.
RELATED: dict[frozenset[str], float] = {frozenset((a, b)): float(credit) for a, b, credit in _rows("related.tsv")}


def _compile() -> list[tuple[str, tuple[str, ...], re.Pattern[str] | None]]:
    table = []
    for concept, (chinese, english) in CONCEPTS.items():
        # Latin letters among the "Chinese" terms (C1, HIV, NA) match like English words.
        ascii_terms = [term.lower() for term in chinese if term.isascii()]
        han_terms = tuple(term for term in chinese if not term.isascii())
        # A trailing space in the vocabulary means a whole word ("men " is not "mental").
        starts = [
            re.escape(term.strip().lower()) + (r"(?![a-z0-9])" if term.endswith(" ") else "")
            for term in (*english, *ascii_terms)
        ]
        pattern = re.compile(r"(?<![a-z0-9])(?:" + "|".join(starts) + ")") if starts else None
        table.append((concept, han_terms, pattern))
    return table


_TABLE = _compile()


def concepts_in(text: str) -> dict[str, int]:
    """The concepts a text mentions, with how many of their terms it uses."""
    lowered = f" {text.lower()} "
    found: dict[str, int] = {}
    for concept, han_terms, pattern in _TABLE:
        hits = sum(1 for term in han_terms if term in text)
        if pattern is not None:
            hits += len(set(pattern.findall(lowered)))
        if hits:
            found[concept] = hits
    return found
