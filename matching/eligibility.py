"""The seven hard rules of the match exchange format: an offer either passes all, or it is left out
with every rule it failed and by how much, so that a caseworker can see near misses."""

from matching.geo import distance_km
from matching.model import Offer, Person, Reason


def failures(person: Person, offer: Offer) -> list[Reason]:
    """Every rule this offer fails for this person; empty when the offer is eligible."""
    found: list[Reason] = []
    if offer.status != "open":
        found.append(Reason("not_open", f"not open: {offer.status}", {"status": offer.status}))
    elif offer.capacity <= 0:
        found.append(Reason("full", "full", {}))
    rules = offer.eligibility
    if person.age is not None:
        if rules.min_age is not None and person.age < rules.min_age:
            found.append(
                Reason(
                    "too_young",
                    f"needs age {rules.min_age} or over, is {person.age}",
                    {"min_age": rules.min_age, "age": person.age},
                )
            )
        if rules.max_age is not None and person.age > rules.max_age:
            found.append(
                Reason(
                    "too_old",
                    f"needs age {rules.max_age} or under, is {person.age}",
                    {"max_age": rules.max_age, "age": person.age},
                )
            )
    if rules.genders and person.gender is not None and person.gender not in rules.genders:
        allowed = ", ".join(rules.genders)
        found.append(Reason("gender", f"for {allowed} only", {"genders": list(rules.genders)}))
    months = person.months_in_recovery or 0
    if rules.min_months_in_recovery is not None and months < rules.min_months_in_recovery:
        found.append(
            Reason(
                "recovery_time",
                f"needs {rules.min_months_in_recovery} months in recovery, has {months}",
                {"required": rules.min_months_in_recovery, "months": months},
            )
        )
    if offer.languages and person.languages and not set(offer.languages) & set(person.languages):
        found.append(Reason("language", f"in {', '.join(offer.languages)} only", {"languages": list(offer.languages)}))
    if not offer.remote and offer.location and person.location and person.max_travel_km is not None:
        km = distance_km(person.location, offer.location)
        if km > person.max_travel_km:
            found.append(
                Reason(
                    "too_far",
                    f"too far: {km:.1f} km, limit {person.max_travel_km:g} km",
                    {"km": round(km, 1), "limit_km": person.max_travel_km},
                )
            )
    if offer.schedule and person.availability and not set(offer.schedule) & set(person.availability):
        found.append(Reason("schedule", f"only {', '.join(offer.schedule)}", {"schedule": list(offer.schedule)}))
    return found


def is_eligible(person: Person, offer: Offer) -> bool:
    return not failures(person, offer)
