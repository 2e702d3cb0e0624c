"""Reading the match exchange format (match-exchange/1) into the engine's dataclasses.

Bad input raises FormatError naming the offending field, e.g. `offers[3].capacity: expected a
whole number`, so the command line can say it in one line.
"""

import json
from pathlib import Path
from typing import Any

from matching.model import CATEGORIES, SLOTS, Eligibility, Location, Need, Offer, Person

URGENCIES = (1, 2, 3)


class FormatError(ValueError):
    """The document does not follow the match exchange format."""


def _get(obj: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    value = obj.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise FormatError(f"{where}.{key}: expected a number, got {json.dumps(value)}")
    if not isinstance(value, kind):
        names = {
            str: "text",
            int: "a whole number",
            float: "a number",
            bool: "true or false",
            list: "a list",
            dict: "an object",
        }
        wanted = names.get(kind, "a number") if isinstance(kind, type) else "a number"
        raise FormatError(f"{where}.{key}: expected {wanted}, got {json.dumps(value, ensure_ascii=False)[:40]}")
    return value


def _codes(obj: dict[str, Any], key: str, where: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    values = _get(obj, key, where, list, [])
    for n, value in enumerate(values):
        if not isinstance(value, str):
            raise FormatError(f"{where}.{key}[{n}]: expected text")
        if allowed is not None and value not in allowed:
            raise FormatError(f"{where}.{key}[{n}]: unknown value {value!r}")
    return tuple(values)


def _category(obj: dict[str, Any], where: str) -> str | None:
    category: str | None = _get(obj, "category", where, str)
    if category is not None and category not in CATEGORIES:
        raise FormatError(f"{where}.category: unknown category {category!r}")
    return category


def _location(obj: dict[str, Any], where: str) -> Location | None:
    raw = _get(obj, "location", where, dict)
    if raw is None:
        return None
    lat = _get(raw, "lat", f"{where}.location", (int, float))
    lon = _get(raw, "lon", f"{where}.location", (int, float))
    if lat is None or lon is None:
        return None
    if not -90 <= lat <= 90:
        raise FormatError(f"{where}.location.lat: must lie between -90 and 90")
    if not -180 <= lon <= 180:
        raise FormatError(f"{where}.location.lon: must lie between -180 and 180")
    return Location(float(lat), float(lon), _get(raw, "area", f"{where}.location", str))


def _id(obj: Any, where: str) -> str:
    if not isinstance(obj, dict):
        raise FormatError(f"{where}: expected an object")
    value = obj.get("id")
    if not isinstance(value, str) or not value:
        raise FormatError(f"{where}.id: expected a non-empty text id")
    return value


def parse_offer(obj: Any, where: str) -> Offer:
    offer_id = _id(obj, where)
    rules = _get(obj, "eligibility", where, dict, {})
    rules_where = f"{where}.eligibility"
    return Offer(
        id=offer_id,
        category=_category(obj, where),
        title=_get(obj, "title", where, str, ""),
        description=_get(obj, "description", where, str, ""),
        provider=_get(obj, "provider", where, str, ""),
        skills=_codes(obj, "skills", where),
        languages=_codes(obj, "languages", where),
        location=_location(obj, where),
        remote=_get(obj, "remote", where, bool, False),
        schedule=_codes(obj, "schedule", where, SLOTS),
        capacity=_get(obj, "capacity", where, int, 1),
        status=_get(obj, "status", where, str, "open"),
        eligibility=Eligibility(
            min_age=_get(rules, "min_age", rules_where, int),
            max_age=_get(rules, "max_age", rules_where, int),
            genders=_codes(rules, "genders", rules_where),
            min_months_in_recovery=_get(rules, "min_months_in_recovery", rules_where, int),
        ),
    )


def parse_person(obj: Any, where: str) -> Person:
    person_id = _id(obj, where)
    needs = []
    for n, raw in enumerate(_get(obj, "needs", where, list, [])):
        need_where = f"{where}.needs[{n}]"
        urgency = _get(raw, "urgency", need_where, int, 1) if isinstance(raw, dict) else 1
        if urgency not in URGENCIES:
            raise FormatError(f"{need_where}.urgency: must be 1, 2 or 3")
        needs.append(
            Need(
                id=_id(raw, need_where),
                category=_category(raw, need_where),
                description=_get(raw, "description", need_where, str, ""),
                urgency=urgency,
            )
        )
    travel = _get(obj, "max_travel_km", where, (int, float))
    if travel is not None and not 0 <= travel < float("inf"):
        raise FormatError(f"{where}.max_travel_km: must be a distance of 0 km or more")
    return Person(
        id=person_id,
        age=_get(obj, "age", where, int),
        gender=_get(obj, "gender", where, str),
        languages=_codes(obj, "languages", where),
        location=_location(obj, where),
        max_travel_km=float(travel) if travel is not None else None,
        availability=_codes(obj, "availability", where, SLOTS),
        months_in_recovery=_get(obj, "months_in_recovery", where, int),
        skills=_codes(obj, "skills", where),
        needs=tuple(needs),
    )


def parse(document: Any) -> tuple[list[Offer], list[Person]]:
    """Offers and people from a decoded match-exchange document."""
    if not isinstance(document, dict):
        raise FormatError("document: expected a JSON object")
    if document.get("format", "match-exchange/1") != "match-exchange/1":
        raise FormatError(f"format: unsupported {document.get('format')!r}, expected 'match-exchange/1'")
    offers = [parse_offer(raw, f"offers[{n}]") for n, raw in enumerate(_get(document, "offers", "document", list, []))]
    people = [parse_person(raw, f"people[{n}]") for n, raw in enumerate(_get(document, "people", "document", list, []))]
    _unique([o.id for o in offers], "offers")
    _unique([p.id for p in people], "people")
    _unique([n.id for p in people for n in p.needs], "needs")
    return offers, people


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise FormatError(f"{what}: duplicate id {value!r}")
        seen.add(value)


def load(path: Path) -> tuple[list[Offer], list[Person]]:
    """Read a match-exchange file; unreadable or malformed files raise FormatError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror if isinstance(exc, OSError) else 'not UTF-8'}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})") from exc
    return parse(document)


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Relevance judgments: {need id: {offer id: grade 1..3}} (FORMAT.md)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: {exc}") from exc
    if not isinstance(document, dict):
        raise FormatError(f"{path}: judgments are an object of needs")
    judged: dict[str, dict[str, int]] = {}
    for need, grades in document.items():
        if not isinstance(grades, dict) or not all(
            isinstance(g, int) and not isinstance(g, bool) and 0 <= g <= 3 for g in grades.values()
        ):
            raise FormatError(f"{path}: {need}: grades are whole numbers 0..3 by offer id")
        judged[str(need)] = {str(offer): int(grade) for offer, grade in grades.items()}
    return judged
