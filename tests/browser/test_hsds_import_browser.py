"""In a real browser, with CSRF protection on, in both languages on a 390 × 844 phone: an admin
imports another directory's HSDS data (issue 17) from the organizations page, watches the check's
progress (htmx polling), reads the report, confirms, and is sent on to verify the organizations."""

import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_roles_browser import Phone, _fits_and_reads_well, language, phone_as  # noqa: F401
from tests.portal.test_hsds_import import EXAMPLES, _valid_example

pytestmark = pytest.mark.browser

WORDS = {
    "en": {
        "link": "Import another directory (HSDS 3.0)",
        "check": "Check the data",
        "counts": "Offers: 1 to create, 0 to update, 0 unchanged, 0 to close (gone from the source).",
        "confirm": "Import these records",
        "verify": "Verify the organizations",
    },
    "zh": {
        "link": "导入其他名录（HSDS 3.0）",
        "check": "检查数据",
        "counts": "资源：将新建 1 项，更新 0 项，0 项不变，关闭 0 项（来源中已没有）。",
        "confirm": "导入这些记录",
        "verify": "审核机构",
    },
}


@pytest.fixture
def live_server_settings(tmp_path: Path) -> dict[str, Any]:
    return {"IMPORT_DIR": str(tmp_path / "hsds-imports")}


def test_an_admin_uploads_reads_the_report_and_confirms(
    phone_as: Phone,  # noqa: F811
    live_server: str,
    language: str,  # noqa: F811
    screenshot_dir: Path,
    tmp_path: Path,
) -> None:
    words = WORDS[language]
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLES, folder)
    _valid_example(folder)
    archive = shutil.make_archive(str(tmp_path / "directory"), "zip", folder)

    admin = phone_as("admin@bridge.example")
    admin.goto(f"{live_server}/organizations/")
    admin.get_by_role("link", name=words["link"]).click()
    _fits_and_reads_well(admin)
    admin.locator("#import-file").set_input_files(archive)
    admin.get_by_role("button", name=words["check"]).click()
    # The page polls its progress until the report replaces it.
    expect(admin.locator("#import-progress")).to_contain_text(words["counts"], timeout=30_000)
    _fits_and_reads_well(admin)
    admin.screenshot(path=str(screenshot_dir / f"hsds-import-checked-{language}-phone.png"), full_page=True)
    admin.get_by_role("button", name=words["confirm"]).click()
    expect(admin.get_by_role("link", name=words["verify"])).to_be_visible(timeout=30_000)
    _fits_and_reads_well(admin)
    admin.screenshot(path=str(screenshot_dir / f"hsds-import-applied-{language}-phone.png"), full_page=True)
    admin.get_by_role("link", name=words["verify"]).click()
    expect(admin.locator("main")).to_contain_text("Example Organization Inc.")
