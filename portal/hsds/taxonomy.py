"""The taxonomies the directory API speaks: Bridge's own eight categories, the attributes that carry
eligibility and capacity, and Open Eligibility (a CC BY-SA taxonomy of human services, its service
terms vendored as `open-eligibility-services.csv`), so that a partner can read an offer by either.

Ids are UUIDs derived from the taxonomy and the term's code (uuid5), so they stay the same from one
release and one database to the next: a partner may keep them.
"""

import csv
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from portal.models import Category

NAMESPACE = uuid.UUID("6f1c1b0e-4b7e-5d55-9a0e-6b3c2d0f7a10")
_OPEN_ELIGIBILITY_FILE = Path(__file__).with_name("open-eligibility-services.csv")


@dataclass(frozen=True)
class Taxonomy:
    key: str
    name: str
    description: str
    uri: str
    version: str

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"taxonomy:{self.key}")


@dataclass(frozen=True)
class Term:
    taxonomy: Taxonomy
    code: str
    name: str
    description: str
    parent_code: str | None = None

    @property
    def id(self) -> uuid.UUID:
        return term_id(self.taxonomy, self.code)

    @property
    def parent_id(self) -> uuid.UUID | None:
        return term_id(self.taxonomy, self.parent_code) if self.parent_code else None


def term_id(taxonomy: Taxonomy, code: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"term:{taxonomy.key}:{code}")


CATEGORIES = Taxonomy(
    key="bridge-categories",
    name="Bridge categories",
    description="The eight kinds of help Bridge's matching engine ranks offers by.",
    uri="",
    version="1",
)
ATTRIBUTES = Taxonomy(
    key="bridge-attributes",
    name="Bridge attributes",
    description="Who an offer is for and how many it can take: the attribute's value holds the figure.",
    uri="",
    version="1",
)
OPEN_ELIGIBILITY = Taxonomy(
    key="open-eligibility",
    name="Open Eligibility",
    description="Open Eligibility's service terms (Aunt Bertha, CC BY-SA 3.0).",
    uri="https://github.com/auntbertha/openeligibility",
    version="2.0",
)
TAXONOMIES = (CATEGORIES, ATTRIBUTES, OPEN_ELIGIBILITY)

_CATEGORY_DESCRIPTIONS = {
    Category.EMPLOYMENT: "Jobs with employers who give a fair chance.",
    Category.TRAINING: "Vocational training and skills courses.",
    Category.COUNSELLING: "Psychological counselling.",
    Category.FAMILY_SUPPORT: "Help for the person's family.",
    Category.HEALTH: "Health care and treatment.",
    Category.HOUSING: "Somewhere to live.",
    Category.LEGAL: "Legal aid and advice.",
    Category.PEER_SUPPORT: "Support from people who have been there, mentoring and accompaniment.",
}

# The attributes' codes: what an offer's `attributes` say besides its categories.
CAPACITY = "capacity"
MONTHS_IN_RECOVERY = "minimum_months_in_recovery"
GENDER = "gender"
REMOTE = "remote"
EMPLOYMENT_TYPE = "employment_type"
FAIR_CHANCE = "fair_chance_statement"
NO_FAIR_CHANCE_STATEMENT = "fair_chance_none_given"
_ATTRIBUTE_DESCRIPTIONS = {
    CAPACITY: "How many people the offer can take at once (the value).",
    MONTHS_IN_RECOVERY: "The time in recovery a person needs, in months (the value).",
    GENDER: "A gender the offer is for, when it is not for everyone (the value: male, female or other).",
    REMOTE: "The offer can be taken up at a distance (online or by phone).",
    EMPLOYMENT_TYPE: "A job's kind (the value: full_time, part_time, temporary, contractor or intern).",
    FAIR_CHANCE: "How the employer welcomes applicants in recovery or with a record, in its own words (the value).",
    NO_FAIR_CHANCE_STATEMENT: "The employer gives no fair-chance statement for this job.",
}

# Each category's nearest Open Eligibility term, for the export; the import also reads the terms
# below them (and a few more, in IMPORTED) as the category.
OPEN_ELIGIBILITY_OF = {
    Category.EMPLOYMENT: "110",  # Work
    Category.TRAINING: "109-06",  # Skills & Training
    Category.COUNSELLING: "108-07-01",  # Counseling
    Category.FAMILY_SUPPORT: "108-07",  # Support Network
    Category.HEALTH: "106",  # Health
    Category.HOUSING: "103",  # Housing
    Category.LEGAL: "111",  # Legal
    Category.PEER_SUPPORT: "108-07-07",  # Peer Support
}
_IMPORTED = {
    "106-06-07-01": Category.COUNSELLING,  # Counseling, under Medical Care
    "108-05-05": Category.EMPLOYMENT,  # Help Find Work
    "108-05-03": Category.HOUSING,  # Help Find Housing
    "108-07-05": Category.PEER_SUPPORT,  # Mentoring
    "108-07-09": Category.PEER_SUPPORT,  # Support Groups
    "109": Category.TRAINING,  # Education
    "106-04-05": Category.FAMILY_SUPPORT,  # Parenting Education
}


@cache
def _open_eligibility_terms() -> tuple[Term, ...]:
    with _OPEN_ELIGIBILITY_FILE.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    seen: set[str] = set()
    terms = []
    for row in rows:
        code = row["taxonomy_id"]
        if code in seen:  # the file lists a few top-level terms twice
            continue
        seen.add(code)
        terms.append(Term(OPEN_ELIGIBILITY, code, row["name"], row["name"], row["parent_id"] or None))
    return tuple(terms)


@cache
def all_terms() -> tuple[Term, ...]:
    categories = tuple(
        Term(CATEGORIES, str(c), str(c).replace("_", " ").capitalize(), _CATEGORY_DESCRIPTIONS[c]) for c in Category
    )
    attributes = tuple(
        Term(ATTRIBUTES, code, code.replace("_", " ").capitalize(), text)
        for code, text in _ATTRIBUTE_DESCRIPTIONS.items()
    )
    return categories + attributes + _open_eligibility_terms()


@cache
def terms_by_id() -> dict[uuid.UUID, Term]:
    return {term.id: term for term in all_terms()}


def category_term(category: Category) -> Term:
    return terms_by_id()[term_id(CATEGORIES, str(category))]


def open_eligibility_term(category: Category) -> Term:
    return terms_by_id()[term_id(OPEN_ELIGIBILITY, OPEN_ELIGIBILITY_OF[category])]


def attribute_term(code: str) -> Term:
    return terms_by_id()[term_id(ATTRIBUTES, code)]


@cache
def _category_of_code() -> dict[tuple[str, str], Category]:
    known: dict[tuple[str, str], Category] = {(CATEGORIES.key, str(c)): c for c in Category}
    known |= {(OPEN_ELIGIBILITY.key, code): c for c, code in OPEN_ELIGIBILITY_OF.items()}
    known |= {(OPEN_ELIGIBILITY.key, code): c for code, c in _IMPORTED.items()}
    return known


def category_of(term: Term) -> Category | None:
    """The category a term names: itself, or its nearest ancestor that names one."""
    for code in _lineage(term):
        found = _category_of_code().get((term.taxonomy.key, code))
        if found is not None:
            return found
    return None


def categories_of_term(term: Term) -> set[Category]:
    """The categories whose offers carry this term or a term below it: the filter `taxonomy_term_id`
    finds services "with this term", and a service under Counseling is under Support Network too."""
    found = set()
    for category in Category:
        for carried in (category_term(category), open_eligibility_term(category)):
            if carried.taxonomy == term.taxonomy and _is_within(carried, term):
                found.add(category)
    return found


def _is_within(term: Term, ancestor: Term) -> bool:
    return ancestor.code in _lineage(term)


@cache
def _parents(taxonomy_key: str) -> dict[str, str | None]:
    return {t.code: t.parent_code for t in all_terms() if t.taxonomy.key == taxonomy_key}


def _lineage(term: Term) -> list[str]:
    """The term's code and its ancestors' codes, nearest first."""
    parents = _parents(term.taxonomy.key)
    found: list[str] = []
    code: str | None = term.code
    while code is not None:
        found.append(code)
        code = parents.get(code)
    return found
