"""The seven hard rules, one at a time and at their edges: which offers a caseworker will never see
for a person, and the words that say why. The offer index must apply exactly the same rules."""

import math
import random
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import Eligibility, Location, Offer, OfferIndex, Person, failures, is_eligible
from matching.geo import distance_km
from matching.model import SLOTS

HOME = Location(34.2610, 108.9420)  # Beilin, Xi'an
ONE_DEGREE_NORTH = Location(35.2610, 108.9420)


def codes(person: Person, offer: Offer) -> list[str]:
    return [reason.code for reason in failures(person, offer)]


def only_reason(person: Person, offer: Offer) -> str:
    """The text of the single rule the offer fails."""
    found = failures(person, offer)
    assert len(found) == 1, found
    return found[0].text


def numbers_in(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", text))


def rules(**fields: Any) -> Offer:
    return Offer("o", title="Kitchen helper", eligibility=Eligibility(**fields))


def test_an_open_offer_with_room_and_no_rules_is_open_to_anyone() -> None:
    assert failures(Person("p"), Offer("o")) == []
    assert is_eligible(Person("p"), Offer("o"))


# Rule 1: open, with room


@pytest.mark.parametrize("status", ["paused", "closed", "draft"])
def test_an_offer_that_is_not_open_is_left_out_and_says_its_status(status: str) -> None:
    offer = Offer("o", status=status)
    assert codes(Person("p"), offer) == ["not_open"]
    assert status in only_reason(Person("p"), offer)
    assert not is_eligible(Person("p"), offer)


@pytest.mark.parametrize("capacity", [0, -1])
def test_an_offer_without_places_left_is_full(capacity: int) -> None:
    assert codes(Person("p"), Offer("o", capacity=capacity)) == ["full"]


def test_an_offer_with_one_place_left_is_still_open() -> None:
    assert is_eligible(Person("p"), Offer("o", capacity=1))


# Rule 2: age


@pytest.mark.parametrize("age", [18, 30, 55])
def test_ages_from_the_minimum_to_the_maximum_inclusive_are_eligible(age: int) -> None:
    assert is_eligible(Person("p", age=age), rules(min_age=18, max_age=55))


def test_one_year_under_the_minimum_age_is_too_young_and_says_both_ages() -> None:
    offer = rules(min_age=18, max_age=55)
    assert codes(Person("p", age=17), offer) == ["too_young"]
    assert {"18", "17"} <= numbers_in(only_reason(Person("p", age=17), offer))


def test_one_year_over_the_maximum_age_is_too_old_and_says_both_ages() -> None:
    offer = rules(min_age=18, max_age=55)
    assert codes(Person("p", age=56), offer) == ["too_old"]
    assert {"55", "56"} <= numbers_in(only_reason(Person("p", age=56), offer))


def test_a_person_whose_age_is_not_recorded_is_not_held_back_by_age_limits() -> None:
    assert is_eligible(Person("p"), rules(min_age=18, max_age=55))


# Rule 3: gender


def test_a_gender_outside_the_offers_list_is_left_out_and_the_list_is_named() -> None:
    offer = rules(genders=("female",))
    assert codes(Person("p", gender="male"), offer) == ["gender"]
    assert "female" in only_reason(Person("p", gender="male"), offer)


def test_a_gender_in_the_offers_list_is_eligible() -> None:
    assert is_eligible(Person("p", gender="female"), rules(genders=("male", "female")))


def test_a_person_whose_gender_is_not_recorded_is_not_held_back() -> None:
    assert is_eligible(Person("p"), rules(genders=("female",)))


def test_an_offer_without_a_gender_list_is_for_every_gender() -> None:
    assert is_eligible(Person("p", gender="male"), rules(genders=()))


# Rule 4: months in recovery


def test_exactly_the_required_months_in_recovery_are_enough() -> None:
    assert is_eligible(Person("p", months_in_recovery=6), rules(min_months_in_recovery=6))


def test_one_month_short_of_recovery_is_left_out_and_says_both_figures() -> None:
    offer = rules(min_months_in_recovery=36)
    assert codes(Person("p", months_in_recovery=35), offer) == ["recovery_time"]
    assert {"36", "35"} <= numbers_in(only_reason(Person("p", months_in_recovery=35), offer))


def test_unrecorded_months_in_recovery_count_as_none_at_all() -> None:
    assert codes(Person("p"), rules(min_months_in_recovery=1)) == ["recovery_time"]
    assert {"1", "0"} <= numbers_in(only_reason(Person("p"), rules(min_months_in_recovery=1)))
    assert is_eligible(Person("p"), rules(min_months_in_recovery=0))


# Rule 5: languages


def test_one_shared_language_is_enough() -> None:
    assert is_eligible(Person("p", languages=("en", "fr")), Offer("o", languages=("zh", "en")))


def test_no_shared_language_is_left_out_and_names_the_offers_languages() -> None:
    person, offer = Person("p", languages=("en",)), Offer("o", languages=("zh",))
    assert codes(person, offer) == ["language"]
    assert "zh" in only_reason(person, offer)


@pytest.mark.parametrize(("spoken", "offered"), [((), ("zh",)), (("en",), ())])
def test_languages_constrain_nothing_when_either_side_gives_none(spoken: tuple, offered: tuple) -> None:
    assert is_eligible(Person("p", languages=spoken), Offer("o", languages=offered))


# Rule 6: distance


def test_the_distance_is_measured_along_the_great_circle() -> None:
    assert distance_km(HOME, ONE_DEGREE_NORTH) == pytest.approx(111.195, abs=0.001)


def test_an_offer_exactly_at_the_travel_limit_is_eligible() -> None:
    limit = distance_km(HOME, ONE_DEGREE_NORTH)
    assert is_eligible(Person("p", location=HOME, max_travel_km=limit), Offer("o", location=ONE_DEGREE_NORTH))


def test_an_offer_a_hair_beyond_the_travel_limit_is_too_far() -> None:
    limit = math.nextafter(distance_km(HOME, ONE_DEGREE_NORTH), 0)
    person, offer = Person("p", location=HOME, max_travel_km=limit), Offer("o", location=ONE_DEGREE_NORTH)
    assert codes(person, offer) == ["too_far"]


def test_too_far_says_the_distance_and_the_limit() -> None:
    offer = Offer("o", location=Location(HOME.lat + 0.1277, HOME.lon))  # 14.2 km due north
    person = Person("p", location=HOME, max_travel_km=10)
    assert only_reason(person, offer) == "too far: 14.2 km, limit 10 km"


def test_a_remote_offer_is_never_too_far() -> None:
    offer = Offer("o", location=ONE_DEGREE_NORTH, remote=True)
    assert is_eligible(Person("p", location=HOME, max_travel_km=1), offer)


@pytest.mark.parametrize(
    ("home", "place", "limit"),
    [(None, ONE_DEGREE_NORTH, 1.0), (HOME, None, 1.0), (HOME, ONE_DEGREE_NORTH, None)],
    ids=["person without location", "offer without location", "no travel limit"],
)
def test_distance_constrains_nothing_when_a_location_or_the_limit_is_missing(
    home: Location | None, place: Location | None, limit: float | None
) -> None:
    assert is_eligible(Person("p", location=home, max_travel_km=limit), Offer("o", location=place))


# Rule 7: schedule


def test_one_shared_time_slot_is_enough() -> None:
    person = Person("p", availability=("weekday_evening", "weekend"))
    assert is_eligible(person, Offer("o", schedule=("weekday_day", "weekend")))


def test_no_shared_time_slot_is_left_out_and_names_the_offers_slots() -> None:
    person, offer = Person("p", availability=("weekday_day",)), Offer("o", schedule=("weekend",))
    assert codes(person, offer) == ["schedule"]
    assert "weekend" in only_reason(person, offer)


@pytest.mark.parametrize(("available", "schedule"), [((), ("weekend",)), (("weekend",), ())])
def test_schedule_constrains_nothing_when_either_side_gives_none(available: tuple, schedule: tuple) -> None:
    assert is_eligible(Person("p", availability=available), Offer("o", schedule=schedule))


# Several rules at once


def test_an_offer_failing_every_rule_reports_every_one_of_them() -> None:
    offer = Offer(
        "o",
        status="paused",
        languages=("zh",),
        location=ONE_DEGREE_NORTH,
        schedule=("weekend",),
        eligibility=Eligibility(min_age=18, genders=("female",), min_months_in_recovery=12),
    )
    person = Person(
        "p",
        age=17,
        gender="male",
        languages=("en",),
        location=HOME,
        max_travel_km=10,
        availability=("weekday_day",),
        months_in_recovery=3,
    )
    assert sorted(codes(person, offer)) == sorted(
        ["not_open", "too_young", "gender", "recovery_time", "language", "too_far", "schedule"]
    )


def test_a_full_offer_too_old_for_the_person_reports_both() -> None:
    offer = Offer("o", capacity=0, eligibility=Eligibility(max_age=25))
    assert sorted(codes(Person("p", age=40), offer)) == ["full", "too_old"]


# The offer index applies the same rules


def index_failures(person: Person, offers: list[Offer]) -> list[int]:
    index = OfferIndex().fit(offers)
    return index.failed_rule_counts(person, index.distances_km(person)).tolist()


# Seventy-four ISO 639-1 codes: the exchange format allows any of them, on offers and on people.
LANGUAGES = (
    "ar bg bn bo ca cs cy da de el en eo es et eu fa fi fr ga gl gu he hi hr hu hy id is it ja "
    "ka kk km kn ko ky lo lt lv mk ml mn mr ms my ne nl no pa pl ps pt ro ru si sk sl sq sr sv "
    "sw ta te tg th tl tr ug uk ur uz vi yi zh"
).split()


def test_the_index_applies_the_language_rule_to_a_catalogue_in_seventy_four_languages() -> None:
    catalogue = [Offer(f"o-{code}", title="Interpreter", languages=(code,)) for code in LANGUAGES]
    person = Person("p", languages=("zh", "ug"), gender="male")
    assert index_failures(person, catalogue) == [len(failures(person, offer)) for offer in catalogue]


ELSEWHERE = [Location(34.30 + n / 100, 108.90 - n / 50) for n in range(8)]


@pytest.mark.parametrize(
    ("home", "place"),
    [
        (HOME, ONE_DEGREE_NORTH),
        (Location(34.1177, 108.9842), Location(34.1202, 108.8633)),
        (Location(34.2709, 108.9667), Location(34.3497, 108.8554)),
        (Location(-35.1029, 170.2841), Location(12.9905, -60.4411)),
    ],
)
@pytest.mark.parametrize("nudge", [-1, 0, 1], ids=["limit a hair short", "limit exactly", "limit a hair long"])
def test_the_index_agrees_with_the_rules_at_the_exact_travel_limit(home: Location, place: Location, nudge: int) -> None:
    limit = distance_km(home, place)
    for _ in range(abs(nudge)):
        limit = math.nextafter(limit, math.copysign(math.inf, nudge))
    person = Person("p", location=home, max_travel_km=limit)
    # A catalogue of several offers, as numpy may compute long arrays differently from short ones.
    catalogue = [Offer(f"o{n}", title="Cook", location=there) for n, there in enumerate([place, *ELSEWHERE])]
    assert index_failures(person, catalogue) == [len(failures(person, offer)) for offer in catalogue]


def somewhere(seed: int) -> Location:
    """A place anywhere on earth, to four decimals as addresses are geocoded, spread evenly."""
    spread = random.Random(seed)
    return Location(round(spread.uniform(-80, 80), 4), round(spread.uniform(-180, 180), 4))


places = st.integers(0, 2**32).map(somewhere)


def subsets(values: tuple[str, ...]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(values), unique=True).map(tuple)


small = st.none() | st.integers(0, 80)
offers = st.builds(
    Offer,
    id=st.just(""),
    title=st.sampled_from(["Kitchen helper", "后厨帮工", "Security guard", "心理咨询"]),
    languages=subsets(("zh", "en", "fr")),
    location=st.none() | places,
    remote=st.booleans(),
    schedule=subsets(SLOTS),
    capacity=st.integers(-1, 3),
    status=st.sampled_from(["open", "open", "open", "paused", "closed", "draft"]),
    eligibility=st.builds(
        Eligibility,
        min_age=small,
        max_age=small,
        genders=subsets(("male", "female", "other")),
        min_months_in_recovery=st.none() | st.integers(0, 40),
    ),
)
# People may name a language or gender no offer mentions ("ru", "nonbinary").
people = st.builds(
    Person,
    id=st.just("p"),
    age=small,
    gender=st.none() | st.sampled_from(["male", "female", "other", "nonbinary"]),
    languages=subsets(("zh", "en", "fr", "ru")),
    location=st.none() | places,
    availability=subsets(SLOTS),
    months_in_recovery=st.none() | st.integers(0, 40),
)


@settings(deadline=None)
@given(catalogue=st.lists(offers, min_size=1, max_size=8), person=people, limit=st.none() | st.floats(0, 20_000))
def test_the_index_counts_exactly_the_rules_each_offer_fails(
    catalogue: list[Offer], person: Person, limit: float | None
) -> None:
    catalogue = [replace(offer, id=f"o{n}") for n, offer in enumerate(catalogue)]
    index = OfferIndex().fit(catalogue)
    # Besides the drawn travel limit, a limit of exactly the distance to each offer.
    exact = [distance_km(person.location, o.location) for o in catalogue if person.location and o.location]
    for max_travel_km in [limit, *exact]:
        someone = replace(person, max_travel_km=max_travel_km)

        counts = index.failed_rule_counts(someone, index.distances_km(someone)).tolist()

        assert counts == [len(failures(someone, offer)) for offer in catalogue], f"max_travel_km={max_travel_km!r}"
        assert [count == 0 for count in counts] == [is_eligible(someone, offer) for offer in catalogue]


@settings(deadline=None)
@given(home=places, destinations=st.lists(places, min_size=1, max_size=8, unique=True))
def test_the_index_agrees_with_the_rules_when_the_travel_limit_is_exactly_a_distance(
    home: Location, destinations: list[Location]
) -> None:
    # Vectorised and scalar sines may differ in the last bit, more often over long distances: a
    # limit of exactly the distance, or one bit under it, shows whether the index still agrees.
    catalogue = [Offer(f"o{n}", title="Cook", location=place) for n, place in enumerate(destinations)]
    index = OfferIndex().fit(catalogue)
    for place in destinations:
        exact = distance_km(home, place)
        for limit in (exact, math.nextafter(exact, 0)):
            person = Person("p", location=home, max_travel_km=limit)

            counts = index.failed_rule_counts(person, index.distances_km(person)).tolist()

            assert counts == [len(failures(person, offer)) for offer in catalogue], f"{home} to {place}, {limit!r} km"
