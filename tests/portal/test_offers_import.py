"""Offers in bulk (issue 15): a spreadsheet checked first, every problem by row and column, then
imported by the provider's own references, so a second import updates and never duplicates."""

import csv
import html
import io
import re
import zipfile
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, select

from portal.models import Area, AreaLevel, Offer, OfferStatus, Role, User
from portal.offers import bulk

Login = Callable[[User], FlaskClient]
HEADER = list(bulk.COLUMNS)


def a_row(**values: str) -> list[str]:
    base = {
        "reference": "SVC-1",
        "category": "counselling",
        "title": "个体心理辅导",
        "capacity": "4",
        "languages": "zh, en",
        "schedule": "weekday_day，weekend",
    }
    base.update(values)
    return [base.get(name, "") for name in HEADER]


def as_csv(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode("utf-8-sig")


def as_xlsx(rows: list[list[str]], header: list[str]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [header, *rows]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client: FlaskClient, name: str, data: bytes) -> tuple[str, int]:
    response = client.post(
        "/offers/import", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )
    return response.get_data(as_text=True), response.status_code


def confirm(client: FlaskClient, page: str) -> int:
    """Import what the check page shows, as its button sends it."""
    rows = re.search(r'name="rows" value="([^"]*)"', page)
    assert rows is not None
    response = client.post("/offers/import", data={"confirm": "1", "rows": html.unescape(rows.group(1))})
    return response.status_code


@pytest.fixture
def provider(make_user: Callable[..., User], login: Login) -> User:
    user = make_user(Role.PROVIDER)
    login(user)
    return user


def test_a_file_with_problems_names_each_by_row_and_column_and_saves_nothing(
    client: FlaskClient, provider: User, session: Session
) -> None:
    rows = [
        a_row(),
        a_row(reference="SVC-1", title="重复编号"),
        a_row(reference="JOB-1", category="employment", title="仓库拣货员"),  # a job without its answers
        a_row(reference="SVC-2", capacity="many", area="NOWHERE"),
        a_row(reference="", title="没有编号"),
    ]
    page, status = upload(client, "offers.csv", as_csv(rows))
    assert status == 422
    assert "Nothing was saved." in page and 'name="confirm"' not in page
    assert re.search(
        r"<td>3</td>\s*<td>SVC-1</td>.*?reference</strong>: This reference is on an earlier row too", page, re.S
    )
    assert re.search(r"<td>4</td>.*?employment_type</strong>: Say what kind of employment", page, re.S)
    assert re.search(r"<td>5</td>.*?capacity</strong>: Enter a whole number", page, re.S)
    assert re.search(r"<td>5</td>.*?area</strong>: No area has this code", page, re.S)
    assert re.search(r"<td>6</td>.*?reference</strong>: Give each row a reference", page, re.S)
    session.commit()
    assert session.exec(select(Offer)).all() == []


def test_an_import_creates_drafts_and_a_second_import_updates_them(
    client: FlaskClient, provider: User, session: Session
) -> None:
    grid = Area(
        code="LH-BYM-03", level=AreaLevel.GRID, name_zh="网格", name_en="Grid", latitude=34.267, longitude=108.94
    )
    session.add(grid)
    session.commit()
    first = [a_row(area="LH-BYM-03"), a_row(reference="SVC-2", title="家庭辅导", category="family_support")]
    page, status = upload(client, "offers.csv", as_csv(first))
    assert status == 200 and "2 new offers (drafts), 0 updated" in page
    assert confirm(client, page) == 303
    session.commit()
    offers = {offer.reference: offer for offer in session.exec(select(Offer))}
    assert set(offers) == {"SVC-1", "SVC-2"}
    assert offers["SVC-1"].status == OfferStatus.DRAFT and offers["SVC-1"].organization_id == provider.organization_id
    assert offers["SVC-1"].languages == ["en", "zh"] and offers["SVC-1"].schedule == ["weekday_day", "weekend"]
    assert (offers["SVC-1"].area_id, offers["SVC-1"].latitude) == (grid.id, 34.267)  # placed at the grid's centre

    again = [
        a_row(area="LH-BYM-03", capacity="9"),
        a_row(reference="SVC-2", title="家庭辅导", category="family_support"),
    ]
    page, status = upload(client, "offers.csv", as_csv(again))
    assert status == 200 and "0 new offers (drafts), 2 updated" in page
    assert confirm(client, page) == 303
    session.commit()
    assert len(session.exec(select(Offer)).all()) == 2
    assert session.exec(select(Offer.capacity).where(Offer.reference == "SVC-1")).one() == 9


def test_a_chinese_workbook_reads_like_the_english_csv(client: FlaskClient, provider: User, session: Session) -> None:
    header = [bulk.CHINESE[name] for name in HEADER]
    page, status = upload(client, "资源.xlsx", as_xlsx([a_row()], header))
    assert status == 200 and "1 new offers (drafts), 0 updated" in page
    assert confirm(client, page) == 303
    session.commit()
    assert session.exec(select(Offer.title)).one() == "个体心理辅导"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("offers.pdf", b"%PDF-1.4", "Upload the template filled in"),
        ("offers.xlsx", b"not a workbook", "Upload the template filled in"),
        ("offers.csv", as_csv([a_row()], header=[*HEADER[:-1], "salary"]), "Unknown column: salary"),
        ("offers.csv", as_csv([a_row(reference=f"R{n}") for n in range(bulk.MAX_ROWS + 1)]), "At most 200 offers"),
    ],
)
def test_a_file_that_is_not_the_template_gets_a_clear_message(
    client: FlaskClient, provider: User, name: str, data: bytes, message: str
) -> None:
    page, status = upload(client, name, data)
    assert status == 422 and message in page


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_templates_carry_the_headers_of_their_language_and_read_back_clean(
    client: FlaskClient, provider: User, session: Session, language: str
) -> None:
    workbook = client.get(f"/offers/import/template?format=xlsx&lang={language}")
    assert workbook.status_code == 200 and workbook.mimetype == bulk.XLSX
    sheet = load_workbook(io.BytesIO(workbook.get_data())).worksheets[0]
    assert [cell.value for cell in sheet[1]] == [bulk.HEADERS[language][name] for name in HEADER]
    sheet_csv = client.get(f"/offers/import/template?format=csv&lang={language}").get_data()
    assert bulk.check(session, provider, bulk.read_table("t.csv", sheet_csv)).problems == 0  # the example is valid


def test_a_reference_names_one_offer_of_its_owner_in_the_form_too(
    client: FlaskClient, provider: User, make_offer: Callable[..., Offer], session: Session
) -> None:
    make_offer(provider, reference="SVC-1")
    response = client.post(
        "/offers/new",
        data={
            "idempotency_key": "5d1c5a4e-2a80-4f51-8d43-27b6a1cf0a11",
            "category": "counselling",
            "title": "另一项",
            "capacity": "1",
            "reference": "SVC-1",
        },
    )
    assert response.status_code == 409
    assert "Another of your offers has this reference." in response.get_data(as_text=True)


def test_only_owners_import(client: FlaskClient, make_user: Callable[..., User], login: Login) -> None:
    login(make_user(Role.CASEWORKER))
    assert client.get("/offers/import").status_code == 403


def test_a_workbook_that_unpacks_to_more_than_a_spreadsheet_is_refused_unread(
    client: FlaskClient, provider: User
) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (bulk.MAX_UNPACKED + 1))
    page, status = upload(client, "offers.xlsx", packed.getvalue())
    assert status == 422 and "Upload the template filled in" in page


def test_a_template_is_csv_unless_asked_for_a_workbook(client: FlaskClient, provider: User) -> None:
    assert client.get("/offers/import/template").mimetype == "text/csv"
    assert client.get("/offers/import/template?format=pdf").status_code == 404
