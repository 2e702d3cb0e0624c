"""The directory's text search, through an index that suits Chinese as well as English.

Chinese is written without spaces, so it has no words to index, and its words are often two
characters long (厨师, 保安, 心理); English has words, and people type their beginnings ("counsel"
for "counselling"). So an offer's title, description and skills are kept as terms in `offer_term`,
indexed by term: each word of a spaced script, and each pair of adjacent Chinese characters plus
the last character of each run (so every character begins at least one term). A query is split
the same way, and an offer matches when it holds all of the query's terms: a word as the start of
one of its words, a pair as one of its pairs, a single character as the start of one of its
terms. Pairs that are all present can still be apart ("心理咨询" holds 心理, 理咨 and 咨询, and so
could a text without the phrase), so a Chinese run of three characters or more is also looked for
as written, in the few offers that hold all its pairs (in the stored text, which is not
normalised: Chinese characters have no case, and NFKC leaves all but a few rare ones alone).

The same terms on SQLite and PostgreSQL, in a plain table with a B-tree index: no extension, no
superuser, the same results on both. The terms are written by flush events on `Offer`, so every
writer (services, the demo loader, data sets written through the models) keeps them right in the
transaction that writes the offer; a deleted offer takes its terms with it (ON DELETE CASCADE).

The field's bilingual vocabulary (`matching.vocabulary`) widens a query: a word of the query that
names a concept ("厨师", "cook") also finds offers using any other term of that concept, in either
language; those come after the offers that hold the query's own words.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from matching.vocabulary import CONCEPTS, concepts_in
from portal.models import OFFER_TERM_LENGTH, Offer, OfferTerm

# Characters written without spaces between words: kana, CJK ideographs (with the compatibility
# block, some of whose characters are ideographs in their own right) and Hangul syllables.
_RUN_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
_TOKEN = re.compile(rf"(?P<run>[{_RUN_CHARS}]+)|(?P<word>[^\W_{_RUN_CHARS}]+)")
# Above every character: a prefix's terms all sort between the prefix and the prefix + this.
_LAST_CHAR = "\U0010ffff"
# The columns an offer is searched by.
SEARCHED = ("title", "description", "skills")


def normalise(text: str) -> str:
    """One form for what looks the same: full-width letters and digits as plain ones, any case as lower."""
    return unicodedata.normalize("NFKC", text).casefold()


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of each word ("word") and each run of Chinese characters ("run") of a text."""
    return [(match.lastgroup or "", match.group()) for match in _TOKEN.finditer(normalise(text))]


def index_terms(texts: Iterable[str]) -> set[str]:
    """The terms an offer with these texts is found by."""
    terms: set[str] = set()
    for text in texts:
        for kind, token in _tokens(text):
            if kind == "word":
                terms.add(token[:OFFER_TERM_LENGTH])
            else:
                terms.update(token[i : i + 2] for i in range(len(token) - 1))
                terms.add(token[-1])
    return terms


def offer_terms(offer: Offer) -> set[str]:
    return index_terms([offer.title, offer.description, *offer.skills])


@dataclass(frozen=True)
class Term:
    """A term of a query: the whole of an indexed term, or (prefix) the start of one."""

    text: str
    prefix: bool


@dataclass(frozen=True)
class Token:
    """A word, or a run of Chinese characters, of a query."""

    terms: tuple[Term, ...]
    # A run of three characters or more, looked for as written: its pairs may be apart.
    phrase: str
    # The vocabulary's concepts this token names.
    concepts: tuple[str, ...]


def _query_terms(kind: str, token: str, whole_word: bool = False) -> list[Term]:
    if kind == "word":
        return [Term(token[:OFFER_TERM_LENGTH], prefix=not whole_word)]
    if len(token) == 1:
        return [Term(token, prefix=True)]
    return [Term(pair, prefix=False) for pair in dict.fromkeys(token[i : i + 2] for i in range(len(token) - 1))]


def parse(query: str) -> list[Token]:
    """The tokens of a query, each with its terms and the concepts it names."""
    return [
        Token(
            terms=tuple(_query_terms(kind, token)),
            phrase=token if kind == "run" and len(token) > 2 else "",
            concepts=tuple(sorted(concepts_in(token))),
        )
        for kind, token in _tokens(query)
    ]


def _where(term: Term) -> ColumnElement[bool]:
    column = col(OfferTerm.term)
    if term.prefix:
        return sa.and_(column >= term.text, column < term.text + _LAST_CHAR)
    return column == term.text


def _holding(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """Offers holding a term that meets any of these conditions. One index range each, joined by
    UNION ALL: an OR inside one query would make PostgreSQL read the table's rows behind a bitmap
    of them all, instead of the index alone."""
    selects = [select(OfferTerm.offer_id).where(condition) for condition in conditions]
    return col(Offer.id).in_(selects[0] if len(selects) == 1 else sa.union_all(*selects))


def _holds_all(terms: Iterable[Term]) -> ColumnElement[bool]:
    return sa.and_(*(_holding([_where(term)]) for term in terms))


def _contains(phrase: str) -> ColumnElement[bool]:
    """The phrase as written, in one of the searched columns (its characters have no case to fold)."""
    skills = sa.cast(Offer.skills, sa.String)
    return sa.or_(
        *(column.contains(phrase, autoescape=True) for column in (col(Offer.title), col(Offer.description), skills))
    )


def _exact(token: Token) -> ColumnElement[bool]:
    held = _holds_all(token.terms)
    return sa.and_(held, _contains(token.phrase)) if token.phrase else held


@cache
def _concept_terms(concept: str) -> tuple[tuple[Term, ...], ...]:
    """The terms of each of a concept's words, found as the vocabulary finds them: English at the
    start of a word (or as a whole word, where the vocabulary's term ends with a space)."""
    chinese, english = CONCEPTS[concept]
    found = []
    for raw in (*chinese, *english):
        tokens = _tokens(raw)
        terms = [
            term
            for n, (kind, token) in enumerate(tokens)
            for term in _query_terms(kind, token, whole_word=raw.endswith(" ") and n == len(tokens) - 1)
        ]
        if terms:
            found.append(tuple(terms))
    return tuple(found)


@lru_cache(maxsize=512)
def _names(concepts: tuple[str, ...]) -> ColumnElement[bool]:
    """Offers that use a word of each of these concepts; words of one term are looked up together.
    A word of several terms is not looked for as written (its pairs or words may be apart): what it
    finds comes after the query's own matches anyway. Kept once built (SQL expressions are
    immutable, and building the vocabulary's is not free), for as many combinations as a query's
    words are likely to name, not for every one typed."""
    named = []
    for concept in concepts:
        words = _concept_terms(concept)
        single = [_where(terms[0]) for terms in words if len(terms) == 1]
        several = [_holds_all(terms) for terms in words if len(terms) > 1]
        named.append(sa.or_(*([_holding(single)] if single else []), *several))
    return sa.and_(*named)


@dataclass(frozen=True)
class TextMatch:
    """The offers a query finds: `exact` hold its own words; `related` (None when the vocabulary
    knows none of its words) do not, but hold a word of the same meaning in place of one of them."""

    exact: ColumnElement[bool]
    related: ColumnElement[bool] | None

    @property
    def condition(self) -> ColumnElement[bool]:
        return self.exact if self.related is None else sa.or_(self.exact, self.related)


def text_match(query: str) -> TextMatch | None:
    """The offers a query finds; None when it has no word to look for (punctuation only)."""
    tokens = parse(query)
    if not tokens:
        return None
    exact = sa.and_(*(_exact(token) for token in tokens))
    if not any(token.concepts for token in tokens):
        return TextMatch(exact=exact, related=None)
    widened = sa.and_(
        *(sa.or_(_exact(token), _names(token.concepts)) if token.concepts else _exact(token) for token in tokens)
    )
    return TextMatch(exact=exact, related=sa.and_(widened, sa.not_(exact)))


def _write_terms(connection: sa.Connection, offer: Offer, replacing: bool) -> None:
    table: Any = OfferTerm.__table__  # type: ignore[attr-defined]
    if replacing:
        connection.execute(sa.delete(table).where(table.c.offer_id == offer.id))
    rows = [{"term": term, "offer_id": offer.id} for term in sorted(offer_terms(offer))]
    if rows:
        connection.execute(sa.insert(table), rows)


def _indexed_when_added(_mapper: Any, connection: sa.Connection, offer: Offer) -> None:
    _write_terms(connection, offer, replacing=False)


def _indexed_again_when_its_words_change(_mapper: Any, connection: sa.Connection, offer: Offer) -> None:
    state = sa.inspect(offer)
    if any(state.attrs[name].history.has_changes() for name in SEARCHED):
        _write_terms(connection, offer, replacing=True)


sa.event.listen(Offer, "after_insert", _indexed_when_added)
sa.event.listen(Offer, "after_update", _indexed_again_when_its_words_change)
