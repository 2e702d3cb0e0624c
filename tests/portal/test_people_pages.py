"""The caseload and the follow-ups a page at a time: every person and every follow-up is still
reached, from the home page's links and through the pages, and a page reads only what it shows."""

import html as markup
import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal.audit.services import trail_of
from portal.clock import local_today
from portal.crypto import KeyRing
from portal.models import Area, Person, Role, User

Login = Callable[[User], FlaskClient]
PER_PAGE = 50


def add_people(session: Session, caseworker: User, area: Area, prefix: str, count: int, **fields: object) -> list[str]:
    """`count` people on the caseworker's caseload, their codes in the caseload's order."""
    people = [
        Person(
            code=f"XA-{prefix}-{n:04}",
            full_name=str(fields.get("full_name", f"测试 {n}")),
            caseworker_id=caseworker.id,
            area_id=area.id,
            **{name: value for name, value in fields.items() if name != "full_name"},
        )
        for n in range(count)
    ]
    session.add_all(people)
    session.commit()
    return [person.code for person in people]


def codes(page: str) -> list[str]:
    """The codes of the people listed, in order."""
    return re.findall(r'<tr class="person-row[^"]*">\s*<td><a href="[^"]+">(XA-[\w-]+)</a>', page)


def next_link(page: str) -> str | None:
    found = re.search(r'<a class="button" rel="next" href="([^"]+)">', page)
    return markup.unescape(found.group(1)) if found else None


def walk(client: FlaskClient, url: str) -> Iterator[str]:
    """Every page of a list, from its first, following each page's "Next" link (a plain link)."""
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        yield page
        next_url = next_link(page)


def test_every_overdue_person_is_reached_from_the_home_page_though_it_lists_only_the_oldest(
    client: FlaskClient, login: Login, session: Session, caseworker: User, grid: Area
) -> None:
    overdue = add_people(session, caseworker, grid, "LATE", 63, next_contact_due=local_today() - timedelta(days=3))
    fine = add_people(session, caseworker, grid, "FINE", 4, next_contact_due=local_today() + timedelta(days=3))
    login(caseworker)
    home = client.get("/").get_data(as_text=True)
    attention = re.search(r'<section id="attention".*?</section>', home, flags=re.S).group(0)  # type: ignore[union-attr]
    assert len(re.findall(r'<li class="offer-item">', attention)) == 10
    assert '<a href="/followups/">See all 63 follow-ups</a>' in attention
    assert 'href="/people/?contact=overdue"><span class="stat-number">63</span>' in home

    pages = [codes(page) for page in walk(client, "/people/?contact=overdue")]
    assert [len(page) for page in pages] == [PER_PAGE, 13]
    found = [code for page in pages for code in page]
    assert sorted(found) == sorted(overdue) and not set(found) & set(fine)  # each once, no one else

    follow_ups = [
        code
        for page in walk(client, "/followups/")
        for code in re.findall(r'<a href="/people/[^"]+">(XA-[\w-]+) · ', page)
    ]
    assert sorted(follow_ups) == sorted(overdue)


def test_a_supervisor_pages_through_one_caseworkers_people_only(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], grid: Area
) -> None:
    chosen, other = make_user(Role.CASEWORKER, area_id=grid.id), make_user(Role.CASEWORKER, area_id=grid.id)
    theirs = add_people(session, chosen, grid, "MINE", 55)
    add_people(session, other, grid, "THEIRS", 3)
    login(make_user(Role.SUPERVISOR, area_id=grid.id))
    pages = [codes(page) for page in walk(client, f"/people/?caseworker={chosen.id}")]
    assert [len(page) for page in pages] == [PER_PAGE, 5]
    assert [code for page in pages for code in page] == sorted(theirs)  # no due date: by code
    assert len(codes(client.get("/people/").get_data(as_text=True))) == PER_PAGE  # all of them, first page


def page_forms(page: str) -> dict[str, dict[str, str]]:
    """The pager's forms of a search, by their button: the fields each POSTs."""
    forms = {}
    for form in re.findall(r'<form method="post" action="/people/" class="inline">(.*?)</form>', page, flags=re.S):
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))
        button = re.search(r'<button type="submit" class="button">([^<]+)</button>', form).group(1)  # type: ignore[union-attr]
        forms[button] = {name: markup.unescape(value) for name, value in fields.items()}
    return forms


def test_a_name_search_pages_by_posting_the_name_again_never_in_a_link(
    client: FlaskClient, login: Login, session: Session, caseworker: User, grid: Area
) -> None:
    namesakes = add_people(session, caseworker, grid, "WANG", 57, full_name="王芳")
    add_people(session, caseworker, grid, "LI", 5, full_name="李娜")
    login(caseworker)
    first = client.post("/people/", data={"q": "王"}).get_data(as_text=True)
    assert len(codes(first)) == PER_PAGE and "57 people" in first
    assert next_link(first) is None and not re.search(r'href="[^"]*q=', first)  # the name is in no link
    more = page_forms(first)["Next"]
    assert more["q"] == "王"
    second = client.post("/people/", data=more).get_data(as_text=True)
    assert sorted(codes(first) + codes(second)) == sorted(namesakes)
    assert "Next" not in page_forms(second) and page_forms(second)["First page"] == {
        "csrf_token": page_forms(second)["First page"]["csrf_token"],
        "q": "王",
    }


def test_a_page_link_changed_by_hand_is_refused_with_a_clear_message(
    client: FlaskClient, login: Login, caseworker: User
) -> None:
    login(caseworker)
    for url in ("/people/?after=not-a-cursor", "/people/?contact=overdue&after=WzFd", "/followups/?after=%5B%5D"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "Start again from the first page" in response.get_data(as_text=True)


def test_only_the_people_on_the_page_are_logged_as_seen_and_decrypted(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    grid: Area,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_people(session, caseworker, grid, "SEEN", 60, phone="13800000000", address="北院门 1 号")
    opened: list[str] = []
    real_open = KeyRing.open

    def counting_open(ring: KeyRing, stored: str, aad: str) -> str:
        opened.append(aad)
        return real_open(ring, stored, aad)

    monkeypatch.setattr(KeyRing, "open", counting_open)
    login(caseworker)
    opened.clear()
    shown = codes(client.get("/people/").get_data(as_text=True))
    assert len(shown) == PER_PAGE
    people = dict(session.exec(select(Person.code, Person.id)).all())
    decrypted, on_page = (
        {aad.split("|")[2] for aad in opened if aad.startswith("person|")},
        {str(people[c]) for c in shown},
    )
    # The people shown, and the one after them that says there is a next page.
    assert on_page <= decrypted and len(decrypted - on_page) <= 1
    session.rollback()
    for code, person_id in people.items():
        viewed = [entry.action for entry in trail_of(session, [person_id])]
        assert viewed == (["list"] if code in shown else []), code
    # A name search opens the names of the caseload, and no other field of those not shown.
    opened.clear()
    client.post("/people/", data={"q": "测试"})
    others = [aad.split("|") for aad in opened if aad.startswith("person|") and aad.split("|")[2] not in decrypted]
    assert {row_id for _table, _column, row_id in others} == set(map(str, people.values())) - decrypted
    assert {column for _table, column, _row_id in others} == {"full_name"}
