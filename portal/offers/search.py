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
language; those come after the offers that hold the query's own words. Which concepts an offer
uses is read when it is written (as the matching engine reads them) and kept as one more term
each ("~cooking"), so a synonym costs one index range, not one for each of the concept's thirty or so
words: at city size "培训" otherwise read 21,000 index entries to show 25 offers.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from matching.vocabulary import concepts_in
from portal.models import OFFER_TERM_LENGTH, Offer, OfferTerm

# Characters written without spaces between words: kana, CJK ideographs (with the compatibility
# block, some of whose characters are ideographs in their own right) and Hangul syllables.
_RUN_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
_TOKEN = re.compile(rf"(?P<run>[{_RUN_CHARS}]+)|(?P<word>[^\W_{_RUN_CHARS}]+)")
# Above every character: a prefix's terms all sort between the prefix and the prefix + this.
_LAST_CHAR = "\U0010ffff"
# The columns an offer is searched by.
SEARCHED = ("title", "description", "skills")
# Begins the term that says an offer uses a word of a concept: no word or Chinese character does.
CONCEPT_MARK = "~"
# Offers' terms written in one statement when all are written anew.
_BATCH = 500


def normalise(text: str) -> str:
    """One form for what looks the same: full-width letters and digits as plain ones, any case as lower."""
    return unicodedata.normalize("NFKC", text).casefold()


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of each word ("word") and each run of Chinese characters ("run") of a text."""
    return [(match.lastgroup or "", match.group()) for match in _TOKEN.finditer(normalise(text))]


def concept_terms(texts: Iterable[str]) -> set[str]:
    """The terms naming the vocabulary's concepts these texts use."""
    return {CONCEPT_MARK + concept for text in texts for concept in concepts_in(normalise(text))}


def index_terms(texts: Iterable[str]) -> set[str]:
    """The terms an offer with these texts is found by: its words, and the concepts it uses."""
    texts = list(texts)
    terms = concept_terms(texts)
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
    # Whether every offer the token finds uses all those concepts, so that they alone find every
    # offer the token or its synonyms find: true unless a concept is named by the token as a whole
    # word only ("class"), which a longer word it begins ("classic") does not name.
    named_by_all: bool


def _query_terms(kind: str, token: str) -> list[Term]:
    if kind == "word":
        return [Term(token[:OFFER_TERM_LENGTH], prefix=True)]
    if len(token) == 1:
        return [Term(token, prefix=True)]
    return [Term(pair, prefix=False) for pair in dict.fromkeys(token[i : i + 2] for i in range(len(token) - 1))]


def _token(kind: str, token: str) -> Token:
    terms = _query_terms(kind, token)
    concepts = concepts_in(token)
    # A Chinese run is found where it is written whole (or, one character, anywhere), and so are
    # the vocabulary's words inside it; a word is found at the start of longer ones, which a
    # character after it stands for (no vocabulary word ends with "0").
    named_by_all = kind == "run" or concepts.keys() <= concepts_in(terms[0].text + "0").keys()
    return Token(
        terms=tuple(terms),
        phrase=token if kind == "run" and len(token) > 2 else "",
        concepts=tuple(sorted(concepts)),
        named_by_all=named_by_all,
    )


def parse(query: str) -> list[Token]:
    """The tokens of a query, each with its terms and the concepts it names."""
    return [_token(kind, token) for kind, token in _tokens(query)]


def _where(term: Term) -> ColumnElement[bool]:
    column = col(OfferTerm.term)
    if term.prefix:
        return sa.and_(column >= term.text, column < term.text + _LAST_CHAR)
    return column == term.text


def _holding(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Offers holding a term that meets this condition (one range of the index)."""
    return col(Offer.id).in_(select(OfferTerm.offer_id).where(condition))


def _holds_all(terms: Iterable[Term]) -> ColumnElement[bool]:
    return sa.and_(*(_holding(_where(term)) for term in terms))


def _contains(phrase: str) -> ColumnElement[bool]:
    """The phrase as written, in one of the searched columns (its characters have no case to fold)."""
    skills = sa.cast(Offer.skills, sa.String)
    return sa.or_(
        *(column.contains(phrase, autoescape=True) for column in (col(Offer.title), col(Offer.description), skills))
    )


def _exact(token: Token) -> ColumnElement[bool]:
    held = _holds_all(token.terms)
    return sa.and_(held, _contains(token.phrase)) if token.phrase else held


def _names(concepts: tuple[str, ...]) -> ColumnElement[bool]:
    """Offers that use a word of each of these concepts."""
    return sa.and_(*(_holding(col(OfferTerm.term) == CONCEPT_MARK + concept) for concept in concepts))


def _widened(token: Token) -> ColumnElement[bool]:
    """Offers holding the token or, in its place, a word of the same meaning. Without an OR where
    the concepts find all (an OR of two lists has PostgreSQL read both whole)."""
    if not token.concepts:
        return _exact(token)
    if token.named_by_all:
        return _names(token.concepts)
    return sa.or_(_exact(token), _names(token.concepts))


@dataclass(frozen=True)
class TextMatch:
    """The offers a query finds: `exact` hold its own words; `related` (None when the vocabulary
    knows none of its words) do not, but hold a word of the same meaning in place of one of them;
    `condition` finds both."""

    exact: ColumnElement[bool]
    related: ColumnElement[bool] | None
    condition: ColumnElement[bool]


def text_match(query: str) -> TextMatch | None:
    """The offers a query finds; None when it has no word to look for (punctuation only)."""
    tokens = parse(query)
    if not tokens:
        return None
    exact = sa.and_(*(_exact(token) for token in tokens))
    if not any(token.concepts for token in tokens):
        return TextMatch(exact=exact, related=None, condition=exact)
    widened = sa.and_(*(_widened(token) for token in tokens))
    return TextMatch(exact=exact, related=sa.and_(widened, sa.not_(exact)), condition=widened)


def rewrite_concepts(session: Session) -> int:
    """Write every offer's concept terms anew, for when the vocabulary changed: an offer keeps the
    concepts it was written with until then. Returns how many offers were read."""
    table: Any = OfferTerm.__table__  # type: ignore[attr-defined]
    concept_rows = sa.and_(table.c.term >= CONCEPT_MARK, table.c.term < CONCEPT_MARK + _LAST_CHAR)
    session.execute(sa.delete(table).where(concept_rows))
    offers = session.exec(select(Offer.id, Offer.title, Offer.description, Offer.skills)).all()
    for start in range(0, len(offers), _BATCH):
        rows = [
            {"term": term, "offer_id": offer_id}
            for offer_id, title, description, skills in offers[start : start + _BATCH]
            for term in sorted(concept_terms([title, description, *skills]))
        ]
        if rows:
            session.execute(sa.insert(table), rows)
    session.commit()
    return len(offers)


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
