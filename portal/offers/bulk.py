"""Offers in bulk: a provider with thirty services or jobs fills in a spreadsheet (.xlsx or .csv, from
a template in either language) instead of thirty forms.

A file is first checked (a dry run): each row is read as the offer form reads its fields, with the
same rules, and every problem is named by its row and column. Only a file without problems is
imported: each row creates the owner's offer with the row's reference, or updates the offer that
already has it, so importing the same file again changes nothing new. Offers created are drafts,
as from the form; lists (languages, times, genders) are codes separated by commas."""

import csv
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, select
from werkzeug.datastructures import MultiDict

from portal.forms import validate
from portal.models import Area, Offer, User
from portal.offers import services
from portal.offers.forms import LIST_FIELDS, OfferForm
from portal.spreadsheets import csv_bytes

# The template's columns: the owner's reference, then the offer form's fields in the form's order,
# the area by its code instead of its id.
COLUMNS = (
    "reference",
    *("area" if name == "area_id" else name for name in OfferForm.model_fields if name not in ("reference", "version")),
)
# What each column is called in the Chinese template (the English one uses the names above).
CHINESE = {
    "reference": "编号",
    "category": "类别",
    "title": "标题",
    "description": "描述",
    "skills": "涉及技能",
    "languages": "语言",
    "capacity": "名额",
    "area": "网格代码",
    "address": "地址",
    "latitude": "纬度",
    "longitude": "经度",
    "remote": "可远程",
    "schedule": "时间",
    "min_age": "最低年龄",
    "max_age": "最高年龄",
    "genders": "性别",
    "min_months_in_recovery": "最短康复月数",
    "employment_type": "用工类型",
    "pay_min": "最低薪酬",
    "pay_max": "最高薪酬",
    "pay_period": "计薪方式",
    "hours_per_week": "每周工时",
    "fair_chance_statement": "公平就业承诺",
    "fair_chance_none_given": "不作公平就业声明",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "contact_email": "联系邮箱",
}
HEADERS = {"en": {name: name for name in COLUMNS}, "zh": CHINESE}
EXAMPLE = {
    "en": {
        "reference": "JOB-001",
        "category": "employment",
        "title": "Warehouse picker (day shift)",
        "description": "Picking and packing; training on the first day.",
        "skills": "packing, inventory",
        "languages": "zh, en",
        "capacity": "3",
        "schedule": "weekday_day",
        "employment_type": "full_time",
        "pay_min": "4200",
        "pay_max": "5200",
        "pay_period": "month",
        "fair_chance_statement": "We judge people by their work today.",
    },
    "zh": {
        "reference": "JOB-001",
        "category": "employment",
        "title": "仓库拣货员（白班）",
        "description": "拣货、打包，第一天有培训。",
        "skills": "打包，盘点",
        "languages": "zh",
        "capacity": "3",
        "schedule": "weekday_day",
        "employment_type": "full_time",
        "pay_min": "4200",
        "pay_max": "5200",
        "pay_period": "month",
        "fair_chance_statement": "欢迎康复期人员，我们看重今天的工作表现。",
    },
}
MAX_ROWS = 200
# Far more than 200 rows of offers unpack to; a workbook past it is refused unread.
MAX_UNPACKED = 20 * 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

NOT_A_TABLE = _l("Upload the template filled in, as .xlsx or .csv (UTF-8).")
TOO_MANY = _l("At most %(most)d offers a file; split it.")
UNKNOWN_COLUMN = _l("Unknown column: %(name)s. Use the template's headers.")
NO_REFERENCE = _l("Give each row a reference of your own, so a second import updates it.")
REPEATED = _l("This reference is on an earlier row too.")
UNKNOWN_AREA = _l("No area has this code.")


class NotATable(ValueError):
    """The upload cannot be read as the template: `message` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Row:
    """One row of the file, as checked: the offer it creates or updates, or its problems by column."""

    line: int
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    updates: Offer | None = None
    form: OfferForm | None = None


@dataclass
class Check:
    rows: list[Row]

    @property
    def problems(self) -> int:
        return sum(len(row.errors) for row in self.rows)

    @property
    def creating(self) -> int:
        return sum(1 for row in self.rows if not row.errors and row.updates is None)

    @property
    def updating(self) -> int:
        return sum(1 for row in self.rows if not row.errors and row.updates is not None)


def read_table(filename: str, data: bytes) -> list[dict[str, str]]:
    """The rows of an uploaded .xlsx or .csv, each as column → text, under headers in either language.

    :raise NotATable: not a spreadsheet, an unknown column, or too many rows.
    """
    try:
        if filename.lower().endswith(".xlsx"):
            # A workbook is a zip: what it unpacks to is bounded before openpyxl reads it.
            if sum(entry.file_size for entry in zipfile.ZipFile(io.BytesIO(data)).infolist()) > MAX_UNPACKED:
                raise NotATable(str(NOT_A_TABLE))
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
            table = [["" if cell is None else str(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
        elif filename.lower().endswith(".csv"):
            table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        else:
            raise NotATable(str(NOT_A_TABLE))
    except NotATable:
        raise
    except Exception as error:  # noqa: BLE001 - a broken upload may fail anywhere inside openpyxl or csv
        raise NotATable(str(NOT_A_TABLE)) from error
    if not table:
        raise NotATable(str(NOT_A_TABLE))
    names = {header: name for headers in HEADERS.values() for name, header in headers.items()}
    header = [cell.strip() for cell in table[0]]
    unknown = [cell for cell in header if cell and cell not in names]
    if unknown:
        raise NotATable(str(UNKNOWN_COLUMN) % {"name": unknown[0]})
    rows = [row for row in table[1:] if any(cell.strip() for cell in row)]
    if len(rows) > MAX_ROWS:
        raise NotATable(str(TOO_MANY) % {"most": MAX_ROWS})
    return [
        {names[name]: cell.strip() for name, cell in zip(header, row, strict=False) if name} | {"__line__": str(line)}
        for line, row in enumerate(table[1:], start=2)
        if any(cell.strip() for cell in row)
    ]


def check(session: Session, user: User, rows: list[dict[str, str]]) -> Check:
    """Each row read as the offer form reads it, and matched to the owner's offer of its reference."""
    areas = {area.code: area.id for area in session.exec(select(Area))}
    mine = {offer.reference: offer for offer in _own_referenced(session, user)}
    seen: set[str] = set()
    checked = []
    for raw in rows:
        values = {name: value for name, value in raw.items() if name != "__line__"}
        row = Row(int(raw["__line__"]), values)
        reference = values.get("reference", "")
        if not reference:
            row.errors["reference"] = str(NO_REFERENCE)
        elif reference in seen:
            row.errors["reference"] = str(REPEATED)
        seen.add(reference)
        fields: MultiDict[str, str] = MultiDict()
        for name, value in values.items():
            if name == "area":
                if value and value not in areas:
                    row.errors["area"] = str(UNKNOWN_AREA)
                elif value:
                    fields["area_id"] = str(areas[value])
            elif name in LIST_FIELDS:
                for item in value.replace("，", ",").split(","):
                    fields.add(name, item.strip())
            else:
                fields[name] = value
        updates = mine.get(reference)
        if updates is not None:
            fields["version"] = str(updates.version)
        form, errors = validate(OfferForm, fields, LIST_FIELDS)
        for name, message in errors.items():
            row.errors.setdefault("area" if name == "area_id" else name, message)
        row.form, row.updates = form, updates
        checked.append(row)
    return Check(checked)


def import_rows(session: Session, user: User, checked: Check) -> tuple[int, int]:
    """Create and update the offers of a check without problems; how many of each."""
    if checked.problems:
        raise ValueError("a file with problems is not imported")
    created = updated = 0
    for row in checked.rows:
        assert row.form is not None
        if row.updates is not None:
            services.update_offer(session, user, row.updates, row.form)
            updated += 1
        else:
            services.create_offer(session, user, row.form)
            created += 1
    return created, updated


def _own_referenced(session: Session, user: User) -> list[Offer]:
    return list(session.exec(services.owned_by(user).where(Offer.reference != "")))


def template_csv(language: str) -> bytes:
    """The template with its headers in this language and one example row."""
    headers = HEADERS[language]
    return csv_bytes([headers[name] for name in COLUMNS], [[EXAMPLE[language].get(name, "") for name in COLUMNS]])


def template_xlsx(language: str) -> bytes:
    """The same template as a workbook."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "offers"
    headers = HEADERS[language]
    sheet.append([headers[name] for name in COLUMNS])
    sheet.append([EXAMPLE[language].get(name, "") for name in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_rows(data: Any) -> list[dict[str, str]]:
    """Rows sent back by the check page (JSON), kept to the template's columns."""
    if not isinstance(data, list):
        raise NotATable(str(NOT_A_TABLE))
    rows = []
    for item in data[:MAX_ROWS]:
        if not isinstance(item, dict):
            raise NotATable(str(NOT_A_TABLE))
        row = {name: str(item[name]) for name in COLUMNS if name in item}
        row["__line__"] = str(int(item.get("__line__", 0)))
        rows.append(row)
    return rows
