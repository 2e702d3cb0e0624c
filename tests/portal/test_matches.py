"""The portal's side of matching: rows become the engine's dataclasses, and the index follows offers."""

import re
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

import matching
from matching.features import SCHEME, STORED_SCHEME
from portal.db import get_engine
from portal.matches import services
from portal.migrations import downgrade, upgrade
from portal.models import Need, Offer, OfferFeatures, OfferStatus, Organization, Person, Referral, Role, User
from portal.offers import services as offer_services
from portal.offers.forms import OfferForm
from portal.organizations.services import verify_organization
from tests.conftest import consent_to_every_recipient, keyed, revision_before

TODAY = date(2026, 11, 28)
SUMMARY = "Looking for kitchen work."
Login = Callable[[User], FlaskClient]


@pytest.fixture
def person(session: Session, make_user: Callable[..., User]) -> Person:
    return a_cook(session, make_user)


def a_cook(session: Session, make_user: Callable[..., User]) -> Person:
    """A man in Beilin who cooks, in community rehabilitation, consenting to every recipient."""
    caseworker = make_user(Role.CASEWORKER)
    person = Person(
        code="XA-T-0001",
        full_name="测试 人员",
        caseworker_id=caseworker.id,
        birth_date=date(1990, 12, 1),
        gender="male",
        languages=["zh", "en"],
        latitude=34.2610,
        longitude=108.9420,
        max_travel_km=12,
        availability=["weekday_day", "weekend"],
        programme="community_rehab",
        programme_start=date(2025, 9, 28),
        skills=["cooking"],
    )
    session.add(person)
    session.commit()
    consent_to_every_recipient(session, person)
    return person


@pytest.fixture
def kitchen_need(session: Session, person: Person) -> Need:
    return a_kitchen_need(session, person)


def a_kitchen_need(session: Session, person: Person) -> Need:
    return a_need(
        session,
        person,
        "employment",
        "Eight years as a line cook in a hotel kitchen; wants kitchen work close to home.",
    )


def a_need(session: Session, person: Person, category: str, description: str) -> Need:
    need = Need(person_id=person.id, category=category, urgency=3, description=description)
    session.add(need)
    session.commit()
    return need


def job(**fields: object) -> dict[str, object]:
    return {
        "category": "employment",
        "employment_type": "full_time",
        "fair_chance_statement": "欢迎康复期人员应聘。",
        "languages": ["zh"],
        "schedule": ["weekday_day"],
        "capacity": 2,
        "latitude": 34.2655,
        "longitude": 108.9006,
        **fields,
    }


def post(session: Session, owner: User, **fields: object) -> Offer:
    offer = offer_services.create_offer(session, owner, OfferForm.model_validate(job(**fields)))
    return offer_services.change_status(session, owner, offer, "publish")


def ranked_titles(session: Session, live: services.LiveIndex, need: Need) -> list[str]:
    return [match.offer.title for match in services.rank_need(session, live, need, today=TODAY).ranked]


def test_person_row_becomes_the_engine_person(person: Person, kitchen_need: Need) -> None:
    engine = services.to_engine_person(person, [kitchen_need], TODAY)
    assert engine.age == 35  # birthday on 1 December not reached yet
    assert engine.months_in_recovery == 14
    assert engine.location is not None and engine.max_travel_km == 12
    assert engine.needs[0].urgency == 3 and engine.needs[0].category == "employment"


def test_months_and_age_boundaries() -> None:
    assert services.months_between(date(2026, 1, 31), date(2026, 2, 28)) == 0
    assert services.months_between(date(2026, 1, 31), date(2026, 3, 1)) == 1
    assert services.months_between(date(2027, 1, 1), TODAY) == 0
    assert services.age_on(date(2000, 11, 28), TODAY) == 26


def test_an_english_need_finds_a_chinese_kitchen_job_first(
    session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    employer = make_user(Role.PROVIDER)
    post(session, employer, title="小区保安（夜班）", description="负责小区门岗和夜间巡逻。")
    post(session, employer, title="后厨帮工（泡馍馆）", description="择菜、切配、备料，收拾灶台和后厨卫生。")
    titles = ranked_titles(session, services.LiveIndex(), kitchen_need)
    assert titles[0] == "后厨帮工（泡馍馆）"
    match = services.rank_need(session, services.LiveIndex(), kitchen_need, today=TODAY).ranked[0]
    assert match.score > 0 and any(reason.code == "shared_meaning" for reason in match.reasons)
    # The words that matched, on each side: the need's own, and the offer's from its title and description.
    (shared,) = [reason for reason in match.reasons if reason.code == "shared_meaning"]
    assert "kitchen" in shared.values["need_words"]  # type: ignore[operator]
    offer_words = shared.values["offer_words"]
    assert isinstance(offer_words, list) and offer_words
    assert all(word in "后厨帮工（泡馍馆）择菜、切配、备料，收拾灶台和后厨卫生。" for word in offer_words)


def test_the_index_follows_offer_changes_in_any_process(
    session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    """Two workers, two indexes: a change made anywhere shows in both at the next ranking."""
    employer = make_user(Role.PROVIDER)
    first, second = services.LiveIndex(), services.LiveIndex()
    kitchen = post(session, employer, title="后厨帮工", description="切配、备料。")
    assert ranked_titles(session, first, kitchen_need) == ["后厨帮工"]
    assert ranked_titles(session, second, kitchen_need) == ["后厨帮工"]
    weights = first.index.idf_ if first.index else None

    offer_services.change_status(session, employer, kitchen, "pause")
    assert ranked_titles(session, second, kitchen_need) == []
    offer_services.change_status(session, employer, kitchen, "reopen")
    assert ranked_titles(session, second, kitchen_need) == ["后厨帮工"]

    full = OfferForm.model_validate(
        job(title="后厨帮工", description="切配、备料。", capacity=0, version=kitchen.version)
    )
    offer_services.update_offer(session, employer, session.get(Offer, kitchen.id), full)  # type: ignore[arg-type]
    assert ranked_titles(session, first, kitchen_need) == []

    post(session, employer, title="食堂厨师", description="单位食堂炒菜。")
    assert ranked_titles(session, first, kitchen_need) == ["食堂厨师"]
    offer_services.change_status(session, employer, kitchen, "close")
    assert ranked_titles(session, second, kitchen_need) == ["食堂厨师"]
    assert first.index is not None and first.index.idf_ is weights  # updated, never assembled again


def test_two_rankings_in_one_worker_run_at_the_same_time(
    app: Flask,
    session: Session,
    make_user: Callable[..., User],
    kitchen_need: Need,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No lock orders the rankings of a worker: each ranks on the snapshot it began with. Each
    ranking here waits inside the engine until the other is there too, which a lock never allows."""
    post(session, make_user(Role.PROVIDER), title="后厨帮工", description="切配、备料。")
    live, answers, both_ranking = services.LiveIndex(), [], threading.Barrier(2, timeout=10)
    services.rank_need(session, live, kitchen_need, today=TODAY)  # the worker's first ranking
    rank = matching.OfferIndex.rank

    def meeting(index: matching.OfferIndex, *args: Any, **kwargs: Any) -> matching.Ranking:
        both_ranking.wait()
        return rank(index, *args, **kwargs)

    monkeypatch.setattr(matching.OfferIndex, "rank", meeting)

    def request() -> None:
        # A GET request's session: it reads without taking SQLite's write lock.
        with Session(get_engine(app).execution_options(read_only=True)) as own:
            need = own.get(Need, kitchen_need.id)
            assert need is not None
            answers.append(ranked_titles(own, live, need))

    requests = [threading.Thread(target=request) for _ in range(2)]
    for thread in requests:
        thread.start()
    for thread in requests:
        thread.join()
    assert answers == [["后厨帮工"], ["后厨帮工"]]


def test_pending_organizations_and_drafts_are_never_matched(
    session: Session,
    make_user: Callable[..., User],
    make_organization: Callable[..., Organization],
    kitchen_need: Need,
) -> None:
    pending = make_organization(verified=False)
    pending_staff = make_user(Role.PROVIDER, organization=pending)
    post(session, pending_staff, title="厨房帮工（待审核机构）", description="后厨切配。")
    verified_staff = make_user(Role.PROVIDER)
    offer_services.create_offer(
        session, verified_staff, OfferForm.model_validate(job(title="厨房草稿", description="后厨切配。"))
    )
    live = services.LiveIndex()
    assert ranked_titles(session, live, kitchen_need) == []
    verify_organization(session, make_user(Role.ADMIN), pending)
    assert ranked_titles(session, live, kitchen_need) == ["厨房帮工（待审核机构）"]


def test_near_misses_say_which_rule_failed(
    session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    employer = make_user(Role.PROVIDER)
    post(session, employer, title="后厨帮工（夜班）", description="后厨切配。", schedule=["weekday_evening"])
    result = services.rank_need(session, services.LiveIndex(), kitchen_need, today=TODAY)
    assert result.ranked == []
    ((offer, failures),) = result.near_misses
    assert offer.title == "后厨帮工（夜班）" and [f.code for f in failures] == ["schedule"]


def test_paused_offers_stay_out_even_when_relevant(
    session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    employer = make_user(Role.PROVIDER)
    offer = post(session, employer, title="后厨帮工", description="后厨切配。")
    offer_services.change_status(session, employer, offer, "pause")
    assert session.get(Offer, offer.id).status == OfferStatus.PAUSED  # type: ignore[union-attr]
    assert ranked_titles(session, services.LiveIndex(), kitchen_need) == []


HTMX = {"HX-Request": "true"}


def test_the_caseworker_sees_ranked_offers_with_reasons_and_near_misses(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    employer = make_user(Role.PROVIDER)
    post(session, employer, title="后厨帮工", description="后厨切配、炒菜。")
    post(session, employer, title="夜班后厨", description="后厨切配。", schedule=["weekday_evening"])
    caseworker = session.get(User, session.get(Person, kitchen_need.person_id).caseworker_id)  # type: ignore[union-attr]
    login(caseworker)  # type: ignore[arg-type]
    html = client.get(f"/matches/needs/{kitchen_need.id}").get_data(as_text=True)
    assert "后厨帮工" in html and "Same category: Employment" in html and "Both about:" in html
    assert "Near misses" in html and "夜班后厨" in html and "Only at Weekday evenings" in html


def test_approving_without_javascript_redirects_and_with_htmx_swaps_the_list(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    employer = make_user(Role.PROVIDER)
    first = post(session, employer, title="后厨帮工", description="后厨切配、炒菜。")
    second = post(session, employer, title="食堂厨师", description="食堂炒菜。")
    caseworker = session.get(User, session.get(Person, kitchen_need.person_id).caseworker_id)  # type: ignore[union-attr]
    login(caseworker)  # type: ignore[arg-type]
    url = f"/matches/needs/{kitchen_need.id}"
    response = client.post(f"{url}/approve", data=keyed(offer_id=str(first.id), summary=SUMMARY))
    assert response.status_code == 303 and response.headers["Location"] == url
    assert "Referral sent to the provider." in client.get(url).get_data(as_text=True)
    response = client.post(f"{url}/approve", data=keyed(offer_id=str(second.id), summary=SUMMARY), headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<section id="match-list"')
    assert "Sent to provider" in html
    session.commit()  # end the test's read snapshot before looking again
    assert len(session.exec(select(Referral).where(Referral.need_id == kitchen_need.id)).all()) == 2


def test_setting_an_offer_aside_needs_a_reason(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    offer = post(session, make_user(Role.PROVIDER), title="后厨帮工", description="后厨切配。")
    caseworker = session.get(User, session.get(Person, kitchen_need.person_id).caseworker_id)  # type: ignore[union-attr]
    login(caseworker)  # type: ignore[arg-type]
    url = f"/matches/needs/{kitchen_need.id}/dismiss"
    assert client.post(url, data={"offer_id": str(offer.id)}, headers=HTMX).status_code == 422
    html = client.post(url, data={"offer_id": str(offer.id), "reason": "already_tried"}, headers=HTMX).get_data(
        as_text=True
    )
    assert "Set aside" in html and "Approve referral" not in html


def test_another_caseworkers_need_is_not_found(
    client: FlaskClient, login: Login, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    login(make_user(Role.CASEWORKER))
    assert client.get(f"/matches/needs/{kitchen_need.id}").status_code == 404
    assert client.post(f"/matches/needs/{kitchen_need.id}/approve", data={"offer_id": "x"}).status_code == 404


def test_reasons_read_in_chinese_for_a_chinese_reader(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    post(session, make_user(Role.PROVIDER), title="后厨帮工", description="后厨切配、炒菜。")
    caseworker = session.get(User, session.get(Person, kitchen_need.person_id).caseworker_id)  # type: ignore[union-attr]
    assert caseworker is not None
    caseworker.locale = "zh"
    session.commit()
    login(caseworker)
    html = client.get(f"/matches/needs/{kitchen_need.id}").get_data(as_text=True)
    assert "烹饪后厨" in html and "cooking" not in html


def test_a_job_whose_hours_clash_with_the_need_says_so_in_the_readers_language(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], person: Person
) -> None:
    school_run = Need(
        person_id=person.id,
        category="employment",
        urgency=2,
        description="想找后厨的活，但每天早上要送孩子上学。",
    )
    session.add(school_run)
    session.commit()
    employer = make_user(Role.PROVIDER)
    post(session, employer, title="早班后厨", description="后厨切配，早上7点上班。")
    post(session, employer, title="后厨帮工", description="后厨切配，上午十点上班。")
    caseworker = session.get(User, person.caseworker_id)
    assert caseworker is not None
    login(caseworker)
    html = client.get(f"/matches/needs/{school_run.id}").get_data(as_text=True)
    assert html.index("后厨帮工") < html.index("早班后厨")
    assert "Hours clash with what they said they cannot do: starts early" in html
    caseworker.locale = "zh"
    session.commit()
    html = client.get(f"/matches/needs/{school_run.id}").get_data(as_text=True)
    assert "工作时间与本人说明的限制冲突：上班早" in html


def test_a_person_who_refused_ranked_suggestions_gets_eligible_offers_unscored_by_title(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    employer = make_user(Role.PROVIDER)
    post(session, employer, title="Zhongshan canteen cook", description="Kitchen work: a line cook in a hotel kitchen.")
    post(session, employer, title="后厨帮工", description="后厨切配。")
    post(session, employer, title="Another kitchen", description="后厨切配。", schedule=["weekday_evening"])
    courier = post(session, employer, title="Courier", description="Deliver parcels.")
    post(session, make_user(Role.PROVIDER), category="counselling", title="Art therapy", description="Kitchen talk.")
    person = session.get(Person, kitchen_need.person_id)
    assert person is not None
    caseworker = session.get(User, person.caseworker_id)
    assert caseworker is not None
    login(caseworker)
    form = client.get(f"/people/{person.id}/edit").get_data(as_text=True)
    assert 'name="refuses_ranked_suggestions"' in form and "PIPL Art. 24" in form

    ranked = client.get(f"/matches/needs/{kitchen_need.id}").get_data(as_text=True)
    assert "Score " in ranked and ranked.index("Zhongshan canteen cook") < ranked.index("Courier")

    person.refuses_ranked_suggestions = True
    session.add(person)
    session.commit()
    html = client.get(f"/matches/needs/{kitchen_need.id}").get_data(as_text=True)
    assert "Eligible offers in this category, by title" in html and "Score " not in html
    # Every eligible employment offer, alphabetically; the evening job and the counselling stay out.
    titles = ["Courier", "Zhongshan canteen cook", "后厨帮工"]
    assert [html.index(title) for title in titles] == sorted(html.index(title) for title in titles)
    assert "Another kitchen" not in html and "Art therapy" not in html and "Both about" not in html
    # Choosing from the list still makes a referral, the caseworker's own choice.
    approved = client.post(
        f"/matches/needs/{kitchen_need.id}/approve", data=keyed(offer_id=str(courier.id), summary=SUMMARY)
    )
    assert approved.status_code == 303
    session.commit()
    referral = session.exec(select(Referral).where(Referral.need_id == kitchen_need.id)).one()
    assert referral.offer_id == courier.id and referral.created_by_id == caseworker.id


# --- The summary for the provider (issue 11, item 13) ---------------------------------------------


def test_the_approve_form_starts_from_the_kind_of_need_never_from_the_description(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    post(session, make_user(Role.PROVIDER), title="后厨帮工", description="后厨切配、炒菜。")
    caseworker = session.get(User, session.get(Person, kitchen_need.person_id).caseworker_id)  # type: ignore[union-attr]
    login(caseworker)  # type: ignore[arg-type]
    html = client.get(f"/matches/needs/{kitchen_need.id}").get_data(as_text=True)
    form = re.search(r'<form [^>]*class="approve-form".*?</form>', html, re.S)
    assert form is not None
    assert 'name="idempotency_key"' in form.group(0)
    summary = re.search(r'<textarea [^>]*name="summary"[^>]*>([^<]*)</textarea>', form.group(0))
    assert summary is not None and summary.group(1) == "Looking for help with: Employment."
    assert "line cook" in html  # the caseworker reads their own words above the list, the form does not
    # One place to decide on each card: approving and setting aside each open on request.
    card = html[html.index('class="card match-item"') :]
    card = card[: card.index("</ol>")]  # the one offer's card
    assert card.count("<details") == 2 and card.count("<form") == 2 and card.count("<select") == 2
    assert '<details class="decide-approve">' in card and '<details class="decide-aside">' in card


@pytest.mark.parametrize("summary", ["", "   ", "x" * 301])
def test_a_blank_or_long_summary_is_refused_with_a_field_error_and_nothing_is_sent(
    client: FlaskClient,
    login: Login,
    session: Session,
    make_user: Callable[..., User],
    kitchen_need: Need,
    summary: str,
) -> None:
    offer = post(session, make_user(Role.PROVIDER), title="后厨帮工", description="后厨切配、炒菜。")
    caseworker = session.get(User, session.get(Person, kitchen_need.person_id).caseworker_id)  # type: ignore[union-attr]
    login(caseworker)  # type: ignore[arg-type]
    form = keyed(offer_id=str(offer.id), summary=summary)
    response = client.post(f"/matches/needs/{kitchen_need.id}/approve", data=form, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'class="field-error"' in html and 'aria-invalid="true"' in html
    assert form["idempotency_key"] in html  # sent again after fixing, it is still the same submission
    assert '<details class="decide-approve" open>' in html  # the refused form comes back open
    session.commit()
    assert session.exec(select(Referral)).first() is None


def test_the_provider_reads_the_summary_the_caseworker_wrote_not_the_description(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    employer = make_user(Role.PROVIDER)
    offer = post(session, employer, title="后厨帮工", description="后厨切配、炒菜。")
    caseworker = session.get(User, session.get(Person, kitchen_need.person_id).caseworker_id)  # type: ignore[union-attr]
    login(caseworker)  # type: ignore[arg-type]
    form = keyed(offer_id=str(offer.id), summary="Experienced cook; can start next week.")
    assert client.post(f"/matches/needs/{kitchen_need.id}/approve", data=form).status_code == 303
    login(employer)
    inbox = client.get("/referrals/inbox").get_data(as_text=True)
    assert "Experienced cook; can start next week." in inbox and "line cook" not in inbox


def _no_features_computed_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("a worker computed offers' features")

    monkeypatch.setattr(services, "text_features", refuse, raising=False)
    monkeypatch.setattr(matching.OfferIndex, "fit", refuse)


def test_a_new_worker_ranks_with_the_features_stored_when_the_offers_were_written(
    session: Session, make_user: Callable[..., User], kitchen_need: Need, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Computed once, as an offer is written or edited: a worker only reads them, even for the
    words of an edit made after it began."""
    employer = make_user(Role.PROVIDER)
    guard = post(session, employer, title="小区保安", description="负责小区门岗和夜间巡逻。")
    live = services.LiveIndex()
    assert "shared_meaning" not in [r.code for r in services.rank_need(session, live, kitchen_need).ranked[0].reasons]
    edit = OfferForm.model_validate(job(title="食堂厨师", description="单位食堂炒菜、切配。", version=guard.version))
    offer_services.update_offer(session, employer, guard, edit)
    _no_features_computed_here(monkeypatch)

    for worker in (live, services.LiveIndex()):
        (match,) = services.rank_need(session, worker, kitchen_need, today=TODAY).ranked
        assert match.offer.title == "食堂厨师" and "shared_meaning" in [r.code for r in match.reasons]


def test_offers_written_before_the_features_were_stored_get_them_from_the_migration(
    app: Flask,
    database_url: str,
    session: Session,
    make_user: Callable[..., User],
    kitchen_need: Need,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post(session, make_user(Role.PROVIDER), title="后厨帮工", description="切配、备料。")
    session.close()
    get_engine(app).dispose()
    downgrade(database_url, revision_before("0025"))
    upgrade(database_url)
    _no_features_computed_here(monkeypatch)
    assert ranked_titles(session, services.LiveIndex(), kitchen_need) == ["后厨帮工"]


def a_craving_need(session: Session, person: Person) -> Need:
    return a_need(
        session, person, "counselling", "出来以后一到晚上就想那口。一个人在出租屋里越坐越难受，怕自己扛不住。"
    )


def test_an_offer_worded_unlike_the_need_is_found_by_meaning_and_says_why_in_the_readers_language(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], person: Person
) -> None:
    need = a_craving_need(session, person)
    provider = make_user(Role.PROVIDER)
    counselling = {"category": "counselling", "languages": ["zh", "en"], "schedule": ["weekday_evening", "weekend"]}
    post(
        session,
        provider,
        title="Evening relapse-prevention group",
        description="For urges that come at night.",
        **counselling,
    )
    post(session, provider, title="Couples communication workshop", description="Talking about money.", **counselling)
    assert ranked_titles(session, services.LiveIndex(), need)[0] == "Evening relapse-prevention group"
    caseworker = session.get(User, person.caseworker_id)
    assert caseworker is not None
    login(caseworker)
    html = client.get(f"/matches/needs/{need.id}").get_data(as_text=True)
    assert re.search(r"Close in meaning: “[^”]*想那口[^”]*” ↔ “Evening relapse-prevention group”", html)
    caseworker.locale = "zh"
    session.commit()
    html = client.get(f"/matches/needs/{need.id}").get_data(as_text=True)
    assert "含义相近：“" in html and "Close in meaning" not in html


def test_a_referral_keeps_its_reasons_without_quoting_the_need(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], person: Person
) -> None:
    need = a_craving_need(session, person)
    counselling = {"category": "counselling", "languages": ["zh"], "schedule": ["weekday_evening", "weekend"]}
    offer = post(
        session, make_user(Role.PROVIDER), title="夜间防复吸小组", description="晚上心瘾上来时。", **counselling
    )
    login(session.get(User, person.caseworker_id))  # type: ignore[arg-type]
    form = keyed(offer_id=str(offer.id), summary="Wants an evening group.")
    assert client.post(f"/matches/needs/{need.id}/approve", data=form).status_code == 303
    referral = session.exec(select(Referral).where(Referral.need_id == need.id)).one()
    assert "close in meaning to the need" in referral.reasons
    assert not any("想那口" in reason or "出租屋" in reason for reason in referral.reasons)
    # A shared meaning is kept as the concepts it names, not taken for a closeness in meaning.
    assert any(reason.startswith("both about ") for reason in referral.reasons)
    assert referral.reasons.count("close in meaning to the need") == 1


def test_a_needs_vectors_are_stored_with_it_and_follow_its_description(
    session: Session, person: Person, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    need = a_craving_need(session, person)
    stored = matching.semantic.meaning_from_text(need.meaning, need.description)
    assert stored is not None and stored.sentences[0].startswith("出来以后")
    post(session, make_user(Role.PROVIDER), title="夜间防复吸小组", category="counselling", schedule=["weekend"])

    def refuse(*_args: object) -> None:
        raise AssertionError("a ranking computed the need's vectors")

    monkeypatch.setattr(matching.index, "need_meaning", refuse)
    assert ranked_titles(session, services.LiveIndex(), need) == ["夜间防复吸小组"]
    need.description = ""  # as retention leaves it: the vectors go with the text
    session.commit()
    assert need.meaning is None


def test_backfill_computes_the_vectors_that_rows_written_before_them_lack(
    app: Flask, session: Session, person: Person, make_user: Callable[..., User]
) -> None:
    need = a_craving_need(session, person)
    provider = make_user(Role.PROVIDER)
    offer = post(session, provider, title="夜间防复吸小组", category="counselling", schedule=["weekend"])
    session.execute(sa.update(OfferFeatures).values(scheme=SCHEME, vector=None))
    session.execute(sa.update(Need).values(meaning=None))
    session.commit()
    result = app.test_cli_runner().invoke(args=["matching", "backfill"])
    assert result.exit_code == 0 and "features computed: 1 offers, 1 needs" in result.output
    session.expire_all()
    features = session.get(OfferFeatures, offer.id)
    assert features is not None and features.scheme == STORED_SCHEME and features.vector
    stored = session.get(Need, need.id)
    assert stored is not None and matching.semantic.meaning_from_text(stored.meaning, stored.description)
    again = app.test_cli_runner().invoke(args=["matching", "backfill"])
    assert "features computed: 0 offers, 0 needs" in again.output


def test_each_card_names_its_provider_and_says_how_well_it_fits_in_words(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    employer = make_user(Role.PROVIDER)
    post(session, employer, title="Zhongshan canteen cook", description="Kitchen work: a line cook in a hotel kitchen.")
    post(session, employer, title="Courier", description="Deliver parcels.")
    organization = session.get(Organization, employer.organization_id)
    assert organization is not None
    caseworker = caseworker_of(session, kitchen_need)
    caseworker.locale = "zh"
    session.add(caseworker)
    session.commit()
    login(caseworker)
    html = client.get(f"/matches/needs/{kitchen_need.id}").get_data(as_text=True)
    cards = re.findall(r'<li class="card match-item".*?</li>\s*(?=<li class="card match-item"|</ol>)', html, re.S)
    assert len(cards) == 2
    for card in cards:
        meta = card[card.index('<p class="offer-meta">') : card.index("</p>")]
        assert f'<span class="provider">{organization.name}</span>' in meta
        (word,) = re.findall(r'<span class="fit fit-(strong|good|possible)">([^<]+)</span>', meta)
        assert word[1] == {"strong": "高度匹配", "good": "较为匹配", "possible": "可能匹配"}[word[0]]
        assert re.search(r'<li class="muted">匹配分 \d+\.\d\d</li>', card)  # the figure, among the reasons
    first, second = (re.search(r"fit-(\w+)", card).group(1) for card in cards)  # type: ignore[union-attr]
    assert ["strong", "good", "possible"].index(first) <= ["strong", "good", "possible"].index(second)


def card_titles(html: str) -> list[str]:
    return re.findall(r'<li class="card match-item"[^>]*>\s*<h3 class="offer-title"><a [^>]*>([^<]+)</a>', html)


def caseworker_of(session: Session, need: Need) -> User:
    person = session.get(Person, need.person_id)
    caseworker = session.get(User, person.caseworker_id) if person else None
    assert caseworker is not None
    return caseworker


def test_ten_matches_at_first_then_ten_more_at_each_show_more(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    employer = make_user(Role.PROVIDER)
    for n in range(12):
        post(session, employer, title=f"Kitchen job {n:02d}", description="Kitchen work: a line cook.")
    login(caseworker_of(session, kitchen_need))
    url = f"/matches/needs/{kitchen_need.id}"
    first = client.get(url).get_data(as_text=True)
    assert len(card_titles(first)) == 10
    more = re.search(r'<a class="button" href="([^"]+)">Show more</a>', first)
    assert more is not None and "show=20" in more.group(1)
    everything = client.get(more.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert len(card_titles(everything)) == 12 and "Show more" not in everything
    assert card_titles(everything)[:10] == card_titles(first)  # the same order, ten more below


def test_matches_narrowed_to_the_near_or_the_remote_ones(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], kitchen_need: Need
) -> None:
    employer = make_user(Role.PROVIDER)
    post(session, employer, title="Near kitchen", description="Kitchen work: a line cook.")  # about 4 km away
    post(session, employer, title="Far kitchen", description="Kitchen work: a line cook.", latitude=34.33)  # 8 km
    post(session, employer, title="Online kitchen course job", description="Kitchen work online.", remote=True)
    login(caseworker_of(session, kitchen_need))
    url = f"/matches/needs/{kitchen_need.id}"
    assert set(card_titles(client.get(url).get_data(as_text=True))) == {
        "Near kitchen",
        "Far kitchen",
        "Online kitchen course job",
    }
    near = client.get(f"{url}?within_km=5").get_data(as_text=True)
    assert set(card_titles(near)) == {"Near kitchen", "Online kitchen course job"}  # remote is always within reach
    assert "Far kitchen" in near[near.index("Near misses") :]  # said why it is left out
    assert 'value="5"' in near
    remote = client.get(f"{url}?remote=1").get_data(as_text=True)
    assert card_titles(remote) == ["Online kitchen course job"]
    refused = client.get(f"{url}?within_km=far")
    assert refused.status_code == 422 and "Enter a distance from 1 to 500 km." in refused.get_data(as_text=True)
    assert len(card_titles(refused.get_data(as_text=True))) == 3  # the list, unnarrowed, is still there
