"""Time the directory (/offers/) with and without a text search, at city size (20,039 offers).

Offers are written through the models (so whatever keeps a revision's search index runs as it
would in use), in Chinese, English or both, with the field's vocabulary among common words. It
uses only the app factory, the models and the pages, so it runs on any revision: run it on the
commit before the search index and on this one to compare.

    .venv/bin/python benchmarks/bench_search.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_search.py --database-url postgresql+psycopg://…/db
        (the PostgreSQL database is emptied first)

Prints, for each query, the minimum, median and 95th percentile of the first page, the minimum and
median of the page its "Next" link opens, the median time spent waiting for the database on each,
and how many SQL statements one request ran; then one JSON line.
"""

import argparse
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

if not __package__:  # run as a script: make the repository importable, as under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import add_database_argument, database, make_app, signed_in
from matching.vocabulary import CONCEPTS
from portal.db import get_engine
from portal.models import Offer, OfferStatus, Organization, Role, User, VerificationStatus

QUERIES = [
    "",
    "培训",
    "training",
    "厨师",
    "保安",
    "心理",
    "心理咨询",
    "厨",
    "cook",
    "counselling",
    "warehouse 叉车",
    "xyzzy 无此词",
]
CATEGORIES = ["employment", "counselling", "training", "housing", "peer_support", "family_support"]
ZH_WORDS = (
    "欢迎 康复期人员 每周 提供 社区 服务 免费 需要 帮助 家属 工作日 上午 下午 报名 联系 地点 附近 经验 不限 年龄 "
    "身体健康 吃苦耐劳 有责任心 团队 支持 长期 稳定 待遇 面议 包餐 交通方便 西安 碑林区 雁塔区 莲湖区 新城区 "
    "未央区 我们 可以 一起 参加 活动 中心 老师 同伴 机会 生活 重新 开始 学习 岗位 要求"
).split()
EN_WORDS = (
    "we offer support for people in recovery weekly community help families day shift apply contact near "
    "experience welcome team stable long term meals transport xian district our centre staff peer chance "
    "life start again learn role needs friendly small quiet open every morning afternoon"
).split()
ZH_TERMS = [term for chinese, _ in CONCEPTS.values() for term in chinese if not term.isascii()]
EN_TERMS = [term.strip() for _, english in CONCEPTS.values() for term in english]


def _chinese(rng: random.Random, pieces: int) -> str:
    words = [rng.choice(ZH_TERMS) if rng.random() < 0.3 else rng.choice(ZH_WORDS) for _ in range(pieces)]
    return "".join(word + ("，" if rng.random() < 0.2 else "") for word in words) + "。"


def _english(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(EN_TERMS) if rng.random() < 0.25 else rng.choice(EN_WORDS) for _ in range(words)]
    return " ".join(chosen).capitalize() + "."


def _texts(rng: random.Random) -> tuple[str, str, list[str]]:
    """A title, a description (about 370 characters) and skills: half Chinese, a third English, the rest both."""
    kind = rng.random()
    if kind < 0.5:
        return _chinese(rng, 3)[:-1], _chinese(rng, 55), [rng.choice(ZH_TERMS)]
    if kind < 0.8:
        return _english(rng, 4)[:-1], _english(rng, 60), [rng.choice(EN_TERMS)]
    return _chinese(rng, 2)[:-1] + " " + _english(rng, 2)[:-1], _chinese(rng, 28) + " " + _english(rng, 30), []


def seed(session: Session, offers: int) -> User:
    rng = random.Random(12)
    organizations = [
        Organization(name=f"Provider {n}", kind="ngo", status=VerificationStatus.VERIFIED) for n in range(200)
    ]
    session.add_all(organizations)
    caseworker = User(email="cw@bench.example", name="Bench", password_hash="x", role=Role.CASEWORKER)
    session.add(caseworker)
    session.commit()
    statuses = [OfferStatus.OPEN] * 8 + [OfferStatus.PAUSED, OfferStatus.CLOSED]
    for n in range(offers):
        title, description, skills = _texts(rng)
        session.add(
            Offer(
                organization_id=organizations[n % len(organizations)].id,
                category=rng.choice(CATEGORIES),
                title=title[:200],
                description=description[:5000],
                skills=skills,
                languages=rng.choice([["zh"], ["en"], ["zh", "en"]]),
                status=rng.choice(statuses),
            )
        )
        if n % 500 == 499:
            session.commit()
    session.commit()
    return caseworker


class StatementCounter:
    """Statements run, and the time between sending each and its result: the database's share of
    a request, less moved by what else the machine runs than the request's whole time."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._started = 0.0

    def before(self, *_args: Any) -> None:
        self.count += 1
        self._started = time.perf_counter()

    def after(self, *_args: Any) -> None:
        self.seconds += time.perf_counter() - self._started


def timed(
    client: Any, url: str, runs: int, counter: StatementCounter
) -> tuple[list[float], list[float], int, str | None]:
    """Milliseconds per request and in the database, statements in one request, and the page's
    "Next" address."""
    times, database, html = [], [], ""
    for _ in range(runs):
        counter.count, counter.seconds = 0, 0.0
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        database.append(counter.seconds * 1000)
        assert response.status_code == 200, (url, response.status_code)
        html = response.get_data(as_text=True)
    following = re.search(r'<a href="([^"]+)"[^>]*>Next</a>', html)
    return times, database, counter.count, following.group(1).replace("&amp;", "&") if following else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offers", type=int, default=20_039)
    parser.add_argument("--runs", type=int, default=15)
    add_database_argument(parser)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the PostgreSQL data set a run before wrote (to time two revisions)"
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    reuse = args.reuse and args.database_url.startswith("postgresql")
    with database(args.database_url, keep=reuse) as url:
        app = make_app(url, migrate=not reuse)
        started = time.perf_counter()
        with Session(get_engine(app), expire_on_commit=False) as session:
            if reuse:
                caseworker = session.exec(select(User).where(User.email == "cw@bench.example")).one()
            else:
                caseworker = seed(session, args.offers)
                print(f"wrote {args.offers} offers in {time.perf_counter() - started:.0f} s")
            client = signed_in(app, session, caseworker)
        if url.startswith("postgresql"):
            # What autovacuum does soon after a bulk load: statistics, and the visibility map that
            # lets an index be read without the table.
            with get_engine(app).connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        counter = StatementCounter()
        sa.event.listen(get_engine(app), "before_cursor_execute", counter.before)
        sa.event.listen(get_engine(app), "after_cursor_execute", counter.after)
        for query in QUERIES:
            address = f"/offers/?q={query}"
            timed(client, address, 2, counter)  # warm-up: templates, caches
            first, db_times, statements, following = timed(client, address, args.runs, counter)
            second, second_database = timed(client, following, args.runs, counter)[:2] if following else ([], [])
            # The minimum too: on a shared machine it is the figure least moved by other processes.
            row: dict[str, Any] = {"first_min_ms": round(min(first), 1)}
            row["first_median_ms"] = round(statistics.median(first), 1)
            row["first_p95_ms"] = round(statistics.quantiles(first, n=20)[-1], 1)
            row["first_db_median_ms"] = round(statistics.median(db_times), 1)
            if second:
                row["next_min_ms"] = round(min(second), 1)
                row["next_median_ms"] = round(statistics.median(second), 1)
                row["next_db_median_ms"] = round(statistics.median(second_database), 1)
            row["statements"] = statements
            figures[query or "(no text)"] = row
            print(f"q={query!r:20} " + ", ".join(f"{name} {value}" for name, value in row.items()))
        get_engine(app).dispose()
    print(json.dumps({"database": url.split(":")[0], "offers": args.offers, "queries": figures}, ensure_ascii=False))


if __name__ == "__main__":
    main()
