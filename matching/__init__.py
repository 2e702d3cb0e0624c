"""The matching engine: a pure library (no Flask, no database) that ranks the offers a person
can really use for each of their needs, says why, and allocates limited places exactly."""

from matching.allocation import Candidate, allocate
from matching.eligibility import failures, is_eligible
from matching.engine import allocate_all, rank_all
from matching.index import OfferIndex
from matching.model import Eligibility, Location, NearMiss, Need, Offer, Person, RankedOffer, Ranking, Reason

__all__ = [
    "Candidate",
    "Eligibility",
    "Location",
    "NearMiss",
    "Need",
    "Offer",
    "OfferIndex",
    "Person",
    "RankedOffer",
    "Ranking",
    "Reason",
    "allocate",
    "allocate_all",
    "failures",
    "is_eligible",
    "rank_all",
]
