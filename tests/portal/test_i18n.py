"""Every user-facing string is translated, and pages read in Chinese."""

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.pofile import read_po
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from portal.i18n import moment
from portal.labels import LABELS, reason_text
from portal.models import Role, User

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "portal/translations/zh_Hans_CN/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _ids(message_id: str | tuple[str, ...]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def test_every_message_in_the_code_is_translated(tmp_path: Path) -> None:
    """Extract the messages afresh: a new string without a Chinese translation fails here."""
    template = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "portal/translations/babel.cfg",
            "-k",
            "_l",
            "-o",
            str(template),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with template.open("rb") as handle:
        wanted = {_ids(m.id) for m in read_po(handle) if m.id}
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    translated = {
        _ids(m.id): m.string
        for m in catalogue
        if m.id and m.string and (isinstance(m.string, str) or all(m.string)) and not m.fuzzy
    }
    missing = sorted(wanted - set(translated))
    assert missing == [], f"untranslated: {missing[:10]}"


def test_translations_keep_their_placeholders() -> None:
    with CATALOGUE.open("rb") as handle:
        for message in read_po(handle):
            if message.id:
                original, translated = _ids(message.id), _ids(message.string)
                assert sorted(PLACEHOLDER.findall(original)) == sorted(PLACEHOLDER.findall(translated)), original


def test_no_two_codes_share_a_label_key() -> None:
    """Labels are looked up by the stored string, so two enumerations must not reuse a value."""
    assert len({str(key) for key in LABELS}) == len(LABELS)


def test_pages_read_in_chinese(
    client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    login(make_user(Role.PROVIDER, locale="zh"))
    html = client.get("/offers/new").get_data(as_text=True)
    assert "新建资源" in html and "类别" in html and "心理咨询" in html
    assert "Save" not in html and "Category" not in html


def test_distances_in_reasons_are_written_as_numbers_of_the_language(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert reason_text("too_far", {"km": 1234.56, "limit_km": 10.0}) == "Too far: 1,234.6 km, limit 10 km"
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert reason_text("distance", {"km": 2.0}) == "相距 2 公里"


def test_a_moment_is_written_one_way_everywhere_in_local_time(app: Flask) -> None:
    """Its day as every date on the pages is written, then hours and minutes, in UTC+8."""
    at = datetime(2026, 12, 6, 19, 54, tzinfo=UTC)  # 03:54 on the 7th in Beijing
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert moment(at) == "7 Dec 2026, 03:54"
        assert moment(at).startswith(str(render_template_string("{{ day|dateformat }}", day=at)))
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert moment(at) == "2026年12月7日 03:54"
    used = {
        path.name
        for path in (Path(__file__).parents[2] / "templates").rglob("*.html")
        if "datetimeformat" in path.read_text()
    }
    assert not used, f"templates writing moments another way: {sorted(used)}"


def test_a_shared_meaning_quotes_the_words_that_matched_and_reads_older_reasons_too(app: Flask) -> None:
    values = {"concepts": ["cooking"], "need_words": ["cook", "kitchen"], "offer_words": ["后厨"]}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        text = reason_text("shared_meaning", values)
        assert "“cook / kitchen”" in text and "“后厨”" in text
        assert reason_text("shared_meaning", {"concepts": ["cooking"]}).startswith("Both about: ")  # recorded before
