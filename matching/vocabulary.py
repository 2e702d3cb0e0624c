"""A bilingual vocabulary of the field: words in Chinese and English that mean the same thing to a
caseworker map to one concept, so a need written in one language meets an offer written in the
other, and "颠勺" meets "line cook". General domain knowledge, not the words of any one data set.

The vocabulary is data (`vocabulary.tsv`, `related.tsv` beside this file), so that caseworkers'
words can be added without touching code. Chinese terms match as substrings (Chinese has no
spaces); English terms match at the start of a word, so "cook" also finds "cooking".
"""

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _rows(name: str) -> list[list[str]]:
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


_VOCABULARY = _rows("vocabulary.tsv")

# concept: (Chinese terms, English word starts)
CONCEPTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    name: (tuple(chinese.split()), tuple(term for term in english.split("|") if term))
    for name, chinese, english, _label in _VOCABULARY
}
# How a concept is named to a reader: its id in words in English, its label in Chinese.
CONCEPT_LABELS: dict[str, dict[str, str]] = {
    name: {"en": name.replace("_", " "), "zh": label} for name, _chinese, _english, label in _VOCABULARY
}

# Concepts close in meaning: a need for one is partly answered by an offer for the other.
RELATED: dict[frozenset[str], float] = {frozenset((a, b)): float(credit) for a, b, credit in _rows("related.tsv")}


_END = ""  # trie key under which a node lists the (concept, term, whole word) that end there
_WORD_START = re.compile(r"(?<![a-z0-9])[a-z0-9]")


def _is_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


class Lexicon:
    """Named lists of Chinese and English terms, found in a text in one reading of it.

    Chinese terms match as substrings; English ones (and Latin terms among the Chinese, such as
    C1 or HIV) at the start of a word, or as a whole word where the term ends with a space."""

    def __init__(self, entries: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> None:
        self._trie: dict[str, Any] = {}
        for name, (chinese, english) in entries.items():
            for raw in (*english, *(term for term in chinese if term.isascii())):
                term = raw.strip().lower()
                node = self._trie
                for char in term:
                    node = node.setdefault(char, {})
                node.setdefault(_END, []).append((name, term, raw.endswith(" ")))
        self._han = [(name, tuple(t for t in chinese if not t.isascii())) for name, (chinese, _) in entries.items()]

    def find(self, text: str) -> dict[str, int]:
        """The names a text mentions, with how many of their distinct terms it uses."""
        return {name: len(found) for name, found in self.terms(text).items()}

    def terms(self, text: str) -> dict[str, set[str]]:
        """The names a text mentions, each with the terms of it found there (English ones lower-cased)."""
        terms: dict[str, set[str]] = {}
        for name, han_terms in self._han:
            for term in han_terms:
                if term in text:
                    terms.setdefault(name, set()).add(term)
        lowered = text.lower()
        for start in _WORD_START.finditer(lowered):
            node: dict[str, Any] | None = self._trie
            position = start.start()
            while node is not None and position < len(lowered):
                node = node.get(lowered[position])
                if node is None:
                    break
                position += 1
                for name, term, whole_word in node.get(_END, ()):
                    if not whole_word or position == len(lowered) or not _is_word_char(lowered[position]):
                        terms.setdefault(name, set()).add(term)
        return terms


_CONCEPTS = Lexicon(CONCEPTS)


def concepts_in(text: str) -> dict[str, int]:
    """The concepts a text mentions, with how many of their distinct terms it uses."""
    return _CONCEPTS.find(text)


def words_for(text: str, concepts: Sequence[str]) -> list[str]:
    """The words of a text that made it mention these concepts, longest first: what a reader sees
    matched, rather than the concept's name."""
    found = _CONCEPTS.terms(text)
    words = {term.strip() for name in concepts for term in found.get(name, ())}
    return sorted(words, key=lambda word: (-len(word), word))
