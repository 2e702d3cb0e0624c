"""Allocating places: every need gets at most one offer, no offer gives more places than it has, no
person holds the same offer twice, and the total value is the best possible (checked against
trying every assignment on small cases)."""

from collections import Counter
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from matching import Candidate, Eligibility, Need, Offer, Person, allocate, allocate_all, is_eligible

Assignment = dict[str, str | None]


def value(assignment: Assignment, candidates: list[Candidate]) -> float:
    worth = {(c.need, c.offer): c.value for c in candidates}
    return sum(worth[need, offer] for need, offer in assignment.items() if offer is not None)


def broken_rules(
    assignment: Assignment, candidates: list[Candidate], capacity: dict[str, int], person_of: dict[str, str]
) -> list[str]:
    """What is wrong with an assignment, in words; empty when it keeps every rule."""
    wrong = []
    if set(assignment) != set(person_of):
        wrong.append(f"needs {sorted(assignment)} instead of {sorted(person_of)}")
    pairs = {(c.need, c.offer) for c in candidates}
    taken = [(need, offer) for need, offer in assignment.items() if offer is not None]
    wrong += [f"{need} got {offer}, not a candidate" for need, offer in taken if (need, offer) not in pairs]
    used = Counter(offer for _need, offer in taken)
    wrong += [
        f"{offer} used {n} times, has {capacity.get(offer, 0)}"
        for offer, n in used.items()
        if n > capacity.get(offer, 0)
    ]
    held = Counter((person_of[need], offer) for need, offer in taken)
    wrong += [f"{person} holds {offer} {n} times" for (person, offer), n in held.items() if n > 1]
    return wrong


def every_assignment(
    candidates: list[Candidate], capacity: dict[str, int], person_of: dict[str, str]
) -> Iterator[Assignment]:
    """Every assignment that keeps the rules, by trying each need with nothing or each of its offers."""
    needs = sorted(person_of)
    options = {need: [c.offer for c in candidates if c.need == need] for need in needs}

    def extend(n: int, chosen: Assignment, left: dict[str, int], held: set[tuple[str, str]]) -> Iterator[Assignment]:
        if n == len(needs):
            yield dict(chosen)
            return
        need = needs[n]
        chosen[need] = None
        yield from extend(n + 1, chosen, left, held)
        for offer in options[need]:
            key = (person_of[need], offer)
            if left[offer] > 0 and key not in held:
                chosen[need], left[offer] = offer, left[offer] - 1
                yield from extend(n + 1, chosen, left, held | {key})
                left[offer] += 1
        del chosen[need]

    yield from extend(0, {}, dict(capacity), set())


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[Candidate], dict[str, int], dict[str, str]]:
    """Up to 6 needs across up to 4 people, up to 4 offers of 0-2 places, values 1-7 on some pairs."""
    needs = [f"n{i}" for i in range(draw(st.integers(1, 6)))]
    offers = [f"o{i}" for i in range(draw(st.integers(1, 4)))]
    person_of = {need: f"p{draw(st.integers(0, 3))}" for need in needs}
    capacity = {offer: draw(st.integers(0, 2)) for offer in offers}
    pairs = draw(st.lists(st.sampled_from([(n, o) for n in needs for o in offers]), unique=True))
    candidates = [Candidate(need, offer, draw(st.integers(1, 7))) for need, offer in pairs]
    return candidates, capacity, person_of


@settings(deadline=None)
@given(cases())
def test_the_allocation_keeps_the_rules_and_reaches_the_best_total(
    case: tuple[list[Candidate], dict[str, int], dict[str, str]],
) -> None:
    candidates, capacity, person_of = case

    assignment = allocate(candidates, capacity, person_of)

    assert broken_rules(assignment, candidates, capacity, person_of) == []
    best = max(value(a, candidates) for a in every_assignment(candidates, capacity, person_of))
    assert value(assignment, candidates) == best


def test_an_offer_never_gives_more_places_than_it_has_and_they_go_where_they_are_worth_most() -> None:
    candidates = [Candidate("n1", "o", 1), Candidate("n2", "o", 7), Candidate("n3", "o", 4)]
    person_of = {"n1": "p1", "n2": "p2", "n3": "p3"}
    assert allocate(candidates, {"o": 2}, person_of) == {"n1": None, "n2": "o", "n3": "o"}


def test_an_offer_without_places_is_never_assigned() -> None:
    candidates = [Candidate("n1", "full", 7), Candidate("n1", "open", 1)]
    assert allocate(candidates, {"full": 0, "open": 1}, {"n1": "p1"}) == {"n1": "open"}


def test_one_person_never_gets_the_same_offer_twice_even_when_it_is_best_for_both_needs() -> None:
    candidates = [
        Candidate("job-1", "best", 5),
        Candidate("job-2", "best", 5),
        Candidate("job-2", "other", 1),
    ]
    assignment = allocate(candidates, {"best": 2, "other": 1}, {"job-1": "p", "job-2": "p"})
    assert sorted(offer for offer in assignment.values() if offer) == ["best", "other"]


def test_two_people_can_share_an_offer_with_two_places() -> None:
    candidates = [Candidate("n1", "o", 5), Candidate("n2", "o", 5)]
    assert allocate(candidates, {"o": 2}, {"n1": "p1", "n2": "p2"}) == {"n1": "o", "n2": "o"}


def test_every_need_appears_in_the_result_unassigned_ones_as_none() -> None:
    candidates = [Candidate("n1", "o", 3)]
    person_of = {"n1": "p1", "n2": "p1", "n3": "p2"}
    assert allocate(candidates, {"o": 1}, person_of) == {"n1": "o", "n2": None, "n3": None}


def test_no_candidates_leave_every_need_unassigned() -> None:
    assert allocate([], {"o": 3}, {"n1": "p1", "n2": "p2"}) == {"n1": None, "n2": None}


def test_allocate_all_assigns_only_offers_the_person_can_take() -> None:
    offers = [
        Offer("kitchen", "employment", "后厨帮工", "餐馆后厨招帮厨", capacity=2),
        Offer("women-only", "employment", "厨房帮工", "后厨切配", eligibility=Eligibility(genders=("female",))),
        Offer("paused", "employment", "厨师", "炒菜", status="paused"),
        Offer("adults", "employment", "Line cook", "Cook in a restaurant kitchen", eligibility=Eligibility(min_age=18)),
    ]
    need = "I want to work in a kitchen as a cook"
    people = [
        Person("man", gender="male", age=30, needs=(Need("n-man", "employment", need),)),
        Person("woman", gender="female", age=30, needs=(Need("n-woman", "employment", need),)),
        Person("teen", gender="male", age=16, needs=(Need("n-teen", "employment", need),)),
        Person("second", gender="male", age=40, needs=(Need("n-second", "employment", need, urgency=3),)),
    ]
    assignment = allocate_all(offers, people)

    assert sorted(assignment) == ["n-man", "n-second", "n-teen", "n-woman"]
    assert any(assignment.values())
    offer_of = {offer.id: offer for offer in offers}
    for person in people:
        for n in person.needs:
            given_offer = assignment[n.id]
            assert given_offer is None or is_eligible(person, offer_of[given_offer]), (n.id, given_offer)
