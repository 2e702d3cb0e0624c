"""The command line, `python -m matching rank|allocate FILE`: the JSON it prints, the one-line
errors for malformed files, and no rule broken on the shared dev set. The tests call `main(argv)`
in this process; one runs `python -m matching` as a separate program, end to end."""

import copy
import json
import os
import runpy
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from matching.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
MATCH_EVAL = ROOT.parent / "shared" / "match-eval"  # shared/ lies beside the repository, as in CI

KITCHEN = {"category": "employment", "title": "后厨帮工", "description": "餐馆后厨招帮厨，负责切配、炒菜"}
HOME = {"lat": 34.2610, "lon": 108.9420, "area": "Beilin"}
FAR = {"lat": 34.3800, "lon": 108.9420}  # about 13 km north


def document() -> dict[str, Any]:
    """Twelve kitchen jobs the person can take, one too far away and one paused."""
    offers = [{"id": f"o-{n:02}", **KITCHEN, "capacity": 1} for n in range(12)]
    offers += [{"id": "o-far", **KITCHEN, "location": FAR}, {"id": "o-paused", **KITCHEN, "status": "paused"}]
    person = {
        "id": "p-1",
        "location": HOME,
        "max_travel_km": 10,
        "needs": [
            {"id": "n-1", "category": "employment", "urgency": 2, "description": "I want a job as a cook"},
            {"id": "n-2", "category": "employment", "urgency": 1, "description": "厨房的活"},
        ],
    }
    return {"format": "match-exchange/1", "offers": offers, "people": [person]}


@dataclass(frozen=True)
class Result:
    """What a run of the command line left: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


Run = Callable[..., Result]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """`python -m matching ARGS`, called in this process."""

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        try:
            returncode = main([str(arg) for arg in args])
        except SystemExit as exit:  # argparse refuses bad arguments this way, as the program does
            returncode = exit.code if isinstance(exit.code, int) else 1
        out, err = capsys.readouterr()
        return Result(returncode, out, err)

    return run


def write(tmp_path: Path, content: Any, name: str = "input.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False), "utf-8")
    return path


def printed(result: Result) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    output: dict[str, Any] = json.loads(result.stdout)
    return output


def test_rank_prints_at_most_ten_eligible_offers_per_need(run: Run, tmp_path: Path) -> None:
    output = printed(run("rank", write(tmp_path, document())))
    assert list(output) == ["rankings"]
    assert sorted(output["rankings"]) == ["n-1", "n-2"]
    for ranked in output["rankings"].values():
        assert len(ranked) == 10
        assert len(set(ranked)) == 10
        assert not {"o-far", "o-paused"} & set(ranked)


def test_top_limits_every_ranking(run: Run, tmp_path: Path) -> None:
    output = printed(run("rank", write(tmp_path, document()), "--top", "2"))
    assert [len(ranked) for ranked in output["rankings"].values()] == [2, 2]


def test_explain_adds_reasons_and_near_misses_and_keeps_the_rankings(run: Run, tmp_path: Path) -> None:
    output = printed(run("rank", write(tmp_path, document()), "--explain", "--top", "3"))
    assert set(output) == {"rankings", "explanations", "near_misses"}
    for need, ranked in output["rankings"].items():
        explained = output["explanations"][need]
        assert [item["offer"] for item in explained] == ranked
        assert all(item["reasons"] and all(r["text"] for r in item["reasons"]) for item in explained)
        misses = {miss["offer"]: miss for miss in output["near_misses"][need]}
        assert [reason["code"] for reason in misses["o-far"]["failed"]] == ["too_far"]


def test_python_m_matching_ranks_the_same_file_the_same_in_every_process(tmp_path: Path) -> None:
    """End to end, as a separate program: the module runs, and no ranking depends on the hash seed."""
    path = write(tmp_path, document())
    command = [sys.executable, "-m", "matching", "rank", str(path)]
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, check=False)
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert len(json.loads(outputs.pop())["rankings"]["n-1"]) == 10


def test_allocate_prints_one_offer_or_null_per_need_within_capacity(run: Run, tmp_path: Path) -> None:
    output = printed(run("allocate", write(tmp_path, document())))
    assert list(output) == ["assignments"]
    assignments = output["assignments"]
    assert sorted(assignments) == ["n-1", "n-2"]
    given = [offer for offer in assignments.values() if offer is not None]
    assert given and len(set(given)) == len(given)
    assert not {"o-far", "o-paused"} & set(given)


def test_a_document_without_offers_ranks_and_allocates_nothing(run: Run, tmp_path: Path) -> None:
    path = write(tmp_path, {**document(), "offers": []})
    assert printed(run("rank", path)) == {"rankings": {"n-1": [], "n-2": []}}
    assert printed(run("allocate", path)) == {"assignments": {"n-1": None, "n-2": None}}


def changed(change: str) -> dict[str, Any]:
    """The sample document with one thing wrong."""
    doc = copy.deepcopy(document())
    if change == "capacity":
        doc["offers"][1]["capacity"] = "three"
    elif change == "urgency":
        doc["people"][0]["needs"][0]["urgency"] = 7
    elif change == "category":
        doc["offers"][0]["category"] = "gardening"
    elif change == "duplicate":
        doc["offers"][3]["id"] = "o-02"
    elif change == "latitude":
        doc["offers"][0]["location"] = {"lat": 200, "lon": 108.9}
    return doc


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("{not json", "input.json"),
        (changed("capacity"), "offers[1].capacity"),
        (changed("urgency"), "people[0].needs[0].urgency"),
        (changed("category"), "offers[0].category"),
        (changed("duplicate"), "o-02"),
        (["not", "an", "object"], "document"),
        (changed("latitude"), "offers[0].location.lat"),
    ],
    ids=["not JSON", "capacity as text", "urgency 7", "unknown category", "duplicate id", "a list", "latitude 200"],
)
def test_a_malformed_file_gets_one_line_naming_the_field_and_status_2(
    run: Run, tmp_path: Path, content: Any, named: str
) -> None:
    result = run("rank", write(tmp_path, content))
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_allocate_reports_a_malformed_file_the_same_way(run: Run, tmp_path: Path) -> None:
    result = run("allocate", write(tmp_path, changed("capacity")))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "offers[1].capacity" in result.stderr


def test_a_missing_file_gets_one_line_naming_it_and_status_2(run: Run, tmp_path: Path) -> None:
    result = run("rank", tmp_path / "nowhere.json")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "nowhere.json" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("top", ["0", "-1", "many"])
def test_top_must_be_a_whole_number_of_at_least_one(run: Run, tmp_path: Path, top: str) -> None:
    result = run("rank", write(tmp_path, document()), "--top", top)
    assert result.returncode == 2
    assert "--top" in result.stderr
    assert "Traceback" not in result.stderr


def score(run: Run, kind: str) -> dict[str, Any]:
    """Run the command line on the shared dev set and score what it prints with score.py."""
    if not MATCH_EVAL.is_dir():
        pytest.skip(f"{MATCH_EVAL} is not present")
    dev = MATCH_EVAL / "dev.json"
    printed_output = printed(run(kind, dev))
    scorer = runpy.run_path(str(MATCH_EVAL / "score.py"))
    with dev.open(encoding="utf-8") as doc, (MATCH_EVAL / "dev.qrels.json").open(encoding="utf-8") as qrels:
        figures: dict[str, Any] = scorer[f"score_{kind}"](json.load(doc), json.load(qrels), printed_output)
    return figures


def test_rankings_of_the_dev_set_break_no_rule(run: Run) -> None:
    figures = score(run, "rank")
    assert figures["violations"] == 0
    assert figures["needs_scored"] > 0


def test_the_allocation_of_the_dev_set_breaks_no_rule(run: Run) -> None:
    figures = score(run, "allocate")
    assert figures["violations"] == 0
    assert figures["assigned"] > 0
