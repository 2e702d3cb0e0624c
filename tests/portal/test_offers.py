"""Offers: posting, editing, status changes, ownership, and the staff directory."""

import re
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal.demo import load_demo_data
from portal.models import (
    Area,
    AreaLevel,
    Offer,
    OfferStatus,
    Organization,
    Referral,
    ReferralStatus,
    Role,
    User,
    utcnow,
)
from portal.offers import services
from portal.offers.forms import OfferForm
from tests.conftest import keyed

Login = Callable[[User], FlaskClient]

JOB = {
    "category": "employment",
    "title": "仓库拣货员（白班）",
    "description": "Day-shift picking in a warehouse. 欢迎康复期人员。",
    "skills": "forklift，inventory、packing",
    "languages": ["zh", "en"],
    "schedule": ["weekday_day"],
    "capacity": "3",
    "min_age": "18",
    "max_age": "55",
    "genders": ["male", "female"],
    "min_months_in_recovery": "6",
    "employment_type": "full_time",
    "pay_min": "4200",
    "pay_max": "5200",
    "pay_period": "month",
    "hours_per_week": "40",
    "fair_chance_statement": "We judge people by their work today.",
    "contact_name": "Li Hua",
    "contact_phone": "029-8888 1234",
    "contact_email": "hr@logistics.bridge.example",
    "latitude": "34.2655",
    "longitude": "108.9006",
}


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([a-z_]+)-error">([^<]*)</p>', html))


def test_provider_posts_a_job_with_every_field(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    provider = make_user(Role.PROVIDER)
    login(provider)
    response = client.post("/offers/new", data=keyed(JOB))
    assert response.status_code == 303
    offer = session.get(Offer, uuid.UUID(response.headers["Location"].rsplit("/", 1)[1]))
    assert offer is not None
    assert offer.organization_id == provider.organization_id
    assert offer.status == OfferStatus.DRAFT
    assert offer.skills == ["forklift", "inventory", "packing"]
    assert offer.languages == ["en", "zh"]
    assert (offer.pay_min, offer.pay_max, offer.pay_period) == (4200, 5200, "month")
    assert offer.min_months_in_recovery == 6
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    for shown in ("仓库拣货员", "4200", "We judge people by their work today.", "029-8888 1234", "34.2655"):
        assert shown in page


def test_invalid_offer_is_shown_again_with_errors_and_values_kept(
    client: FlaskClient, login: Login, make_user: Callable[..., User]
) -> None:
    login(make_user(Role.PROVIDER))
    bad = {
        **JOB,
        "title": "",
        "min_age": "60",
        "max_age": "20",
        "capacity": "lots",
        "employment_type": "",
        "latitude": "91",
        "contact_email": "not-an-address",
    }
    response = client.post("/offers/new", data=keyed(bad))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = field_errors(html)
    assert {"title", "capacity", "latitude", "contact_email"} <= set(errors)
    assert 'value="forklift，inventory、packing"' in html
    assert "We judge people by their work today." in html
    assert 'value="zh" checked' in html


def test_cross_field_rules_each_show_at_their_field(
    client: FlaskClient, login: Login, make_user: Callable[..., User]
) -> None:
    login(make_user(Role.PROVIDER))
    response = client.post(
        "/offers/new", data=keyed({**JOB, "min_age": "60", "max_age": "20", "employment_type": "", "pay_period": ""})
    )
    assert response.status_code == 422
    assert {"max_age", "employment_type", "pay_period"} <= set(field_errors(response.get_data(as_text=True)))


def test_a_job_says_how_it_treats_applicants_in_recovery_or_that_it_gives_no_statement(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    login(make_user(Role.PROVIDER, locale="zh"))
    silent = client.post("/offers/new", data=keyed({**JOB, "fair_chance_statement": "  "}))
    assert silent.status_code == 422
    assert "不作公平机会声明" in field_errors(silent.get_data(as_text=True))["fair_chance_statement"]
    assert session.exec(select(Offer)).all() == []

    declined = client.post(
        "/offers/new", data=keyed({**JOB, "fair_chance_statement": "", "fair_chance_none_given": "on"})
    )
    assert declined.status_code == 303
    page = client.get(declined.headers["Location"]).get_data(as_text=True)
    assert "未提供：雇主选择不说明" in page  # caseworkers read that the employer gave none

    stated = client.post("/offers/new", data=keyed({**JOB, "fair_chance_none_given": "on"}))
    session.commit()  # end the read begun above, to see what was written since
    offer = session.get(Offer, uuid.UUID(stated.headers["Location"].rsplit("/", 1)[1]))
    assert offer is not None and offer.fair_chance_statement and not offer.fair_chance_none_given


@pytest.mark.parametrize(("start", "action"), [(OfferStatus.DRAFT, "publish"), (OfferStatus.PAUSED, "reopen")])
def test_an_older_job_with_no_fair_chance_answer_is_not_published_until_it_has_one(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    session: Session,
    start: OfferStatus,
    action: str,
) -> None:
    provider = make_user(Role.PROVIDER)
    job = make_offer(provider, category="employment", employment_type="full_time", status=start)
    login(provider)
    refused = client.post(f"/offers/{job.id}/status", data={"action": action}, follow_redirects=True)
    assert refused.request.path == f"/offers/{job.id}/edit"
    assert "A job is published with a fair-chance statement" in refused.get_data(as_text=True)
    session.refresh(job)
    assert job.status == start
    edit = client.get(f"/offers/{job.id}/edit").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', edit)
    assert version is not None
    answered = {**JOB, "version": version.group(1)}
    assert client.post(f"/offers/{job.id}/edit", data=answered).status_code == 303
    published = client.post(f"/offers/{job.id}/status", data={"action": action})
    assert published.headers["Location"] == f"/offers/{job.id}"
    session.commit()  # end the read begun above: it would still see the job as it was
    session.refresh(job)
    assert job.status == OfferStatus.OPEN


def test_job_fields_are_dropped_from_a_service(session: Session, make_user: Callable[..., User]) -> None:
    provider = make_user(Role.PROVIDER)
    form = OfferForm.model_validate({**JOB, "category": "counselling", "languages": ["zh"], "schedule": []})
    offer = services.create_offer(session, provider, form)
    assert offer.pay_min is None and offer.employment_type is None and offer.fair_chance_statement == ""


def test_volunteer_posts_an_offer_of_their_own(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    volunteer = make_user(Role.VOLUNTEER)
    login(volunteer)
    response = client.post(
        "/offers/new",
        data=keyed({"category": "peer_support", "title": "Accompaniment to appointments", "capacity": "2"}),
    )
    assert response.status_code == 303
    (offer,) = services.own_offers(session, volunteer).items
    assert offer.volunteer_id == volunteer.id and offer.organization_id is None


def test_another_organizations_offer_is_not_found(
    client: FlaskClient, login: Login, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    theirs = make_offer(make_user(Role.PROVIDER))
    login(make_user(Role.PROVIDER))
    assert client.get(f"/offers/{theirs.id}/edit").status_code == 404
    assert client.post(f"/offers/{theirs.id}/status", data={"action": "close"}).status_code == 404
    assert client.post(f"/offers/{theirs.id}/confirm").status_code == 404
    # Seeing it is not allowed either: providers do not browse each other's offers.
    assert client.get(f"/offers/{theirs.id}").status_code == 404
    assert client.get(f"/offers/{uuid.uuid4()}").status_code == 404


def test_a_volunteer_cannot_touch_another_volunteers_offer(
    client: FlaskClient, login: Login, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    theirs = make_offer(make_user(Role.VOLUNTEER))
    login(make_user(Role.VOLUNTEER))
    assert client.get(f"/offers/{theirs.id}/edit").status_code == 404
    assert client.post(f"/offers/{theirs.id}/edit", data=JOB).status_code == 404


def test_colleagues_share_their_organizations_offers(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    session: Session,
) -> None:
    first = make_user(Role.PROVIDER)
    colleague = make_user(Role.PROVIDER, organization=session.get(Organization, first.organization_id))
    offer = make_offer(first)
    login(colleague)
    assert client.get(f"/offers/{offer.id}/edit").status_code == 200


@pytest.mark.parametrize(
    ("start", "action", "end"),
    [
        (OfferStatus.DRAFT, "publish", OfferStatus.OPEN),
        (OfferStatus.OPEN, "pause", OfferStatus.PAUSED),
        (OfferStatus.PAUSED, "reopen", OfferStatus.OPEN),
        (OfferStatus.OPEN, "close", OfferStatus.CLOSED),
        (OfferStatus.CLOSED, "reopen", OfferStatus.OPEN),
    ],
)
def test_owner_moves_an_offer_through_its_statuses(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    session: Session,
    start: OfferStatus,
    action: str,
    end: OfferStatus,
) -> None:
    provider = make_user(Role.PROVIDER)
    offer = make_offer(provider, status=start)
    login(provider)
    assert client.post(f"/offers/{offer.id}/status", data={"action": action}).status_code == 303
    session.refresh(offer)
    assert offer.status == end


@pytest.mark.parametrize(
    ("start", "action"),
    [
        (OfferStatus.DRAFT, "pause"),
        (OfferStatus.OPEN, "publish"),
        (OfferStatus.CLOSED, "pause"),
        (OfferStatus.OPEN, "x"),
    ],
)
def test_impossible_status_changes_are_refused(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    session: Session,
    start: OfferStatus,
    action: str,
) -> None:
    provider = make_user(Role.PROVIDER)
    offer = make_offer(provider, status=start)
    login(provider)
    assert client.post(f"/offers/{offer.id}/status", data={"action": action}).status_code == 409
    session.refresh(offer)
    assert offer.status == start


def test_an_edit_based_on_an_old_version_is_refused_and_keeps_the_typing(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    session: Session,
) -> None:
    provider = make_user(Role.PROVIDER)
    offer = make_offer(provider, title="Original")
    login(provider)
    first = client.post(f"/offers/{offer.id}/edit", data={**JOB, "title": "First save", "version": "1"})
    assert first.status_code == 303
    second = client.post(f"/offers/{offer.id}/edit", data={**JOB, "title": "Second save", "version": "1"})
    assert second.status_code == 409
    assert 'value="Second save"' in second.get_data(as_text=True)
    session.refresh(offer)
    assert offer.title == "First save"


def test_stale_offers_are_marked_until_confirmed(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    session: Session,
) -> None:
    provider = make_user(Role.PROVIDER)
    offer = make_offer(provider, last_confirmed_at=utcnow() - timedelta(days=91))
    caseworker = make_user(Role.CASEWORKER)
    login(caseworker)
    assert "Not confirmed for 90 days" in client.get(f"/offers/{offer.id}").get_data(as_text=True)
    login(provider)
    assert client.post(f"/offers/{offer.id}/confirm").status_code == 303
    session.refresh(offer)
    assert not offer.is_stale()
    login(caseworker)
    assert "Not confirmed for 90 days" not in client.get(f"/offers/{offer.id}").get_data(as_text=True)


def test_offer_is_stale_after_ninety_days(make_user: Callable[..., User], make_offer: Callable[..., Offer]) -> None:
    offer = make_offer(make_user(Role.PROVIDER))
    assert not offer.is_stale(offer.last_confirmed_at + timedelta(days=90))
    assert offer.is_stale(offer.last_confirmed_at + timedelta(days=90, seconds=1))


@pytest.fixture
def directory(
    make_user: Callable[..., User], make_offer: Callable[..., Offer], make_organization: Callable[..., Organization]
) -> dict[str, Offer]:
    """A verified NGO's offers, a pending employer's job, a draft, and a volunteer's offer."""
    ngo = make_user(Role.PROVIDER)
    pending = make_user(Role.PROVIDER, organization=make_organization(verified=False))
    volunteer = make_user(Role.VOLUNTEER)
    return {
        "counselling": make_offer(ngo, title="心理咨询 个体辅导", languages=["zh"], skills=["倾听"]),
        "family": make_offer(
            ngo, category="family_support", title="Family group", languages=["en"], status=OfferStatus.PAUSED
        ),
        "draft": make_offer(ngo, title="Draft counselling", status=OfferStatus.DRAFT),
        "pending_job": make_offer(pending, category="employment", title="Pending job"),
        "mentoring": make_offer(volunteer, category="peer_support", title="Mentoring walk", languages=["zh", "en"]),
    }


def titles(html: str) -> set[str]:
    return set(re.findall(r'<h2 class="offer-title"><a href="[^"]+">([^<]+)</a>', html))


def test_directory_shows_only_published_offers_of_verified_owners(
    client: FlaskClient, login: Login, make_user: Callable[..., User], directory: dict[str, Offer]
) -> None:
    login(make_user(Role.CASEWORKER))
    html = client.get("/offers/").get_data(as_text=True)
    assert titles(html) == {"心理咨询 个体辅导", "Family group", "Mentoring walk"}
    assert client.get(f"/offers/{directory['pending_job'].id}").status_code == 404
    assert client.get(f"/offers/{directory['draft'].id}").status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=咨询", {"心理咨询 个体辅导"}),
        ("q=FAMILY", {"Family group"}),
        ("q=倾听", {"心理咨询 个体辅导"}),
        ("category=peer_support", {"Mentoring walk"}),
        ("language=en", {"Family group", "Mentoring walk"}),
        ("status=paused", {"Family group"}),
        ("language=zh&status=open", {"心理咨询 个体辅导", "Mentoring walk"}),
        ("category=nonsense&status=whatever&language=xx1", {"心理咨询 个体辅导", "Family group", "Mentoring walk"}),
    ],
)
def test_directory_filters(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    directory: dict[str, Offer],
    query: str,
    expected: set[str],
) -> None:
    login(make_user(Role.SUPERVISOR))
    assert titles(client.get(f"/offers/?{query}").get_data(as_text=True)) == expected


def test_directory_area_filter_includes_the_areas_below(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    session: Session,
) -> None:
    from portal.models import Area

    district = Area(level="district", name_en="Lianhu", name_zh="莲湖区", code="LH")
    street = Area(level="street", name_en="Beiyuanmen", name_zh="北院门街道", code="LH-BYM", parent_id=district.id)
    other = Area(level="district", name_en="Yanta", name_zh="雁塔区", code="YT")
    session.add_all([district, street, other])
    session.commit()
    provider = make_user(Role.PROVIDER)
    make_offer(provider, title="In the street", area_id=street.id)
    make_offer(provider, title="Elsewhere", area_id=other.id)
    login(make_user(Role.CASEWORKER))
    assert titles(client.get(f"/offers/?area={district.id}").get_data(as_text=True)) == {"In the street"}


def test_search_as_you_type_returns_only_the_results_fragment(
    client: FlaskClient, login: Login, make_user: Callable[..., User], directory: dict[str, Offer]
) -> None:
    login(make_user(Role.CASEWORKER))
    response = client.get("/offers/?q=mentor", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="offer-results"')
    assert "<html" not in html
    assert titles(html) == {"Mentoring walk"}
    assert "HX-Request" in response.headers["Vary"]


def next_page(html: str) -> str | None:
    """The address of the pager's "Next" link, if the page has one."""
    link = re.search(r'<a href="([^"]+)"[^>]* rel="next">', html)
    return link.group(1).replace("&amp;", "&") if link else None


def walk(client: FlaskClient, address: str) -> list[str]:
    """Every title on every page, following "Next" from the first page to the last."""
    shown: list[str] = []
    next_address: str | None = address
    while next_address is not None:
        html = client.get(next_address).get_data(as_text=True)
        shown += re.findall(r'<h2 class="offer-title"><a href="[^"]+">([^<]+)</a>', html)
        next_address = next_page(html)
    return shown


def test_directory_pages_through_many_offers_even_confirmed_at_the_same_moment(
    client: FlaskClient, login: Login, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    provider = make_user(Role.PROVIDER)
    now = utcnow()
    for number in range(30):
        make_offer(provider, title=f"Offer {number:02d}", last_confirmed_at=now - timedelta(days=number % 3))
    login(make_user(Role.CASEWORKER))
    first = client.get("/offers/").get_data(as_text=True)
    assert len(titles(first)) == 25 and "30 offers found" in first
    shown = walk(client, "/offers/")
    assert len(shown) == 30 and set(shown) == {f"Offer {number:02d}" for number in range(30)}


@pytest.mark.parametrize("action", ["pause", "close"])
def test_pausing_or_closing_an_offer_with_referrals_under_way_says_what_happens_first(
    client: FlaskClient, login: Login, session: Session, action: str
) -> None:
    """The demo's training workshop has one person under way; the owner confirms, and that
    referral goes on untouched."""
    assert load_demo_data(session)
    owner = session.exec(select(User).where(User.email == "ngo@bridge.example")).one()
    owner.locale = "en"
    session.commit()
    workshop = session.exec(select(Offer).where(Offer.title == "职业指导与简历面试工作坊")).one()
    login(owner)

    asked = client.post(f"/offers/{workshop.id}/status", data={"action": action})
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "1 person holds a place on it (accepted or started). They keep it" in page
    assert 'name="confirmed" value="1"' in page
    session.commit()
    session.refresh(workshop)
    assert workshop.status == OfferStatus.OPEN

    done = client.post(f"/offers/{workshop.id}/status", data={"action": action, "confirmed": "1"})
    assert done.status_code == 303
    session.commit()
    session.refresh(workshop)
    assert workshop.status == (OfferStatus.PAUSED if action == "pause" else OfferStatus.CLOSED)
    referral = session.exec(select(Referral).where(Referral.offer_id == workshop.id)).one()
    assert referral.status == ReferralStatus.IN_PROGRESS
    followed = client.get(f"/offers/{workshop.id}").get_data(as_text=True)
    assert ("Offer paused: no new referrals" if action == "pause" else "Offer closed: no new referrals") in followed


def test_an_offer_without_referrals_under_way_pauses_at_once(
    client: FlaskClient, login: Login, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    provider = make_user(Role.PROVIDER)
    offer = make_offer(provider, status=OfferStatus.OPEN)
    login(provider)
    assert client.post(f"/offers/{offer.id}/status", data={"action": "pause"}).status_code == 303


def test_an_offer_placed_by_its_grid_is_at_the_grids_centre_unless_pinned(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    """Nobody knows their coordinates: a grid and a street address place an offer; a pin on the
    map (the coordinates) overrides; a centre follows the offer to another grid, a pin stays."""
    street = Area(code="S", level=AreaLevel.STREET, name_zh="街道", name_en="Street", latitude=34.26, longitude=108.94)
    session.add(street)
    session.flush()
    centred = Area(code="S-1", parent_id=street.id, level=AreaLevel.GRID, name_zh="网格一", name_en="Grid 1")
    centred.latitude, centred.longitude = 34.2668, 108.9415
    bare = Area(code="S-2", parent_id=street.id, level=AreaLevel.GRID, name_zh="网格二", name_en="Grid 2")
    session.add_all([centred, bare])
    session.commit()
    login(make_user(Role.PROVIDER))
    by_grid = {**JOB, "area_id": str(centred.id), "latitude": "", "longitude": ""}
    created = client.post("/offers/new", data=keyed(by_grid))
    offer = session.get(Offer, uuid.UUID(created.headers["Location"].rsplit("/", 1)[1]))
    assert offer is not None and (offer.latitude, offer.longitude) == (34.2668, 108.9415)
    assert "(the grid" in client.get(f"/offers/{offer.id}").get_data(as_text=True)  # its coordinates, said so

    moved = {**by_grid, "area_id": str(bare.id), "latitude": "34.2668", "longitude": "108.9415", "version": "1"}
    assert client.post(f"/offers/{offer.id}/edit", data=keyed(moved)).status_code == 303
    session.commit()
    session.refresh(offer)
    assert (offer.latitude, offer.longitude) == (34.26, 108.94)  # the bare grid's street

    pinned = {**moved, "latitude": "34.2701", "longitude": "108.9502", "version": str(offer.version)}
    assert client.post(f"/offers/{offer.id}/edit", data=keyed(pinned)).status_code == 303
    session.commit()
    session.refresh(offer)
    back = {**pinned, "area_id": str(centred.id), "version": str(offer.version)}
    assert client.post(f"/offers/{offer.id}/edit", data=keyed(back)).status_code == 303
    session.commit()
    session.refresh(offer)
    assert (offer.latitude, offer.longitude) == (34.2701, 108.9502)  # a pin stays where it was put
    assert "(the grid" not in client.get(f"/offers/{offer.id}").get_data(as_text=True)


def test_without_a_tile_source_the_form_asks_for_the_grid_and_keeps_coordinates_optional(
    client: FlaskClient, login: Login, make_user: Callable[..., User]
) -> None:
    login(make_user(Role.PROVIDER))
    page = client.get("/offers/new").get_data(as_text=True)
    assert "Community grid (网格)" in page and "Street address" in page
    assert '<details class="place-pin">' in page  # folded: the grid's centre is enough
    assert 'name="latitude"' in page and "place-map" not in page and "leaflet" not in page
