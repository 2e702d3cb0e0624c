"""`areas import`: a new deployment gets its districts, streets and grids (the places people and
accounts are recorded in) from the city's own list."""

import json
from pathlib import Path

from flask import Flask
from sqlmodel import Session, select

from portal.maps import area_centres
from portal.models import Area, AreaLevel

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "areas.example.csv"
HEADER = "code,parent,level,name_zh,name_en\n"


def _import(app: Flask, path: Path) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["areas", "import", str(path)])
    return result.exit_code, result.output  # the errors, written to stderr, included


def _areas(session: Session) -> dict[str, tuple[str, str | None, str, str]]:
    session.rollback()
    areas = list(session.exec(select(Area)))
    codes = {area.id: area.code for area in areas}
    return {a.code: (a.level, codes.get(a.parent_id) if a.parent_id else None, a.name_zh, a.name_en) for a in areas}


def test_the_example_file_builds_the_tree_and_a_second_import_changes_nothing(app: Flask, session: Session) -> None:
    code, output = _import(app, EXAMPLE)
    assert code == 0, output
    assert "areas added: 4, renamed: 0, centre moved: 0, unchanged: 0" in output
    areas = _areas(session)
    assert areas["LH-BYM-02"] == (AreaLevel.GRID, "LH-BYM", "北院门社区第2网格", "Beiyuanmen Community Grid 2")
    assert areas["LH"][1] is None and areas["LH-BYM"][1] == "LH"
    code, output = _import(app, EXAMPLE)
    assert code == 0 and "areas added: 0, renamed: 0, centre moved: 0, unchanged: 4" in output
    assert _areas(session) == areas


def test_a_corrected_file_renames_and_adds_under_areas_already_recorded(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    assert _import(app, EXAMPLE)[0] == 0
    corrected = tmp_path / "areas.csv"
    corrected.write_text(
        HEADER + "LH-BYM,LH,street,北院门街道办事处,Beiyuanmen Subdistrict Office\n"
        "LH-BYM-03,LH-BYM,grid,北院门社区第3网格,Beiyuanmen Community Grid 3\n",
        encoding="utf-8",
    )
    code, output = _import(app, corrected)
    assert code == 0 and "areas added: 1, renamed: 1, centre moved: 0, unchanged: 0" in output
    areas = _areas(session)
    assert areas["LH-BYM"][2:] == ("北院门街道办事处", "Beiyuanmen Subdistrict Office")
    assert areas["LH-BYM-03"][:2] == (AreaLevel.GRID, "LH-BYM")


def test_a_file_with_errors_imports_nothing_and_names_each_line(app: Flask, session: Session, tmp_path: Path) -> None:
    wrong = tmp_path / "areas.csv"
    wrong.write_text(
        HEADER + "XA,,district,西安,Xi'an\n"
        "XA-1,XA,grid,网格,Grid under a district\n"  # a grid's parent must be a street
        "XA-2,NOPE,street,街道,Unknown parent\n"
        "XA,,district,西安,Twice\n"
        "XA-3,XA,county,县,No such level\n"
        "XA-4,XA,street,,\n",
        encoding="utf-8",
    )
    code, output = _import(app, wrong)
    assert code == 1
    assert "line 3 (XA-1): a grid's parent must be a street" in output
    assert "line 4 (XA-2): a street's parent must be a district" in output
    assert "line 5 (XA): this code is on an earlier line too" in output
    assert "line 6 (XA-3): level must be one of district, street, grid" in output
    assert "line 7 (XA-4): name_zh is empty" in output and "line 7 (XA-4): name_en is empty" in output
    assert "nothing imported: 6 problem(s)" in output
    assert _areas(session) == {}


def test_an_import_never_moves_a_recorded_area_and_refuses_a_bad_header(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    assert _import(app, EXAMPLE)[0] == 0
    before = _areas(session)
    moved = tmp_path / "moved.csv"
    moved.write_text(HEADER + "XA,,district,西安,Xi'an\nXA-S,XA,street,街道,Street\nLH-BYM-01,XA-S,grid,网格,Grid\n")
    code, output = _import(app, moved)
    assert code == 1 and "line 4 (LH-BYM-01): this area is recorded at another place in the tree" in output
    headless = tmp_path / "headless.csv"
    headless.write_text("code,level\nXA,district\n")
    code, output = _import(app, headless)
    assert code == 1 and "the header lacks parent, name_zh, name_en" in output
    assert _areas(session) == before


def test_centres_are_imported_and_a_corrected_centre_moves(app: Flask, session: Session, tmp_path: Path) -> None:
    """The example gives the district, street and first grid a centre; the second grid has none
    (its street's stands for it, see portal.areas.centre_of)."""
    assert _import(app, EXAMPLE)[0] == 0
    session.rollback()
    grid = session.exec(select(Area).where(Area.code == "LH-BYM-01")).one()
    assert (grid.latitude, grid.longitude) == (34.2668, 108.9415)
    assert session.exec(select(Area.latitude).where(Area.code == "LH-BYM-02")).one() is None

    moved = tmp_path / "areas.csv"
    moved.write_text(
        "code,parent,level,name_zh,name_en,latitude,longitude\n"
        "LH-BYM-01,LH-BYM,grid,北院门社区第1网格,Beiyuanmen Community Grid 1,34.2671,108.9420\n",
        encoding="utf-8",
    )
    code, output = _import(app, moved)
    assert code == 0 and "areas added: 0, renamed: 0, centre moved: 1, unchanged: 0" in output
    session.rollback()
    assert session.exec(select(Area.longitude).where(Area.code == "LH-BYM-01")).one() == 108.942


def test_a_centre_that_cannot_be_one_is_refused_by_line(app: Flask, session: Session, tmp_path: Path) -> None:
    wrong = tmp_path / "areas.csv"
    wrong.write_text(
        "code,parent,level,name_zh,name_en,latitude,longitude\n"
        "XA,,district,西安,Xi'an,34.3,\n"
        "XB,,district,西安二,Xi'an 2,north,108.9\n"
        "XC,,district,西安三,Xi'an 3,34.3,200\n",
        encoding="utf-8",
    )
    code, output = _import(app, wrong)
    assert code != 0
    assert "line 2 (XA): give both latitude and longitude, or neither" in output
    assert "line 3 (XB): latitude is not a number" in output
    assert "line 4 (XC): longitude must be between -180 and 180" in output
    assert _areas(session) == {}


def test_the_map_opens_each_area_at_its_centre_or_the_nearest_above(app: Flask, session: Session) -> None:
    assert _import(app, EXAMPLE)[0] == 0
    session.rollback()
    areas = list(session.exec(select(Area)))
    centres = json.loads(area_centres(areas))
    ids = {area.code: str(area.id) for area in areas}
    assert centres[ids["LH-BYM-01"]] == [34.2668, 108.9415]  # its own
    assert centres[ids["LH-BYM-02"]] == [34.2655, 108.9405]  # none of its own: its street's
    assert centres[ids["LH"]] == [34.2679, 108.9368]
