"""Learning from the caseworkers: rankings shown and decisions recorded (per programme, off by
default), replayed by `matching evaluate`, learnt from by `matching retrain`."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

import matching.learning
from matching.learning import Example, LabelledSet
from matching.ranker import RANKER, SIGNALS, Ranker
from portal.matches import learning
from portal.models import (
    DecisionKind,
    Need,
    Offer,
    Person,
    RankingDecision,
    RankingShown,
    Referral,
    Role,
    User,
    utcnow,
)
from portal.people.retention import anonymise
from portal.referrals.services import transition
from tests.conftest import keyed
from tests.portal.test_matches import SUMMARY, a_cook, a_kitchen_need, post

Login = Callable[[User], FlaskClient]
HTMX = {"HX-Request": "true"}


@pytest.fixture
def person(session: Session, make_user: Callable[..., User]) -> Person:
    return a_cook(session, make_user)  # in community_rehab


@pytest.fixture
def kitchen_need(session: Session, person: Person) -> Need:
    return a_kitchen_need(session, person)


@pytest.fixture
def offers(session: Session, make_user: Callable[..., User]) -> list[Offer]:
    employer = make_user(Role.PROVIDER)
    return [
        post(session, employer, title="后厨帮工", description="后厨切配、炒菜。"),
        post(session, employer, title="食堂厨师", description="食堂炒菜。"),
        post(session, employer, title="Courier", description="Deliver parcels."),
    ]


@pytest.fixture
def learning_on(app: Flask) -> None:
    app.config["LEARNING_PROGRAMMES"] = ["community_rehab"]


def as_caseworker(session: Session, login: Login, need: Need) -> None:
    person = session.get(Person, need.person_id)
    assert person is not None
    caseworker = session.get(User, person.caseworker_id)
    assert caseworker is not None
    login(caseworker)


def rankings(session: Session) -> list[RankingShown]:
    session.commit()  # end the test's read snapshot before looking
    return list(session.exec(select(RankingShown)))


def decisions(session: Session) -> list[RankingDecision]:
    session.commit()
    return list(session.exec(select(RankingDecision)))


def test_nothing_is_recorded_by_default(
    client: FlaskClient, login: Login, session: Session, kitchen_need: Need, offers: list[Offer]
) -> None:
    as_caseworker(session, login, kitchen_need)
    html = client.get(f"/matches/needs/{kitchen_need.id}").get_data(as_text=True)
    assert "Score " in html and "helps the ranking learn" not in html
    client.post(f"/matches/needs/{kitchen_need.id}/approve", data=keyed(offer_id=str(offers[0].id), summary=SUMMARY))
    client.post(f"/matches/needs/{kitchen_need.id}/dismiss", data={"offer_id": str(offers[1].id), "reason": "other"})
    assert rankings(session) == [] and decisions(session) == []


def test_a_programme_not_listed_is_not_recorded(
    app: Flask, client: FlaskClient, login: Login, session: Session, kitchen_need: Need, offers: list[Offer]
) -> None:
    app.config["LEARNING_PROGRAMMES"] = ["community_detox"]
    as_caseworker(session, login, kitchen_need)
    client.get(f"/matches/needs/{kitchen_need.id}")
    assert rankings(session) == []


@pytest.mark.usefixtures("learning_on")
def test_the_matches_page_records_the_ranking_as_ids_and_numbers_only(
    client: FlaskClient, login: Login, session: Session, person: Person, kitchen_need: Need, offers: list[Offer]
) -> None:
    as_caseworker(session, login, kitchen_need)
    html = client.get(f"/matches/needs/{kitchen_need.id}").get_data(as_text=True)
    assert "helps the ranking learn" in html
    (shown,) = rankings(session)
    assert shown.need_id == kitchen_need.id and shown.ranker_digest == RANKER.digest()
    positions = [html.index(f'id="match-{item["offer"]}"') for item in shown.offers]
    assert positions == sorted(positions) and len(shown.offers) >= 2  # in the order shown
    for item in shown.offers:
        assert set(item) == {"offer", "signals"} and len(item["signals"]) == len(SIGNALS)
        assert all(isinstance(value, float | int) for value in item["signals"])
    stored = json.dumps(shown.offers, ensure_ascii=False)
    for text in (kitchen_need.description, "line cook", person.full_name, person.code, "后厨", "Courier", "cooking"):
        assert text not in stored
    # Shown again unchanged: still one ranking.
    client.get(f"/matches/needs/{kitchen_need.id}")
    assert len(rankings(session)) == 1


@pytest.mark.usefixtures("learning_on")
def test_an_unscored_list_is_not_recorded(
    client: FlaskClient, login: Login, session: Session, person: Person, kitchen_need: Need, offers: list[Offer]
) -> None:
    person.refuses_ranked_suggestions = True
    session.add(person)
    session.commit()
    as_caseworker(session, login, kitchen_need)
    html = client.get(f"/matches/needs/{kitchen_need.id}").get_data(as_text=True)
    assert "by title" in html and "helps the ranking learn" not in html
    assert rankings(session) == []


@pytest.mark.usefixtures("learning_on")
def test_approving_and_setting_aside_are_recorded_against_the_ranking_shown(
    client: FlaskClient, login: Login, session: Session, kitchen_need: Need, offers: list[Offer]
) -> None:
    as_caseworker(session, login, kitchen_need)
    client.get(f"/matches/needs/{kitchen_need.id}")
    (shown,) = rankings(session)
    first, second = (item["offer"] for item in shown.offers[:2])
    url = f"/matches/needs/{kitchen_need.id}"
    for _twice in range(2):  # a set-aside sent again is still one decision
        answer = client.post(f"{url}/dismiss", data={"offer_id": first, "reason": "too_far_in_practice"})
        assert answer.status_code == 303
    assert client.post(f"{url}/approve", data=keyed(offer_id=second, summary=SUMMARY)).status_code == 303
    found = {str(d.offer_id): d for d in decisions(session)}
    assert len(decisions(session)) == 2
    assert {d.ranking_id for d in found.values()} == {shown.id}
    assert found[first].decision == DecisionKind.SET_ASIDE and found[first].reason == "too_far_in_practice"
    assert found[second].decision == DecisionKind.APPROVED and found[second].reason == ""


@pytest.mark.usefixtures("learning_on")
def test_a_closed_record_takes_its_rankings_with_it(
    client: FlaskClient, login: Login, session: Session, person: Person, kitchen_need: Need, offers: list[Offer]
) -> None:
    as_caseworker(session, login, kitchen_need)
    client.get(f"/matches/needs/{kitchen_need.id}")
    (shown,) = rankings(session)
    client.post(
        f"/matches/needs/{kitchen_need.id}/dismiss", data={"offer_id": shown.offers[0]["offer"], "reason": "other"}
    )
    session.commit()  # a fresh transaction, to write in
    assert anonymise(session, person.id, utcnow())
    session.commit()
    assert rankings(session) == [] and decisions(session) == []


def test_evaluate_says_when_nothing_is_recorded(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["matching", "evaluate"])
    assert result.exit_code == 0 and "Nothing recorded" in result.output


@pytest.mark.usefixtures("learning_on")
def test_evaluate_replays_approvals_under_the_ranker_then_and_now(
    app: Flask, client: FlaskClient, login: Login, session: Session, kitchen_need: Need, offers: list[Offer]
) -> None:
    as_caseworker(session, login, kitchen_need)
    client.get(f"/matches/needs/{kitchen_need.id}")
    (shown,) = rankings(session)
    second = shown.offers[1]["offer"]
    client.post(f"/matches/needs/{kitchen_need.id}/approve", data=keyed(offer_id=second, summary=SUMMARY))
    result = app.test_cli_runner().invoke(args=["matching", "evaluate"])
    assert result.exit_code == 0, result.output
    assert "decisions: approved 1" in result.output and "approved offers: 1" in result.output
    rows = [line for line in result.output.splitlines() if "ranker" in line]
    # The second offer shown: not in the top 1, within the top 3 and 5, as shown and under the
    # current ranker (the one that ranked).
    assert [line.split()[0] for line in rows] == ["as", "current"]
    for line in rows:
        assert RANKER.digest() in line and line.split()[-6:] == ["0/1", "(0%)", "1/1", "(100%)", "1/1", "(100%)"]


def test_evaluate_scores_the_stored_signals_with_the_ranker_given(
    session: Session, kitchen_need: Need, offers: list[Offer]
) -> None:
    first, second = (str(offer.id) for offer in offers[:2])
    category, meaning = ([1.0 if s == name else 0.0 for s in SIGNALS] for name in ("category", "meaning"))
    session.commit()
    shown = RankingShown(
        need_id=kitchen_need.id,
        ranker_digest="then",
        offers=[{"offer": first, "signals": category}, {"offer": second, "signals": meaning}],
    )
    session.add(shown)
    session.flush()
    session.add(RankingDecision(ranking_id=shown.id, offer_id=offers[1].id, decision=DecisionKind.APPROVED))
    session.commit()
    by_meaning = Ranker(dict.fromkeys(SIGNALS, 0.0) | {"meaning": 1.0}, RANKER.calibration)
    found = learning.evaluate(session, by_meaning)
    assert found.rankings == 1 and found.decisions == {"approved": 1} and found.rankers_then == {"then"}
    assert found.then == {1: 0, 3: 1, 5: 1} and found.now == {1: 1, 3: 1, 5: 1}


# --- retrain ------------------------------------------------------------------------------------


def tiny_set(name: str = "tiny", people: int = 6) -> LabelledSet:
    """A labelled set in which the first signal is what caseworkers graded by."""
    rng = np.random.default_rng(7)
    examples = []
    for n in range(people):
        signals = rng.random((4, len(SIGNALS)))
        grades = np.argsort(np.argsort(signals[:, 0])).astype(np.int64)  # 0..3, by the first signal
        ids = tuple(f"{name}-o{n}-{i}" for i in range(4))
        examples.append(Example(f"{name}-p{n}", f"{name}-n{n}", 1, ids, signals, grades))
    capacity = {offer: 1 for e in examples for offer in e.offer_ids}
    return LabelledSet(name, examples, capacity, {e.need_id: e.person_id for e in examples})


@pytest.fixture
def decided(client: FlaskClient, login: Login, session: Session, kitchen_need: Need, offers: list[Offer]) -> None:
    """A ranking shown, its first offer set aside and its second approved."""
    as_caseworker(session, login, kitchen_need)
    client.get(f"/matches/needs/{kitchen_need.id}")
    (shown,) = rankings(session)
    url = f"/matches/needs/{kitchen_need.id}"
    client.post(f"{url}/dismiss", data={"offer_id": shown.offers[0]["offer"], "reason": "not_suitable"})
    client.post(f"{url}/approve", data=keyed(offer_id=shown.offers[1]["offer"], summary=SUMMARY))


@pytest.mark.usefixtures("learning_on", "decided")
def test_decisions_become_graded_examples(session: Session) -> None:
    session.commit()  # end the test's read snapshot before looking
    (example,) = learning.decision_examples(session)
    assert example.grades.tolist()[:2] == [0, 2] and example.signals.shape == (len(example.offer_ids), len(SIGNALS))
    found = learning.retrain(session, [tiny_set()])
    assert set(found.before["tiny"]) >= {"ndcg@5", "allocation"} and set(found.after) == {"tiny"}
    assert "portal decisions (1)" in found.ranker.trained_on


@pytest.mark.usefixtures("learning_on", "decided")
def test_an_approval_whose_referral_helped_the_person_grades_higher(session: Session) -> None:
    """The provider records the outcome through the referral's steps; the ranker learns from it."""
    session.commit()
    referral = session.exec(select(Referral)).one()
    offer = session.get(Offer, referral.offer_id)
    assert offer is not None
    provider = session.exec(select(User).where(User.organization_id == offer.organization_id)).first()
    for action, reason in (("accept", ""), ("start", ""), ("complete", "got_help")):
        transition(session, referral, action, provider, reason=reason)
    (example,) = learning.decision_examples(session)
    assert example.grades.tolist()[:2] == [0, 3]


def test_retrain_refuses_when_nothing_was_decided(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(learning, "labelled_sets", lambda: [tiny_set()])
    result = app.test_cli_runner().invoke(args=["matching", "retrain"])
    assert result.exit_code == 1 and "nothing to learn from" in result.output


def _figures(ndcg5: float, allocation: float) -> dict[str, dict[str, dict[str, float]]]:
    row = {"ndcg@5": ndcg5, "ndcg@10": 0.5, "recall@10": 0.5, "allocation": allocation}
    return {"tiny": {"cross-validated": row}}


def _study_where_decisions_give(
    ndcg5: float, allocation: float
) -> Callable[..., dict[str, dict[str, dict[str, float]]]]:
    def study(_sets: Any, folds: int = 5, extra: Any = ()) -> dict[str, dict[str, dict[str, float]]]:
        return _figures(ndcg5, allocation) if extra else _figures(0.6, 0.8)

    return study


@pytest.mark.usefixtures("learning_on", "decided")
def test_retrain_writes_nothing_when_a_labelled_figure_falls(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(learning, "labelled_sets", lambda: [tiny_set()])
    monkeypatch.setattr(matching.learning, "study", _study_where_decisions_give(0.7, 0.79))
    target = tmp_path / "ranker.json"
    result = app.test_cli_runner().invoke(args=["matching", "retrain", "--write", "--to", str(target)])
    assert result.exit_code == 1 and "allocation of tiny (0.800 -> 0.790) fell" in result.output
    assert "ndcg@5 of tiny" not in result.output and not target.exists()


@pytest.mark.usefixtures("learning_on", "decided")
def test_retrain_writes_the_ranker_only_with_write_when_no_figure_falls(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(learning, "labelled_sets", lambda: [tiny_set()])
    monkeypatch.setattr(matching.learning, "study", _study_where_decisions_give(0.6, 0.85))
    target = tmp_path / "ranker.json"
    dry = app.test_cli_runner().invoke(args=["matching", "retrain", "--to", str(target)])
    assert dry.exit_code == 0 and "--write" in dry.output and not target.exists()
    result = app.test_cli_runner().invoke(args=["matching", "retrain", "--write", "--to", str(target)])
    assert result.exit_code == 0 and "written to" in result.output, result.output
    written = Ranker.load(target)
    assert set(written.weights) == set(SIGNALS) and "portal decisions (1)" in written.trained_on
