"""In a real browser: a place is chosen as people think of it, by community grid and street
address; the map, when a tile source is configured, places an exact pin (issue 15)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from portal.models import Area, AreaLevel, Offer, Organization, Role, User
from tests.browser.test_offers_browser import sign_in

pytestmark = pytest.mark.browser

# A tile the portal serves itself (any image does): the test needs no network.
TILE = "/static/vendor/leaflet-1.9.4/images/marker-shadow.png?z={z}&x={x}&y={y}"


@pytest.fixture
def live_server_settings() -> dict[str, Any]:
    return {"MAP_TILE_URL": TILE, "MAP_ATTRIBUTION": "Test tiles"}


@pytest.fixture
def grid(session: Session) -> Area:
    street = Area(code="LH-BYM", level=AreaLevel.STREET, name_zh="北院门街道", name_en="Beiyuanmen Subdistrict")
    street.latitude, street.longitude = 34.2655, 108.9405
    session.add(street)
    session.flush()
    grid = Area(code="LH-BYM-03", parent_id=street.id, level=AreaLevel.GRID, name_zh="北院门社区第3网格")
    grid.name_en, grid.latitude, grid.longitude = "Beiyuanmen Community Grid 3", 34.267, 108.9422
    session.add(grid)
    session.commit()
    return grid


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_provider_places_an_offer_by_grid_then_pins_it_on_the_map(
    page: Page,
    live_server: str,
    make_user: Callable[..., User],
    make_organization: Callable[..., Organization],
    session: Session,
    grid: Area,
    screenshot_dir: Path,
    language: str,
) -> None:
    make_user(Role.PROVIDER, organization=make_organization(name="启明社工"), email="ngo@bridge.example")
    sign_in(page, live_server, "ngo@bridge.example")
    if language == "zh":
        page.get_by_role("button", name="中文").click()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/offers/new")
    page.locator("#category").select_option("counselling")
    page.locator("#title").fill("个体心理辅导")
    page.locator("#capacity").fill("3")
    page.locator("#area_id").select_option(str(grid.id))
    page.locator("#address").fill("北院门 144 号")
    map_box = page.locator(".place-map")
    expect(map_box).to_be_hidden()  # folded away: the grid's centre is enough
    page.locator(".place-pin summary").click()
    expect(map_box).to_be_visible()
    expect(page.locator(".leaflet-tile-loaded").first).to_be_attached()
    map_box.click(position={"x": 60, "y": 60})  # up and left of the grid's centre
    expect(page.locator("#latitude")).not_to_have_value("")
    pinned = float(page.locator("#latitude").input_value()), float(page.locator("#longitude").input_value())
    assert grid.latitude is not None and grid.longitude is not None
    assert pinned[0] > grid.latitude and pinned[1] < grid.longitude
    expect(page.locator(".leaflet-marker-icon")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(screenshot_dir / f"offer-place-map-{language}-phone.png"), full_page=True)
    page.locator("form.offer-form button[type=submit]").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("个体心理辅导")
    session.commit()
    offer = session.exec(select(Offer).where(Offer.title == "个体心理辅导")).one()
    assert offer.area_id == grid.id and (offer.latitude, offer.longitude) == pinned
