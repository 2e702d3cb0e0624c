"""The directory's text search: Chinese and English words through the index, the vocabulary's
synonyms after the words typed, offers found by their current words only, and every match on some
page."""

import re
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, func, select

from matching import vocabulary
from portal.db import get_engine
from portal.keyset import encode_cursor
from portal.migrations import downgrade, upgrade
from portal.models import Offer, OfferTerm, Role, User, utcnow
from portal.offers import services
from portal.offers.search import CONCEPT_MARK
from tests.conftest import revision_before
from tests.portal.test_offers import JOB, next_page, titles, walk

Login = Callable[[User], FlaskClient]


@pytest.fixture
def offers(make_user: Callable[..., User], make_offer: Callable[..., Offer]) -> dict[str, Offer]:
    """Offers in Chinese, in English and in both, confirmed one day apart (newest first here)."""
    provider = make_user(Role.PROVIDER)
    now = utcnow()
    written = [
        ("chef", "招聘厨师 包吃住", "面馆后厨，欢迎康复期人员。"),
        ("line_cook", "Line cook at a noodle bar", "Prep and cooking on the day shift."),
        ("head_cook", "食堂大厨", "负责员工食堂午餐"),
        ("guard", "小区保安", "夜班巡逻，需身体健康。"),
        ("security", "Security guard", "Night patrol of a car park."),
        ("counselling", "家庭心理咨询 Family counselling", "每周二晚上，为康复人员及其家属提供心理咨询。"),
        ("lianhu", "莲湖区 社区活动", "每月一次"),
        ("apart", "莲湖公园 湖区清洁", "Litter picking by the lake"),
        ("mentoring", "Mentoring walk", "A weekly walk with a peer mentor."),
    ]
    return {
        key: make_offer(provider, title=title, description=description, last_confirmed_at=now - timedelta(days=n))
        for n, (key, title, description) in enumerate(written)
    }


def search(client: FlaskClient, query: str) -> list[str]:
    """Every title the directory shows for a query, in order, across all its pages."""
    return walk(client, f"/offers/?q={query}")


def related(html: str) -> set[str]:
    """The titles marked as found through a word of the same meaning."""
    items = re.findall(r'<li class="offer-item card">(.*?)</li>', html, re.S)
    return {titles(item).pop() for item in items if "Found through a word of the same meaning" in item}


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("保安", ["小区保安", "Security guard"]),  # two characters, then the English synonym
        ("心理咨询", ["家庭心理咨询 Family counselling"]),
        ("莲湖区", ["莲湖区 社区活动"]),  # 莲湖 and 湖区 apart, in "莲湖公园 湖区清洁", are not the phrase
        ("湖", ["莲湖区 社区活动", "莲湖公园 湖区清洁"]),  # one character, also at the end of a run (湖区)
        ("counsel", ["家庭心理咨询 Family counselling"]),  # the start of an English word
        ("FAMILY", ["家庭心理咨询 Family counselling"]),
        ("ｎｏｏｄｌｅ", ["Line cook at a noodle bar"]),  # full-width letters
        ("family 咨询", ["家庭心理咨询 Family counselling"]),  # mixed: both must be there
        ("family 保安", []),
        ("peer walk", ["Mentoring walk"]),  # every word, in any order
        ("noodles", []),  # a word is found by its start, not by a longer word
        ("!!!", None),  # no word to look for: the whole directory
    ],
)
def test_the_directory_finds_chinese_and_english_words(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    offers: dict[str, Offer],
    query: str,
    found: list[str] | None,
) -> None:
    login(make_user(Role.CASEWORKER))
    shown = search(client, query)
    assert shown == (found if found is not None else [offer.title for offer in offers.values()])


def test_a_word_finds_its_synonyms_in_the_other_language_after_its_own_matches(
    client: FlaskClient, login: Login, make_user: Callable[..., User], offers: dict[str, Offer]
) -> None:
    login(make_user(Role.CASEWORKER))
    html = client.get("/offers/?q=厨师").get_data(as_text=True)
    assert search(client, "厨师") == ["招聘厨师 包吃住", "Line cook at a noodle bar", "食堂大厨"]
    assert related(html) == {"Line cook at a noodle bar", "食堂大厨"}
    assert search(client, "cook") == ["Line cook at a noodle bar", "招聘厨师 包吃住", "食堂大厨"]
    assert search(client, "security") == ["Security guard", "小区保安"]
    # Each word widens on its own; a word outside the vocabulary must still be there.
    assert search(client, "厨师 noodle") == ["Line cook at a noodle bar"]


def test_a_word_named_as_a_whole_word_still_finds_longer_words_then_its_synonyms(
    client: FlaskClient, login: Login, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    """The vocabulary names "training" by "class" as a whole word only: "Classic" is no class, but
    the word typed still finds it, before the evening school found through the synonym."""
    provider = make_user(Role.PROVIDER)
    now = utcnow()
    make_offer(provider, title="夜校 computer basics", last_confirmed_at=now)
    make_offer(provider, title="Classic guitar evenings", last_confirmed_at=now - timedelta(days=1))
    login(make_user(Role.CASEWORKER))
    assert search(client, "class") == ["Classic guitar evenings", "夜校 computer basics"]
    assert "2 offers found" in client.get("/offers/?q=class").get_data(as_text=True)


def test_a_synonym_of_several_characters_is_found_as_written_only(
    client: FlaskClient, login: Login, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    """职业资格 (a qualification) names training; its pairs 职业, 业资 and 资格 apart do not."""
    provider = make_user(Role.PROVIDER)
    make_offer(provider, title="职业资格 辅导")
    make_offer(provider, title="物业资金 职业 资格审查")
    login(make_user(Role.CASEWORKER))
    assert search(client, "培训") == ["职业资格 辅导"]


def test_the_count_includes_synonyms_and_stays_on_every_page(
    app: Flask, client: FlaskClient, login: Login, make_user: Callable[..., User], offers: dict[str, Offer]
) -> None:
    app.config["DIRECTORY_PAGE_SIZE"] = 2
    login(make_user(Role.CASEWORKER))
    first = client.get("/offers/?q=厨师").get_data(as_text=True)
    second_address = next_page(first)
    assert second_address is not None
    second = client.get(second_address).get_data(as_text=True)
    assert "3 offers found" in first and "3 offers found" in second
    assert next_page(second) is None


def test_filters_still_narrow_a_text_search(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    offers: dict[str, Offer],
) -> None:
    make_offer(make_user(Role.PROVIDER), category="employment", title="厨师助理", languages=["zh"])
    login(make_user(Role.CASEWORKER))
    assert titles(client.get("/offers/?q=厨师&category=employment").get_data(as_text=True)) == {"厨师助理"}
    assert titles(client.get("/offers/?q=厨师&language=zh").get_data(as_text=True)) == {"厨师助理"}


def test_an_edited_offer_is_found_by_its_new_words_only(
    client: FlaskClient, login: Login, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    provider = make_user(Role.PROVIDER)
    offer = make_offer(provider, title="面点师 学徒", description="Dumpling kitchen", skills=["擀面"])
    caseworker = make_user(Role.CASEWORKER)
    login(caseworker)
    assert search(client, "面点") == ["面点师 学徒"]
    assert search(client, "培训") == ["面点师 学徒"]  # 学徒, an apprentice, through the vocabulary
    login(provider)
    edited = {**JOB, "title": "仓库拣货员", "description": "Picking in a warehouse", "version": "1"}
    assert client.post(f"/offers/{offer.id}/edit", data=edited).status_code == 303
    login(caseworker)
    for old_words in ("面点", "dumpling", "擀面", "培训"):
        assert search(client, old_words) == []
    assert search(client, "拣货") == ["仓库拣货员"]
    assert search(client, "forklift") == ["仓库拣货员"]  # the new skills


def test_a_deleted_offer_takes_its_terms_with_it(
    session: Session, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    offer = make_offer(make_user(Role.PROVIDER), title="心理咨询")
    count = select(func.count()).select_from(OfferTerm).where(OfferTerm.offer_id == offer.id)
    assert session.exec(count).one() > 0
    session.delete(offer)
    session.commit()
    assert session.exec(count).one() == 0


@pytest.mark.parametrize(("own", "synonyms"), [(9, 6), (8, 6), (8, 0), (0, 5)])
def test_walking_the_pages_finds_every_match_once_own_words_first(
    app: Flask,
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    own: int,
    synonyms: int,
) -> None:
    """Four to a page, offers confirmed at the same moments; eight own matches end on a full page."""
    app.config["DIRECTORY_PAGE_SIZE"] = 4
    provider = make_user(Role.PROVIDER)
    moment = utcnow()
    exact = {
        make_offer(provider, title=f"厨师 {n}", last_confirmed_at=moment - timedelta(hours=n % 2)).title
        for n in range(own)
    }
    related = {make_offer(provider, title=f"Chef {n}", last_confirmed_at=moment).title for n in range(synonyms)}
    make_offer(provider, title="保安 only")
    login(make_user(Role.CASEWORKER))
    pages = []
    address: str | None = "/offers/?q=厨师"
    while address is not None:
        html = client.get(address).get_data(as_text=True)
        pages.append(re.findall(r'<h2 class="offer-title"><a href="[^"]+">([^<]+)</a>', html))
        address = next_page(html)
    shown = [title for page in pages for title in page]
    assert len(shown) == own + synonyms and set(shown[:own]) == exact and set(shown[own:]) == related
    assert all(pages) and len(pages) == -(-(own + synonyms) // 4)  # no empty page at the end


def test_a_broad_search_counts_only_so_far(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    offers: dict[str, Offer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "COUNT_LIMIT", 3)
    login(make_user(Role.CASEWORKER))
    assert "More than 3 offers found" in client.get("/offers/").get_data(as_text=True)
    assert "2 offers found" in client.get("/offers/?q=湖").get_data(as_text=True)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        encode_cursor([0, "2026-01-01T00:00:00+00:00", str(uuid.uuid4())]),  # a search's cursor, no search
        encode_cursor(["2026-01-01T00:00:00", str(uuid.uuid4())]),  # a time without its zone
        encode_cursor(["2026-01-01T00:00:00+00:00", 5]),  # a number for an id
        encode_cursor([1, "2026-01-01T00:00:00+00:00"]),
    ],
)
def test_a_page_link_the_portal_did_not_write_is_refused_plainly(
    client: FlaskClient, login: Login, make_user: Callable[..., User], offers: dict[str, Offer], cursor: str
) -> None:
    login(make_user(Role.CASEWORKER))
    response = client.get("/offers/", query_string={"after": cursor})
    assert response.status_code == 400
    assert "Start again from the first page" in response.get_data(as_text=True)


@pytest.mark.parametrize("rank", ["x", True, 2, None])
def test_a_search_page_link_with_a_forged_rank_is_refused(
    client: FlaskClient, login: Login, make_user: Callable[..., User], offers: dict[str, Offer], rank: object
) -> None:
    login(make_user(Role.CASEWORKER))
    cursor = encode_cursor([rank, "2026-01-01T00:00:00+00:00", str(uuid.uuid4())])
    assert client.get("/offers/", query_string={"q": "厨师", "after": cursor}).status_code == 400


def test_the_migration_indexes_the_offers_already_written(
    app: Flask,
    session: Session,
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    offers: dict[str, Offer],
) -> None:
    caseworker = make_user(Role.CASEWORKER)
    session.close()
    url = app.config["DATABASE_URL"]
    get_engine(app).dispose()
    downgrade(url, revision_before("0024"))
    raw = sa.create_engine(url)
    try:
        assert "offer_term" not in sa.inspect(raw).get_table_names()
    finally:
        raw.dispose()
    upgrade(url)
    login(caseworker)
    assert search(client, "保安") == ["小区保安", "Security guard"]
    assert search(client, "counsel") == ["家庭心理咨询 Family counselling"]
    with Session(get_engine(app)) as reader:
        indexed = set(reader.exec(select(OfferTerm.offer_id).distinct()))
        assert indexed == set(reader.exec(select(col(Offer.id))))


def test_the_migration_keeps_the_concepts_of_the_offers_already_written(
    app: Flask,
    session: Session,
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    offers: dict[str, Offer],
) -> None:
    caseworker = make_user(Role.CASEWORKER)
    session.close()
    url = app.config["DATABASE_URL"]
    get_engine(app).dispose()
    downgrade(url, revision_before("0027"))
    # The offers' own words only, no concept. Read in SQL: today's models name columns added since.
    raw = sa.create_engine(url)
    try:
        with raw.connect() as connection:
            terms = set(connection.execute(sa.text("SELECT term FROM offer_term")).scalars())
    finally:
        raw.dispose()
    assert "厨师" in terms and not [term for term in terms if term.startswith(CONCEPT_MARK)]
    get_engine(app).dispose()
    upgrade(url)
    login(caseworker)
    assert search(client, "厨师") == ["招聘厨师 包吃住", "Line cook at a noodle bar", "食堂大厨"]
    assert search(client, "security") == ["Security guard", "小区保安"]


def test_after_the_vocabulary_changes_reindexing_finds_offers_written_before_by_the_new_synonym(
    app: Flask,
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_offer(make_user(Role.PROVIDER), title="拉面馆 帮工")
    chinese, english = vocabulary.CONCEPTS["cooking"]
    monkeypatch.setattr(
        vocabulary, "_CONCEPTS", vocabulary.Lexicon({**vocabulary.CONCEPTS, "cooking": ((*chinese, "拉面"), english)})
    )
    login(make_user(Role.CASEWORKER))
    assert search(client, "厨师") == []  # written before 拉面 named cooking
    result = app.test_cli_runner().invoke(args=["search", "reindex"])
    assert result.exit_code == 0 and "offers read: 1" in result.output
    assert search(client, "厨师") == ["拉面馆 帮工"]
