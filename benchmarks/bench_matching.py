"""Benchmark of the matching engine (matching/) on synthetic offers and needs in Chinese and English.

What it measures, on data generated with a fixed seed (the same figures of data on every run):
1. building the index: `OfferIndex().fit(offers)` for N offers, wall seconds, with stand-in vectors
   (see `stand_in_vectors`); then the model itself on real-length texts: milliseconds to encode one
   offer, and how soon a new offer is rankable (its features computed, the index updated: ≤ 1 s);
2. ranking one need: `index.rank(person, need, top=10)` on about 300 random needs (the first 20
   calls are a warm-up and discarded), p50 and p95 in milliseconds;
3. re-ranking every need against the index in one process (`explain=False`): total seconds, and
   the peak resident memory of the process (ru_maxrss);
4. exact allocation: `matching.allocation.allocate` on 5,000 needs × 2,000 offers with about
   250,000 eligible pairs, seconds; the result is checked against the constraints, and on small
   instances (300 needs × 100 offers) its value is compared with scipy.optimize.milp (HiGHS).

The text is built from a bilingual pool of domain words, function words and a long Zipf tail of
pseudo-words (so the vocabulary is as large as a real catalogue's): half the offers are
English-dominant, 30 % Chinese-dominant (written without spaces), 20 % mixed.

Run from the repository root:
    .venv/bin/python benchmarks/bench_matching.py                # 20,000 offers, 5,000 needs
    .venv/bin/python benchmarks/bench_matching.py --quick        # smoke run: small sizes
    .venv/bin/python benchmarks/bench_matching.py --offers 50000 --needs 10000

Every figure is printed with its unit and, where there is one, its target and PASS/FAIL; the last
line is a one-line JSON summary of all figures.
"""

import argparse
import hashlib
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import version
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp
from stand_in import stand_in_vectors

from matching import Candidate, Eligibility, Location, Need, Offer, OfferIndex, Person, allocate
from matching.engine import rank_with, with_meanings
from matching.features import text_features
from matching.model import CATEGORIES, SLOTS
from matching.vocabulary import concepts_in

SEED = 20250611
RANK_CALLS = 300
WARM_UP = 20
MILP_INSTANCES = 3
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Sizes:
    offers: int
    needs: int
    alloc_needs: int
    alloc_offers: int
    alloc_per_need: int = 50
    milp_needs: int = 300
    milp_offers: int = 100
    milp_per_need: int = 20
    pseudo_words: int = 20_000


FULL = Sizes(offers=20_000, needs=5_000, alloc_needs=5_000, alloc_offers=2_000)
QUICK = Sizes(offers=2_000, needs=300, alloc_needs=500, alloc_offers=200, alloc_per_need=40, pseudo_words=5_000)

# The targets are set for the full sizes (20,000 offers, 5,000 needs, allocation 5,000 × 2,000).
TARGETS = {
    "rank_p50_ms": 15.0,
    "rank_p95_ms": 30.0,
    "rank_all_s": 60.0,
    "new_offer_rankable_s": 1.0,
    "peak_rss_gb": 1.5,
    "allocate_s": 2.0,
}

# Domain words per category: (Chinese, English).
CATEGORY_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "employment": (
        ("就业", "工作", "岗位", "招聘", "厨师", "后厨", "仓库", "叉车", "保安", "保洁", "司机", "快递", "外卖")
        + ("服务员", "收银", "工厂", "流水线", "维修", "电工", "销售", "文员", "工资", "兼职", "全职", "包住"),
        ("job", "employment", "kitchen", "chef", "cook", "warehouse", "forklift", "security guard", "cleaner")
        + ("driver", "delivery", "courier", "waiter", "cashier", "factory", "assembly line", "repair", "electrician")
        + ("sales", "retail", "office", "data entry", "wages", "part-time", "full-time", "shift", "dormitory"),
    ),
    "training": (
        ("培训", "技能", "课程", "证书", "考证", "学徒", "夜校", "厨师培训", "叉车证", "电工证", "电脑", "手艺")
        + ("补贴", "免费", "职业资格", "上课", "学习"),
        ("training", "course", "certificate", "apprentice", "skills", "class", "qualification", "evening class")
        + ("forklift licence", "computer", "stipend", "free", "study", "trade school", "learn"),
    ),
    "counselling": (
        ("心理咨询", "咨询师", "心理辅导", "一对一", "小组", "情绪", "焦虑", "抑郁", "失眠", "创伤", "防复吸")
        + ("渴求", "正念", "倾诉", "社工", "个案"),
        ("counselling", "therapy", "therapist", "one-to-one", "group", "anxiety", "depression", "sleep", "trauma")
        + ("relapse prevention", "craving", "mindfulness", "someone to talk", "caseworker", "social worker"),
    ),
    "family_support": (
        ("家庭", "亲子", "育儿", "家属", "婚姻", "夫妻", "调解", "沟通", "孩子", "单亲", "探视", "托管", "家访"),
        ("family", "parenting", "children", "carers", "mediation", "couple", "marriage", "single parent")
        + ("visitation", "after-school", "home visit", "reconciliation"),
    ),
    "health": (
        ("美沙酮", "维持治疗", "体检", "门诊", "医生", "肝炎", "丙肝", "艾滋", "结核", "牙科", "脱毒", "纳洛酮"),
        ("methadone", "clinic", "doctor", "check-up", "hepatitis", "HIV", "tuberculosis", "dental", "detox")
        + ("naloxone", "medication", "health"),
    ),
    "housing": (
        ("住房", "租房", "公租房", "过渡性住房", "中途之家", "床位", "救助站", "押金", "房东", "合租", "住宿"),
        ("housing", "rent", "flat", "room", "shelter", "halfway house", "transitional housing", "supported housing")
        + ("deposit", "landlord", "tenancy"),
    ),
    "legal": (
        ("法律援助", "律师", "法援", "欠薪", "劳动合同", "仲裁", "户口", "身份证", "补办", "社保", "债务", "案底"),
        ("legal aid", "lawyer", "court", "unpaid wages", "contract", "arbitration", "hukou", "ID card", "documents")
        + ("debt", "criminal record", "rights"),
    ),
    "peer_support": (
        ("同伴互助", "互助", "过来人", "戒友", "匿名戒毒会", "志愿", "陪伴", "导师", "聚会", "孤独", "交朋友"),
        ("peer support", "mutual aid", "lived experience", "NA meeting", "volunteer", "mentor", "buddy")
        + ("fellowship", "lonely", "friends", "recovery group"),
    ),
}
FILLER = {
    "zh": ("我们", "提供", "为", "的", "和", "以及", "帮助", "服务", "社区", "地点", "时间", "每周", "欢迎", "参加")
    + ("需要", "可以", "报名", "联系", "中心", "项目", "有", "经验", "人员", "街道", "机构", "一起", "支持", "康复")
    + ("开展", "安排", "适合", "名额", "地址", "周一", "周三", "上午"),
    "en": ("we", "offer", "the", "a", "and", "for", "with", "in", "to", "our", "this", "is", "service", "community")
    + ("weekly", "welcome", "join", "people", "programme", "open", "available", "sessions", "team", "support")
    + ("district", "Xi'an", "please", "can", "new", "each", "from", "at", "by", "all"),
}
PUNCTUATION = {"zh": ("，", "。", "、"), "en": (",", ".", ";")}
SKILLS = (
    ("叉车证", "forklift licence", "厨房卫生", "kitchen hygiene", "电脑操作", "Excel", "驾照C1", "driving licence")
    + ("电工证", "electrical wiring", "保洁", "cleaning", "收银", "cash handling", "普通话", "customer service")
    + ("缝纫", "sewing", "理发", "haircutting", "手机维修", "phone repair", "搬运", "heavy lifting", "英语")
    + ("English", "护理", "care work", "面点", "pastry", "焊工", "welding", "库存管理", "stock control", "育儿")
)
AREAS = ("雁塔区", "碑林区", "莲湖区", "新城区", "未央区", "灞桥区", "长安区", "高新区", "曲江新区", "经开区")
PROVIDERS = (
    "社区戒毒康复工作站",
    "社会工作服务中心",
    "Recovery Partners",
    "职业技能培训学校",
    "Community Health Clinic",
)
STATUSES = ("open", "closed", "paused")
OFFER_LANGUAGES = {
    "en": ((("en",), ("zh", "en"), ()), (40, 40, 20)),
    "zh": ((("zh",), ("zh", "en"), ()), (60, 20, 20)),
    "mixed": ((("zh", "en"), ()), (70, 30)),
}
# Share of Chinese words in a text of each style.
CHINESE_SHARE = {"en": 0.07, "zh": 0.93, "mixed": 0.5}
ONSETS = tuple("bcdfghjklmnprstvwz") + ("br", "ch", "cl", "dr", "fl", "gr", "kr", "pl", "qu", "sh", "sl", "th", "tr")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ee", "io", "ou", "y")
CODAS = ("", "", "", "n", "r", "s", "t", "l", "m", "ck", "nd", "st")


# Synthetic text


def bench_model(index: OfferIndex, offers: list[Offer], summary: dict[str, Any], full_size: bool) -> None:
    """The real model: one offer's text encoded, and a new offer made rankable in a built index."""
    text_features(offers[:1])  # loads the model
    times_ms = []
    for offer in offers[1:21]:
        start = time.perf_counter()
        text_features([offer])
        times_ms.append((time.perf_counter() - start) * 1000)
    show("one offer's features with its vector (p50 of 20)", f"{percentile(times_ms, 50):.0f} ms")
    new = replace(offers[21], id="o-new")
    start = time.perf_counter()
    (features,) = text_features([new])
    updated = index.updated([(new, features)])
    seconds = time.perf_counter() - start
    assert "o-new" in updated.position_
    show(
        "a new offer rankable (features + index update)",
        f"{seconds:.2f} s",
        verdict("new_offer_rankable_s", seconds, full_size),
    )
    summary.update(encode_offer_ms=round(percentile(times_ms, 50), 1), new_offer_rankable_s=round(seconds, 3))


def _english_pseudo_word(rng: random.Random) -> str:
    syllables = (rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.randint(2, 3)))
    return "".join(syllables) + rng.choice(CODAS)


def _pseudo_words(rng: random.Random, count: int, make: Callable[[random.Random], str]) -> list[str]:
    """`count` distinct pseudo-words that mean nothing to the engine's vocabulary."""
    words: dict[str, None] = {}
    while len(words) < count:
        word = make(rng)
        if word not in words and not concepts_in(word):
            words[word] = None
    return list(words)


class TextMaker:
    """Bilingual synthetic text: 30 % domain words (mostly of the text's category), 40 % function
    words, 30 % pseudo-words drawn from a Zipf law (a few common ones, a long tail of rare ones)."""

    def __init__(self, rng: random.Random, pseudo_words: int) -> None:
        self.rng = rng
        alphabet = [chr(code) for code in rng.sample(range(0x4E00, 0x9FA6), 2500)]

        def chinese(r: random.Random) -> str:
            return "".join(r.choices(alphabet, k=r.randint(2, 3)))

        self.pseudo = {
            "en": _pseudo_words(rng, pseudo_words, _english_pseudo_word),
            "zh": _pseudo_words(rng, pseudo_words, chinese),
        }
        self.cum_weights = list(accumulate(rank**-1.05 for rank in range(1, pseudo_words + 1)))

    def word(self, category: str, language: str) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.3:
            topic = category if rng.random() < 0.8 else rng.choice(CATEGORIES)
            return rng.choice(CATEGORY_WORDS[topic][language == "en"])
        if kind < 0.7:
            return rng.choice(FILLER[language])
        return rng.choices(self.pseudo[language], cum_weights=self.cum_weights)[0]

    def text(self, category: str, count: int, style: str, punctuate: bool = True) -> str:
        """`count` words; Chinese words are written without spaces between them."""
        rng = self.rng
        parts: list[str] = []
        previous: str | None = None
        for _ in range(count):
            language = "zh" if rng.random() < CHINESE_SHARE[style] else "en"
            if previous is not None and not (previous == language == "zh"):
                parts.append(" ")
            parts.append(self.word(category, language))
            if punctuate and rng.random() < 0.08:
                parts.append(rng.choice(PUNCTUATION[language]))
            previous = language
        if punctuate and previous is not None:
            parts.append("。" if previous == "zh" else ".")
        return "".join(parts)


# Synthetic offers and people


def _location(rng: random.Random) -> Location:
    return Location(round(rng.uniform(34.15, 34.40), 5), round(rng.uniform(108.80, 109.10), 5), rng.choice(AREAS))


def _slots(rng: random.Random, none_share: float) -> tuple[str, ...]:
    if rng.random() < none_share:
        return ()
    return tuple(sorted(rng.sample(SLOTS, rng.randint(1, len(SLOTS))), key=SLOTS.index))


def _eligibility(rng: random.Random) -> Eligibility:
    return Eligibility(
        min_age=rng.randint(18, 30) if rng.random() < 0.3 else None,
        max_age=rng.randint(40, 65) if rng.random() < 0.3 else None,
        genders=(rng.choice(("male", "female")),) if rng.random() < 0.15 else (),
        min_months_in_recovery=rng.randint(1, 24) if rng.random() < 0.2 else None,
    )


def make_offer(rng: random.Random, text: TextMaker, number: int) -> Offer:
    category = rng.choice(CATEGORIES)
    style = rng.choices(("en", "zh", "mixed"), weights=(50, 30, 20))[0]
    remote = rng.random() < 0.1
    choices, weights = OFFER_LANGUAGES[style]
    return Offer(
        id=f"o-{number:06d}",
        category=category,
        title=text.text(category, rng.randint(5, 10), style, punctuate=False),
        description=text.text(category, rng.randint(40, 60), style),
        provider=f"{rng.choice(AREAS)}{rng.choice(PROVIDERS)}",
        skills=tuple(rng.sample(SKILLS, rng.randint(0, 3))),
        languages=rng.choices(choices, weights=weights)[0],
        location=None if remote and rng.random() < 0.5 else _location(rng),
        remote=remote,
        schedule=_slots(rng, none_share=0.2),
        capacity=rng.randint(0, 10),
        status=rng.choices(STATUSES, weights=(90, 7, 3))[0],
        eligibility=_eligibility(rng),
    )


def make_person(rng: random.Random, text: TextMaker, number: int, first_need: int, needs: int) -> Person:
    return Person(
        id=f"p-{number:06d}",
        age=rng.randint(18, 65),
        gender=rng.choices(("male", "female", None), weights=(75, 23, 2))[0],
        languages=rng.choices((("zh",), ("zh", "en"), ("en",)), weights=(60, 30, 10))[0],
        location=_location(rng),
        max_travel_km=round(rng.uniform(5, 30), 1),
        availability=_slots(rng, none_share=0.1),
        months_in_recovery=rng.randint(0, 60),
        skills=tuple(rng.sample(SKILLS, rng.randint(0, 3))),
        needs=tuple(make_need(rng, text, first_need + k) for k in range(needs)),
    )


def make_need(rng: random.Random, text: TextMaker, number: int) -> Need:
    category = rng.choice(CATEGORIES)
    style = rng.choices(("zh", "en"), weights=(55, 45))[0]
    return Need(
        id=f"n-{number:06d}",
        category=category,
        description=text.text(category, rng.randint(20, 30), style),
        urgency=rng.randint(1, 3),
    )


def make_people(rng: random.Random, text: TextMaker, total_needs: int) -> list[Person]:
    """People with 1-3 needs each, `total_needs` needs in all."""
    people: list[Person] = []
    made = 0
    while made < total_needs:
        count = min(rng.randint(1, 3), total_needs - made)
        people.append(make_person(rng, text, len(people), made, count))
        made += count
    return people


# Synthetic allocation instances


@dataclass
class AllocationInstance:
    candidates: list[Candidate]
    capacity: dict[str, int]
    person_of: dict[str, str]


def _people_of(rng: np.random.Generator, needs: int) -> dict[str, str]:
    person_of: dict[str, str] = {}
    person = 0
    while len(person_of) < needs:
        for _ in range(int(rng.integers(1, 4))):
            if len(person_of) < needs:
                person_of[f"an-{len(person_of):06d}"] = f"ap-{person:06d}"
        person += 1
    return person_of


def make_allocation_instance(rng: np.random.Generator, needs: int, offers: int, per_need: int) -> AllocationInstance:
    """`needs` needs, `offers` offers with 1-5 places, about `per_need` eligible offers per need drawn
    without replacement by a skewed popularity (so people's several needs often share offers);
    value = (0, 7] × urgency 1-3, as the engine values (2^grade - 1) × urgency."""
    offer_ids = [f"ao-{j:06d}" for j in range(offers)]
    capacity = dict(zip(offer_ids, rng.integers(1, 6, offers).tolist(), strict=True))
    person_of = _people_of(rng, needs)
    need_ids = list(person_of)
    popularity = rng.permutation(1.0 / (np.arange(offers) + 10.0))
    counts = np.minimum(rng.integers(int(per_need * 0.6), int(per_need * 1.4) + 1, needs), offers)
    widest = int(counts.max())
    # Gumbel top-k: the k largest of log(p) + Gumbel noise are a draw of k without replacement ∝ p.
    keys = np.log(popularity) + rng.gumbel(size=(needs, offers))
    top = np.argpartition(-keys, widest - 1, axis=1)[:, :widest]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1), axis=1)
    urgency = rng.integers(1, 4, needs)
    base = 7.0 - rng.uniform(0.0, 7.0, size=(needs, widest))
    candidates = [
        Candidate(need_ids[i], offer_ids[top[i, r]], float(base[i, r] * urgency[i]))
        for i in range(needs)
        for r in range(counts[i])
    ]
    return AllocationInstance(candidates, capacity, person_of)


def shared_groups(instance: AllocationInstance) -> int:
    """(person, offer) pairs that more than one of the person's needs could take."""
    groups = Counter((instance.person_of[c.need], c.offer) for c in instance.candidates)
    return sum(1 for n in groups.values() if n > 1)


def check_allocation(instance: AllocationInstance, result: dict[str, str | None]) -> tuple[list[str], int, float]:
    """Constraint violations (empty when valid), the number of needs assigned, and the total value."""
    value = {(c.need, c.offer): c.value for c in instance.candidates}
    problems: list[str] = []
    if set(result) != set(instance.person_of):
        problems.append("the result does not list exactly the needs given")
    used: Counter[str] = Counter()
    held: set[tuple[str, str]] = set()
    total = 0.0
    for need, offer in result.items():
        if offer is None:
            continue
        if (need, offer) not in value:
            problems.append(f"{need} -> {offer} is not a candidate pair")
            continue
        total += value[(need, offer)]
        used[offer] += 1
        person = instance.person_of[need]
        if (person, offer) in held:
            problems.append(f"{person} holds {offer} twice")
        held.add((person, offer))
    problems += [
        f"{o} over capacity: {n} > {instance.capacity[o]}" for o, n in used.items() if n > instance.capacity[o]
    ]
    return problems, sum(used.values()), total


def milp_optimum(instance: AllocationInstance) -> float:
    """The optimal total value by integer programming (HiGHS, zero gap), as an independent check."""
    useful = [c for c in instance.candidates if c.value > 0 and instance.capacity.get(c.offer, 0) > 0]
    rows: dict[tuple[str, str], int] = {}
    upper: list[float] = []
    entries: list[tuple[int, int]] = []

    def row(key: tuple[str, str], bound: float) -> int:
        if key not in rows:
            rows[key] = len(upper)
            upper.append(bound)
        return rows[key]

    shared = Counter((instance.person_of[c.need], c.offer) for c in useful)
    for j, c in enumerate(useful):
        entries.append((row(("need", c.need), 1), j))
        entries.append((row(("offer", c.offer), instance.capacity[c.offer]), j))
        person_offer = (instance.person_of[c.need], c.offer)
        if shared[person_offer] > 1:
            entries.append((row(("person", "\t".join(person_offer)), 1), j))
    r, j = zip(*entries, strict=True)
    matrix = sp.csr_matrix((np.ones(len(entries)), (r, j)), shape=(len(upper), len(useful)))
    values = np.array([c.value for c in useful])
    result = milp(
        -values,
        constraints=LinearConstraint(matrix, -np.inf, np.array(upper)),
        integrality=np.ones(len(useful)),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 0.0},
    )
    if not result.success:
        raise RuntimeError(f"milp failed: {result.message}")
    return float(-result.fun)


# Measuring and printing


def matching_version() -> str:
    """The commit the engine was measured at, with "+dirty" when matching/ has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain", "--", "matching") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_load() -> str:
    """CPUs, load average and BLAS thread settings: timings depend on them (a busy machine inflates them)."""
    threads = ", ".join(f"{name}={os.environ[name]}" for name in BLAS_THREAD_VARIABLES if name in os.environ)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    return f"{os.cpu_count()} CPUs, load average {load:.2f} at start, BLAS threads: {threads or 'default'}"


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (10^9 bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9  # bytes on macOS, KiB on Linux


def verdict(name: str, value: float, full_size: bool) -> str:
    target = TARGETS[name]
    mark = "PASS" if value <= target else "FAIL"
    return f"target ≤ {target:g}  {mark}" + ("" if full_size else "  (target set for the full sizes)")


def show(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<44} {value:>14}  {note}".rstrip())


def heading(text: str) -> None:
    print(f"\n== {text}")


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def rankings_digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def parse_args(argv: list[str] | None) -> tuple[Sizes, int, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--offers", type=int, metavar="N", help=f"offers in the index (default {FULL.offers})")
    parser.add_argument("--needs", type=int, metavar="N", help=f"needs re-ranked in section 3 (default {FULL.needs})")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        offers=args.offers or base.offers,
        needs=args.needs or base.needs,
        alloc_needs=base.alloc_needs,
        alloc_offers=base.alloc_offers,
        alloc_per_need=base.alloc_per_need,
        pseudo_words=base.pseudo_words,
    )
    full_size = (sizes.offers, sizes.needs, sizes.alloc_needs) == (FULL.offers, FULL.needs, FULL.alloc_needs)
    return sizes, args.seed, full_size


def bench_ranking(
    index: OfferIndex, people: list[Person], sizes: Sizes, seed: int, full_size: bool, summary: dict[str, Any]
) -> None:
    pairs = [(person, need) for person in people for need in person.needs]

    heading(f"2. Ranking one need: index.rank(person, need, top=10) on {RANK_CALLS} needs after {WARM_UP} warm-up")
    rng = random.Random(seed + 1)
    sample = [rng.choice(pairs) for _ in range(WARM_UP + RANK_CALLS)]
    times_ms = []
    for person, need in sample:
        start = time.perf_counter()
        index.rank(person, need, top=10)
        times_ms.append((time.perf_counter() - start) * 1000)
    times_ms = times_ms[WARM_UP:]
    p50, p95 = percentile(times_ms, 50), percentile(times_ms, 95)
    eligible = [int((index.failed_rule_counts(p, index.distances_km(p)) == 0).sum()) for p, _ in sample[:100]]
    show("p50", f"{p50:.2f} ms", verdict("rank_p50_ms", p50, full_size))
    show("p95", f"{p95:.2f} ms", verdict("rank_p95_ms", p95, full_size))
    show("mean / max", f"{np.mean(times_ms):.2f} ms", f"max {max(times_ms):.2f} ms")
    show("eligible offers per need (mean of 100)", f"{np.mean(eligible):.0f}", f"of {len(index.offers_)}")
    summary.update(rank_p50_ms=round(p50, 3), rank_p95_ms=round(p95, 3), eligible_per_need=round(np.mean(eligible)))

    heading(f"3. Re-ranking all {len(pairs)} needs against {len(index.offers_)} offers (top=10, explain=False)")
    start = time.perf_counter()
    rankings = rank_with(index, people, top=10)  # all needs' TF-IDF rows in one transform
    total = time.perf_counter() - start
    lines = [f"{need}:{','.join(ranking.offer_ids)}" for need, ranking in rankings.items()]
    peak = peak_rss_gb()
    show("total", f"{total:.1f} s", verdict("rank_all_s", total, full_size))
    show("per need", f"{total / len(pairs) * 1000:.2f} ms")
    show("peak memory of the process (ru_maxrss)", f"{peak:.2f} GB", verdict("peak_rss_gb", peak, full_size))
    show("digest of all rankings (sha256, 16 hex)", rankings_digest(lines))
    summary.update(rank_all_s=round(total, 2), peak_rss_gb=round(peak, 3), rankings_sha256=rankings_digest(lines))


def bench_allocation(sizes: Sizes, seed: int, full_size: bool, summary: dict[str, Any]) -> None:
    heading(f"4. Exact allocation: allocate() on {sizes.alloc_needs} needs × {sizes.alloc_offers} offers")
    instance = make_allocation_instance(
        np.random.default_rng(seed + 2), sizes.alloc_needs, sizes.alloc_offers, sizes.alloc_per_need
    )
    people = len(set(instance.person_of.values()))
    show("eligible (need, offer) pairs", f"{len(instance.candidates):,}")
    show("people / places in all", f"{people:,} / {sum(instance.capacity.values()):,}")
    show("(person, offer) pairs shared by 2+ needs", f"{shared_groups(instance):,}")
    start = time.perf_counter()
    result = allocate(instance.candidates, instance.capacity, instance.person_of)
    seconds = time.perf_counter() - start
    problems, assigned, value = check_allocation(instance, result)
    show("time", f"{seconds:.2f} s", verdict("allocate_s", seconds, full_size))
    show("needs assigned", f"{assigned:,}", f"of {sizes.alloc_needs:,}")
    show("total value", f"{value:.4f}")
    show("constraints (capacity, once per person, pairs)", "OK" if not problems else f"{len(problems)} VIOLATED")
    for problem in problems[:10]:
        print(f"    ! {problem}")
    summary.update(
        allocate_s=round(seconds, 3),
        allocate_pairs=len(instance.candidates),
        allocate_assigned=assigned,
        allocate_value=round(value, 4),
        allocate_valid=not problems,
    )

    heading(
        f"5. Optimality check against scipy.optimize.milp (HiGHS, gap 0) on {sizes.milp_needs} × {sizes.milp_offers}"
    )
    checks = []
    for k in range(MILP_INSTANCES):
        small = make_allocation_instance(
            np.random.default_rng(seed + 10 + k), sizes.milp_needs, sizes.milp_offers, sizes.milp_per_need
        )
        problems, _assigned, ours = check_allocation(small, allocate(small.candidates, small.capacity, small.person_of))
        start = time.perf_counter()
        best = milp_optimum(small)
        milp_s = time.perf_counter() - start
        equal = not problems and math.isclose(ours, best, rel_tol=1e-7, abs_tol=1e-6)
        checks.append({"allocate": round(ours, 6), "milp": round(best, 6), "equal": equal})
        show(
            f"instance {k + 1}: {len(small.candidates):,} pairs",
            f"{ours:.6f}",
            f"milp {best:.6f} ({milp_s:.2f} s)  {'EQUAL' if equal else 'DIFFERENT'}",
        )
    summary.update(milp_checks=checks, milp_all_equal=all(c["equal"] for c in checks))


def main(argv: list[str] | None = None) -> int:
    sizes, seed, full_size = parse_args(argv)
    commit = matching_version()
    summary: dict[str, Any] = {"offers": sizes.offers, "needs": sizes.needs, "seed": seed, "commit": commit}
    print(f"Bridge matching benchmark — seed {seed}, {sizes.offers} offers, {sizes.needs} needs, matching at {commit}")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {version('scipy')}, "
        f"scikit-learn {version('scikit-learn')}, {platform.machine()}"
    )
    print(machine_load())

    heading("0. Synthetic data")
    start = time.perf_counter()
    rng = random.Random(seed)
    text = TextMaker(rng, sizes.pseudo_words)
    offers = [make_offer(rng, text, i) for i in range(sizes.offers)]
    people = with_meanings(make_people(rng, text, sizes.needs), stand_in_vectors)  # stored with each need
    show("generation time", f"{time.perf_counter() - start:.1f} s")
    show("offers / people / needs", f"{len(offers)} / {len(people)} / {sizes.needs}")
    show("mean offer text length", f"{np.mean([len(o.text) for o in offers]):.0f} chars")
    show("peak memory after generation", f"{peak_rss_gb():.2f} GB")

    heading(f"1. Index build: OfferIndex().fit(offers) for {len(offers)} offers (stand-in vectors)")
    start = time.perf_counter()
    index = OfferIndex().fit(offers, encode=stand_in_vectors)
    build = time.perf_counter() - start
    show("build time", f"{build:.2f} s")
    vocabulary = int(np.count_nonzero(index.idf_))
    show("TF-IDF vocabulary (hashed char n-gram columns in use)", f"{vocabulary:,}")
    show("peak memory after build", f"{peak_rss_gb():.2f} GB")
    summary.update(index_build_s=round(build, 2), vocabulary=vocabulary)
    bench_model(index, offers, summary, full_size)

    bench_ranking(index, people, sizes, seed, full_size, summary)
    bench_allocation(sizes, seed, full_size, summary)

    targets = {name: summary[name] <= target for name, target in TARGETS.items()}
    summary["targets_met"] = targets
    summary["full_size"] = full_size
    failed = [name for name, met in targets.items() if not met]
    heading("Targets")
    show("failed", ", ".join(failed) if failed else "none")
    print(json.dumps(summary, ensure_ascii=False, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
