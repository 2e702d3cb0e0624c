"""Ranking offers for a need, as a caseworker reads the list: only offers the person can take, the
most fitting first across Chinese and English, each with its reasons, near misses apart, and an
index that follows offers as they change without being rebuilt."""

from dataclasses import replace
from typing import Any

import numpy as np

from matching import Eligibility, Location, Need, Offer, OfferIndex, Person, is_eligible, rank_all
from matching.features import TextFeatures, text_features
from matching.hours import hours_taken, offer_hours
from matching.vocabulary import concepts_in

HOME = Location(34.2610, 108.9420)
NEARBY = Location(34.2655, 108.9006)  # about 4 km west
FAR = Location(34.3800, 108.9420)  # about 13 km north

KITCHEN_NEED = Need("n-kitchen", "employment", "I used to cook in a restaurant kitchen and want a job as a cook")


def kitchen_job(offer_id: str, **fields: Any) -> Offer:
    return Offer(offer_id, "employment", "后厨帮工", "餐馆后厨招帮厨，负责切配、炒菜，包吃", **fields)


def cook(need: Need = KITCHEN_NEED, **fields: Any) -> Person:
    """Someone living in Beilin who will travel 10 km, unless told otherwise."""
    return Person("p", needs=(need,), **{"location": HOME, "max_travel_km": 10, **fields})


def ranked_ids(offers: list[Offer], person: Person, need: Need = KITCHEN_NEED, **options: Any) -> list[str]:
    return OfferIndex().fit(offers).rank(person, need, **options).offer_ids


def test_only_offers_the_person_can_take_are_ranked() -> None:
    person = cook(age=30, gender="male", languages=("zh",), months_in_recovery=6, availability=("weekday_day",))
    offers = [
        kitchen_job("ok", location=NEARBY),
        kitchen_job("paused", status="paused"),
        kitchen_job("full", capacity=0),
        kitchen_job("too-old", eligibility=Eligibility(max_age=25)),
        kitchen_job("women-only", eligibility=Eligibility(genders=("female",))),
        kitchen_job("needs-a-year", eligibility=Eligibility(min_months_in_recovery=12)),
        kitchen_job("english-only", languages=("en",)),
        kitchen_job("too-far", location=FAR),
        kitchen_job("weekends", schedule=("weekend",)),
    ]
    assert ranked_ids(offers, person) == ["ok"]


def test_a_ranking_holds_at_most_top_offers() -> None:
    offers = [kitchen_job(f"o{n:02}") for n in range(15)]
    assert len(ranked_ids(offers, cook())) == 10
    assert len(ranked_ids(offers, cook(), top=3)) == 3
    assert len(ranked_ids(offers[:2], cook(), top=5)) == 2


def test_the_same_offers_give_the_same_ranking_whatever_their_order() -> None:
    offers = [
        kitchen_job("a"),
        kitchen_job("b"),
        Offer("guard", "employment", "小区保安", "负责小区门卫巡逻"),
        kitchen_job("far", location=FAR),
        Offer("chef", "employment", "Line cook", "Cook in a busy restaurant kitchen", location=NEARBY),
    ]
    people = [cook(max_travel_km=20)]
    first = rank_all(offers, people, explain=True)
    assert rank_all(offers, people, explain=True) == first
    assert rank_all(offers[::-1], people, explain=True) == first


def test_equal_scores_are_ordered_by_offer_id() -> None:
    offers = [kitchen_job("b"), kitchen_job("a")]
    assert ranked_ids(offers, cook()) == ["a", "b"]
    assert ranked_ids(offers, cook(), top=1) == ["a"]


def test_an_english_need_finds_a_chinese_offer() -> None:
    offers = [
        Offer("guard", "employment", "小区保安", "负责小区门卫巡逻，夜班值守"),
        kitchen_job("kitchen"),
    ]
    assert ranked_ids(offers, cook()) == ["kitchen", "guard"]


def test_a_chinese_need_finds_an_english_offer() -> None:
    need = Need("n-driver", "employment", "我以前开过货车，有C1驾照，想找份司机的工作")
    offers = [
        Offer("cleaner", "employment", "Office cleaner", "Cleaning offices in the evening."),
        Offer("driver", "employment", "Delivery van driver", "Drive our van around the city; licence needed."),
    ]
    assert ranked_ids(offers, cook(need), need) == ["driver", "cleaner"]


def test_an_offer_of_an_adjacent_category_can_answer_a_need() -> None:
    need = Need("n-family", "family_support", "My teenage son and I argue all the time; we need help to reconcile.")
    offers = [
        Offer("interview", "counselling", "Job interview coaching", "Counselling to prepare for job interviews."),
        Offer("therapy", "counselling", "Family therapy", "A therapist helps parents and children resolve conflict."),
    ]
    ranking = OfferIndex().fit(offers).rank(cook(need), need)
    assert ranking.offer_ids == ["therapy", "interview"]
    assert "related_category" in [reason.code for reason in ranking.ranked[0].reasons]


def test_every_ranked_offer_has_a_score_and_reasons_in_words() -> None:
    offers = [kitchen_job("near", location=NEARBY), kitchen_job("remote", remote=True), kitchen_job("anywhere")]
    ranking = OfferIndex().fit(offers).rank(cook(), KITCHEN_NEED)
    assert sorted(ranking.offer_ids) == ["anywhere", "near", "remote"]
    for item in ranking.ranked:
        assert item.score > 0
        assert item.reasons
        assert all(reason.text.strip() for reason in item.reasons)


def test_an_offer_failing_only_the_distance_rule_is_a_near_miss_saying_too_far() -> None:
    offers = [
        kitchen_job("near", location=NEARBY),
        kitchen_job("far", location=FAR),
        kitchen_job("far-and-paused", location=FAR, status="paused"),
    ]
    ranking = OfferIndex().fit(offers).rank(cook(), KITCHEN_NEED, near_misses=3)
    assert ranking.offer_ids == ["near"]
    assert [miss.offer_id for miss in ranking.near_misses] == ["far"]
    assert [reason.code for reason in ranking.near_misses[0].failures] == ["too_far"]
    assert ranking.near_misses[0].failures[0].text.startswith("too far: ")


def test_near_misses_are_only_given_when_asked_for() -> None:
    offers = [kitchen_job("near", location=NEARBY), kitchen_job("far", location=FAR)]
    assert OfferIndex().fit(offers).rank(cook(), KITCHEN_NEED).near_misses == ()


def test_upserting_a_full_or_paused_offer_drops_it_from_the_next_ranking() -> None:
    index = OfferIndex().fit([kitchen_job("a"), kitchen_job("b"), kitchen_job("c")])
    assert index.rank(cook(), KITCHEN_NEED).offer_ids == ["a", "b", "c"]

    index.upsert(kitchen_job("a", capacity=0))
    index.upsert(kitchen_job("b", status="paused"))

    assert index.rank(cook(), KITCHEN_NEED).offer_ids == ["c"]


def test_upserting_a_new_offer_adds_it_and_removing_an_offer_forgets_it() -> None:
    index = OfferIndex().fit([kitchen_job("a"), Offer("guard", "employment", "小区保安", "负责小区门卫巡逻")])

    index.upsert(kitchen_job("new"))
    assert index.rank(cook(), KITCHEN_NEED).offer_ids == ["a", "new", "guard"]

    index.remove("a")
    assert index.rank(cook(), KITCHEN_NEED).offer_ids == ["new", "guard"]
    # The offers after the removed one are still found under their own ids.
    index.upsert(replace(index.offers_[index.position_["guard"]], status="closed"))
    assert index.rank(cook(), KITCHEN_NEED).offer_ids == ["new"]


def test_an_offer_upserted_in_a_language_first_seen_after_fit_follows_the_language_rule() -> None:
    index = OfferIndex().fit([kitchen_job("zh", languages=("zh",))])
    index.upsert(Offer("en", "employment", "Line cook", "Restaurant kitchen", languages=("en",)))
    index.upsert(Offer("fr", "employment", "Commis de cuisine", "Cook in a bistro kitchen", languages=("fr",)))
    assert index.rank(cook(languages=("en",)), KITCHEN_NEED).offer_ids == ["en"]


def test_removing_an_unknown_offer_changes_nothing() -> None:
    index = OfferIndex().fit([kitchen_job("a")])
    index.remove("never-there")
    assert index.rank(cook(), KITCHEN_NEED).offer_ids == ["a"]


def test_upsert_and_remove_keep_the_weights_learnt_at_fit() -> None:
    index = OfferIndex().fit([kitchen_job("a"), kitchen_job("b")])
    idf, concept_idf = index.idf_.copy(), index.concept_idf_.copy()

    index.upsert(Offer("new", "training", "Barista course", "Learn espresso and latte art in six weeks"))
    index.upsert(kitchen_job("a", status="paused"))
    index.remove("b")

    assert np.array_equal(index.idf_, idf) and np.array_equal(index.concept_idf_, concept_idf)


def test_a_catalogue_without_offers_ranks_nothing() -> None:
    rankings = rank_all([], [cook()], near_misses=3, explain=True)
    assert list(rankings) == [KITCHEN_NEED.id]
    assert rankings[KITCHEN_NEED.id].ranked == ()


def test_an_offer_with_nothing_but_an_id_can_be_ranked() -> None:
    assert rank_all([Offer("bare")], [cook()])[KITCHEN_NEED.id].offer_ids == ["bare"]


def test_an_index_begun_empty_takes_offers_later() -> None:
    index = OfferIndex().fit([])
    index.upsert(kitchen_job("kitchen"))
    index.upsert(Offer("guard", "employment", "小区保安", "负责小区门卫巡逻"))
    assert index.rank(cook(), KITCHEN_NEED).offer_ids == ["kitchen", "guard"]


def test_rank_all_ranks_every_need_of_every_person_with_eligible_offers_only() -> None:
    offers = [kitchen_job("kitchen"), kitchen_job("women-only", eligibility=Eligibility(genders=("female",)))]
    people = [
        cook(gender="male"),
        Person("q", gender="female", needs=(Need("n-q1", "employment", "厨房的工作"), Need("n-q2", "housing", ""))),
    ]
    rankings = rank_all(offers, people)
    assert sorted(rankings) == ["n-kitchen", "n-q1", "n-q2"]
    for person in people:
        for need in person.needs:
            ranked = [offer for offer in offers if offer.id in rankings[need.id].offer_ids]
            assert ranked and all(is_eligible(person, offer) for offer in ranked)
    assert rankings["n-kitchen"].offer_ids == ["kitchen"]


def test_bringing_children_along_is_not_read_as_childcare() -> None:
    assert "childcare" in concepts_in("孩子放学后没人看孩子，需要课后托管")
    assert "childcare" not in concepts_in("亲子工作坊，可以带孩子参加下半场的游戏")


def test_recovery_talk_is_not_read_as_jobs_or_infections() -> None:
    """'Staying clean' is not a cleaning job, 'still' is not an STI, a 'moment' is not a mum."""
    found = concepts_in("Three years clean, still going to meetings; some moments are hard.")
    assert not {"cleaning", "hiv", "parenting"} & set(found)
    assert {"cleaning", "hiv"} <= set(concepts_in("Office cleaner wanted. Free STI testing."))


def cleaning_job(offer_id: str, hours: str, **fields: Any) -> Offer:
    return Offer(offer_id, "employment", "Cleaner", f"Cleaning offices and corridors. {hours}", **fields)


def test_a_job_starting_early_falls_below_one_that_fits_a_school_run() -> None:
    school_run = Need("n-clean", "employment", "Any cleaning job, but she does the school run every morning.")
    offers = [cleaning_job("a-early", "Early shift from 7 am."), cleaning_job("b-regular", "Regular weekday hours.")]
    ranking = OfferIndex().fit(offers).rank(cook(school_run), school_run)
    assert ranking.offer_ids == ["b-regular", "a-early"]
    clash = [reason for reason in ranking.ranked[1].reasons if reason.code == "hours_clash"]
    assert clash and clash[0].values == {"hours": ["early_start"]}
    assert not any(reason.code == "hours_clash" for reason in ranking.ranked[0].reasons)


def test_a_morning_methadone_dose_clashes_with_a_nine_to_five_job_in_chinese() -> None:
    dosing = Need("n-dose", "employment", "每天早上要先去服药，九点前到不了单位，想找份保洁的活。")
    offers = [
        Offer("a-office", "employment", "保洁", "负责楼道保洁，朝九晚五。"),
        Offer("b-weekdays", "employment", "保洁", "负责楼道保洁，周一到周五。"),
    ]
    assert ranked_ids(offers, cook(dosing), dosing) == ["b-weekdays", "a-office"]


def test_without_a_stated_constraint_early_hours_cost_nothing() -> None:
    anyone = Need("n-any", "employment", "Any cleaning job nearby.")
    offers = [cleaning_job("b-early", "Early shift from 7 am."), cleaning_job("a-regular", "Regular weekday hours.")]
    ranking = OfferIndex().fit(offers).rank(cook(anyone), anyone)
    assert not any(reason.code == "hours_clash" for ranked in ranking.ranked for reason in ranked.reasons)


def test_hours_are_read_as_a_job_states_them() -> None:
    assert offer_hours("employment", "流水线包装，月休四天，包吃住") == {"long_hours"}
    assert offer_hours("employment", "Night shift, 10 pm to 6 am") == {"night_work"}
    assert offer_hours("employment", "不加班，不上夜班，双休") == frozenset()
    # A clinic's opening hours are a window to come in, not a shift to keep.
    assert offer_hours("health", "早上8点开门，周末也开") == frozenset()
    assert hours_taken("傍晚要接孩子放学，只能干白天的活") == {"evenings_taken", "days_only"}
    assert hours_taken("I can work any hours, mornings included.") == frozenset()


def peer_group(offer_id: str, **fields: Any) -> Offer:
    return Offer(
        offer_id,
        "peer_support",
        "Recovery group",
        "A weekly recovery group: talk, listen, keep each other on track.",
        **fields,
    )


def test_a_group_reserved_for_women_comes_first_for_a_woman_asking_to_meet_women() -> None:
    wish = Need("n-peers", "peer_support", "She would like to meet other women in recovery to talk to.")
    offers = [peer_group("a-open"), peer_group("b-women", eligibility=Eligibility(genders=("female",)))]
    ranking = OfferIndex().fit(offers).rank(cook(wish, gender="female"), wish)
    assert ranking.offer_ids == ["b-women", "a-open"]
    assert any(r.code == "reserved_as_asked" and r.values == {"group": "women"} for r in ranking.ranked[0].reasons)


def test_a_reserved_group_gets_no_preference_when_the_need_does_not_ask_for_it() -> None:
    wish = Need("n-peers", "peer_support", "He would like a recovery group to talk to.")
    offers = [peer_group("a-open"), peer_group("b-men", eligibility=Eligibility(genders=("male",)))]
    ranking = OfferIndex().fit(offers).rank(cook(wish, gender="male"), wish)
    assert ranking.offer_ids == ["a-open", "b-men"]
    assert ranking.ranked[0].score == ranking.ranked[1].score


def test_family_therapy_answers_a_family_conflict_need() -> None:
    """Seeing the family together is what a quarrel at home calls for, more than one-to-one talk
    about conflict."""
    quarrel = Need(
        "n-home", "counselling", "He argues with his father every day; they would both come to sessions together."
    )
    offers = [
        Offer("a-one", "counselling", "Counselling", "One-to-one sessions about conflict and anger."),
        Offer("b-family", "counselling", "家庭治疗", "治疗师同时面谈，每周一次。"),
    ]
    assert ranked_ids(offers, cook(quarrel), quarrel)[0] == "b-family"


def test_eligible_ids_are_every_offer_the_person_can_take_unscored() -> None:
    offers = [
        kitchen_job("b-near", location=NEARBY),
        kitchen_job("c-far", location=FAR),
        kitchen_job("a-near", location=NEARBY),
    ]
    person = cook()
    index = OfferIndex().fit([*offers, Offer("d-counselling", "counselling", "Counselling", location=NEARBY)])
    assert index.eligible_ids(person, "employment") == ["a-near", "b-near"]
    assert index.eligible_ids(person) == ["a-near", "b-near", "d-counselling"]
    assert [o.id for o in offers if is_eligible(person, o)] == ["b-near", "a-near"]


def test_hours_are_read_in_everyday_words_too() -> None:
    assert hours_taken("每天早上去喝药，然后接送孩子上下学") == {"mornings_taken", "evenings_taken"}
    assert hours_taken("I take the kids to school, then I am free until three.") == {"mornings_taken"}
    assert offer_hours("employment", "Shift starts 7:30 am, Monday to Friday") == {"early_start"}
    assert offer_hours("employment", "Evening shift, 7:00 pm to 11 pm") == {"night_work"}


def mixed_catalogue() -> list[Offer]:
    return [
        kitchen_job("kitchen", location=NEARBY),
        Offer("cook-en", "employment", "Line cook", "Hotel kitchen, cooking breakfasts", languages=("en",)),
        Offer("guard", "employment", "小区保安", "负责小区门卫巡逻"),
        Offer("room", "housing", "过渡性住房", "中途之家床位，押金减免"),
        Offer("course", "training", "厨师培训", "免费厨师培训课程，考证"),
    ]


def test_an_index_from_stored_features_ranks_as_one_fitted_on_the_offers() -> None:
    offers = mixed_catalogue()
    fitted = OfferIndex().fit(offers)
    stored = [
        TextFeatures.from_stored(f.ngram_bytes(), dict(f.concepts), sorted(f.hours), f.vector_bytes())
        for f in text_features(offers)
    ]
    assembled = OfferIndex.from_features(offers, stored)
    for need in (
        KITCHEN_NEED,
        Need("n-zh", "employment", "想找厨房的工作，做过厨师"),
        Need("n-h", "housing", "需要住处"),
    ):
        person = cook(need)
        assert assembled.rank(person, need) == fitted.rank(person, need)


def test_an_updated_index_leaves_the_one_it_came_from_as_it_was() -> None:
    offers = mixed_catalogue()
    index = OfferIndex().fit(offers)
    before = index.rank(cook(), KITCHEN_NEED)
    paused = replace(offers[0], status="paused")
    renamed = Offer("guard", "employment", "Kitchen porter", "Washing up in a restaurant kitchen")
    new = index.updated([(paused, None), (renamed, text_features([renamed])[0])], removed=["course"])

    assert index.rank(cook(), KITCHEN_NEED) == before
    assert "kitchen" in before.offer_ids and "course" in before.offer_ids
    after = new.rank(cook(), KITCHEN_NEED).offer_ids
    assert "kitchen" not in after and "course" not in after and "guard" in after


def test_a_shared_meaning_names_the_words_that_matched_on_each_side() -> None:
    """What a caseworker reads is the need's own words and the offer's, not only a concept's name."""
    ranking = OfferIndex().fit([kitchen_job("a")]).rank(cook(), KITCHEN_NEED)
    (shared,) = [reason for reason in ranking.ranked[0].reasons if reason.code == "shared_meaning"]
    assert shared.values["need_words"] and shared.values["offer_words"]
    need_words, offer_words = shared.values["need_words"], shared.values["offer_words"]
    assert isinstance(need_words, list) and all(word in KITCHEN_NEED.description.lower() for word in need_words)
    offer_text = "后厨帮工\n餐馆后厨招帮厨，负责切配、炒菜，包吃"
    assert isinstance(offer_words, list) and all(word in offer_text for word in offer_words)
