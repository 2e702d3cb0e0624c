"""The map on which an offer's or a person's exact place may be pinned (static/place-map.js, with the
vendored Leaflet). Tiles come from the source set in PORTAL_MAP_TILE_URL (an address with {z}, {x}
and {y}, e.g. a city's own tile server); without one there is no map and the coordinates stay
fields to type in, or to leave empty for the grid's centre. The map is an aid, never a need: the
form works without it and without JavaScript."""

import json
from urllib.parse import urlsplit

from flask import Flask, current_app

from portal.areas import nearest_centre
from portal.models import Area


def tile_origin(app: Flask) -> str:
    """The origin the browser fetches tiles from, for the Content-Security-Policy ('' when the
    tiles are the portal's own or there are none)."""
    parts = urlsplit(app.config["MAP_TILE_URL"])
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def area_centres(areas: list[Area]) -> str:
    """Each area's centre, or the nearest above it among these areas, as JSON for the map: where
    it opens when a grid is chosen and nothing is pinned yet."""
    by_id = {area.id: area for area in areas}
    centres = {str(area.id): nearest_centre(area, by_id.get) for area in areas}
    return json.dumps({area_id: list(centre) for area_id, centre in centres.items() if centre}, separators=(",", ":"))


def map_tiles() -> dict[str, str]:
    """What the map needs to draw itself: the tile address and its attribution ('' for no map)."""
    return {"url": current_app.config["MAP_TILE_URL"], "attribution": current_app.config["MAP_ATTRIBUTION"]}


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(area_centres=area_centres, map_tiles=map_tiles)
