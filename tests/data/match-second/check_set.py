#!/usr/bin/env python3
"""Check the second labelled matching set (match-exchange/1) and its qrels.

    python3 check_set.py [second.json [second.qrels.json]]

Validates the format, ids and field values, re-applies the seven eligibility rules of
FORMAT.md (written out here so the check needs nothing outside this folder), and prints
per need how many ELIGIBLE offers are graded >= 1 and >= 2. Exits 1 on any problem.
Standard library only.
"""

import json
import math
import os
import re
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
CATEGORIES = {"employment", "training", "counselling", "family_support", "health", "housing", "legal", "peer_support"}
SLOTS = {"weekday_day", "weekday_evening", "weekend"}
LANGS = {"zh", "en", "ii", "bo", "ug", "fr", "ru", "ko", "ja", "ar", "es", "de"}  # ISO 639-1 codes we accept
STATUSES = {"open", "closed", "paused"}
GENDERS = {"male", "female"}
ELIG_KEYS = {"min_age", "max_age", "genders", "min_months_in_recovery"}


# ---- the seven hard rules of FORMAT.md ----
def km(a, b):
    la1, lo1, la2, lo2 = map(math.radians, (a["lat"], a["lon"], b["lat"], b["lon"]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def eligible(p, o):
    if o.get("status", "open") != "open" or o.get("capacity", 1) <= 0:  # 1 open, places left
        return False
    r = o.get("eligibility") or {}
    age = p.get("age")
    if age is not None and r.get("min_age") is not None and age < r["min_age"]:  # 2 age
        return False
    if age is not None and r.get("max_age") is not None and age > r["max_age"]:
        return False
    if r.get("genders") and p.get("gender") is not None and p["gender"] not in r["genders"]:  # 3
        return False
    if p.get("months_in_recovery", 0) < r.get("min_months_in_recovery", 0):  # 4
        return False
    if o.get("languages") and p.get("languages") and not set(o["languages"]) & set(p["languages"]):  # 5
        return False
    if (
        not o.get("remote")
        and o.get("location")
        and p.get("location")
        and p.get("max_travel_km") is not None
        and km(p["location"], o["location"]) > p["max_travel_km"]
    ):  # 6
        return False
    if o.get("schedule") and p.get("availability") and not set(o["schedule"]) & set(p["availability"]):  # 7
        return False
    return True


def text_lang(s):
    """zh, en or mixed, from the share of CJK characters among letters."""
    cjk = len(re.findall(r"[\u4e00-\u9fff]", s))
    lat = len(re.findall(r"[A-Za-z]", s)) / 4.0  # about four letters to an English word's worth of a character
    share = cjk / max(1.0, cjk + lat)
    return "zh" if share > 0.85 else "en" if share < 0.15 else "mixed"


def main():
    set_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "second.json")
    qrels_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "second.qrels.json")
    doc = json.load(open(set_path, encoding="utf-8"))
    qrels = json.load(open(qrels_path, encoding="utf-8"))
    errors = []
    err = errors.append

    if doc.get("format") != "match-exchange/1":
        err("format is not match-exchange/1")

    def check_loc(where, loc):
        if not (
            isinstance(loc, dict)
            and isinstance(loc.get("lat"), (int, float))
            and isinstance(loc.get("lon"), (int, float))
        ):
            err(f"{where}: bad location")
        elif not (30.3 < loc["lat"] < 31.0 and 103.6 < loc["lon"] < 104.5):
            err(f"{where}: location outside Chengdu")

    def check_langs(where, langs):
        if not langs or any(code not in LANGS for code in langs):
            err(f"{where}: bad languages {langs}")

    offers, ids = {}, Counter()
    for o in doc.get("offers", []):
        oid = o.get("id", "?")
        ids[oid] += 1
        offers[oid] = o
        if not re.fullmatch(r"o-s\d{3}", oid):
            err(f"{oid}: bad offer id")
        if o.get("category") not in CATEGORIES:
            err(f"{oid}: bad category")
        for k in ("title", "description", "provider"):
            if not isinstance(o.get(k), str) or not o[k].strip():
                err(f"{oid}: empty {k}")
        check_langs(oid, o.get("languages"))
        check_loc(oid, o.get("location"))
        if not o.get("schedule") or set(o["schedule"]) - SLOTS:
            err(f"{oid}: bad schedule")
        if not isinstance(o.get("capacity"), int) or o["capacity"] < 0:
            err(f"{oid}: bad capacity")
        if o.get("status") not in STATUSES:
            err(f"{oid}: bad status")
        if not isinstance(o.get("remote"), bool) or not isinstance(o.get("skills", []), list):
            err(f"{oid}: bad remote/skills")
        r = o.get("eligibility", {})
        if set(r) - ELIG_KEYS or set(r.get("genders", [])) - GENDERS:
            err(f"{oid}: bad eligibility {r}")
        if r.get("min_age") is not None and r.get("max_age") is not None and r["min_age"] > r["max_age"]:
            err(f"{oid}: min_age > max_age")

    needs, owner = {}, {}
    for p in doc.get("people", []):
        pid = p.get("id", "?")
        ids[pid] += 1
        if not re.fullmatch(r"p-s\d{2}", pid):
            err(f"{pid}: bad person id")
        if not isinstance(p.get("age"), int) or not 14 <= p["age"] <= 90:
            err(f"{pid}: bad age")
        if p.get("gender") not in GENDERS:
            err(f"{pid}: bad gender")
        check_langs(pid, p.get("languages"))
        check_loc(pid, p.get("location"))
        if not isinstance(p.get("max_travel_km"), (int, float)) or not 3 <= p["max_travel_km"] <= 20:
            err(f"{pid}: max_travel_km outside 3-20")
        if not p.get("availability") or set(p["availability"]) - SLOTS:
            err(f"{pid}: bad availability")
        if not isinstance(p.get("months_in_recovery"), int) or p["months_in_recovery"] < 0:
            err(f"{pid}: bad months_in_recovery")
        if not p.get("needs"):
            err(f"{pid}: no needs")
        for n in p.get("needs", []):
            nid = n.get("id", "?")
            ids[nid] += 1
            needs[nid], owner[nid] = n, p
            if not re.fullmatch(r"n-s\d{3}", nid):
                err(f"{nid}: bad need id")
            if n.get("category") not in CATEGORIES:
                err(f"{nid}: bad category")
            if n.get("urgency") not in (1, 2, 3):
                err(f"{nid}: bad urgency")
            if not isinstance(n.get("description"), str) or not n["description"].strip():
                err(f"{nid}: empty description")
    for i, c in ids.items():
        if c > 1:
            err(f"{i}: id used {c} times")

    for nid, judged in qrels.items():
        if nid not in needs:
            err(f"qrels: unknown need {nid}")
        for oid, g in judged.items():
            if oid not in offers:
                err(f"qrels {nid}: unknown offer {oid}")
            if g not in (1, 2, 3):
                err(f"qrels {nid} {oid}: grade {g} not 1-3")
    for nid in needs:
        if nid not in qrels:
            err(f"{nid}: no judgments")

    # per-need report
    print(f"{'need':7} {'cat':15} urg lang  judged  elig>=1 elig>=2  cross")
    cross = no_good = 0
    for nid, n in needs.items():
        p, judged = owner[nid], qrels.get(nid, {})
        el = {o: g for o, g in judged.items() if o in offers and eligible(p, offers[o])}
        ge1, ge2 = len(el), sum(g >= 2 for g in el.values())
        nl = text_lang(n["description"])
        best = [o for o, g in el.items() if g == max(el.values())] if el else []
        blangs = {text_lang(offers[o]["description"]) for o in best}
        is_cross = nl in ("zh", "en") and blangs and blangs <= ({"zh", "en"} - {nl})
        cross += bool(is_cross)
        no_good += ge2 == 0
        flag = "" if ge2 else "   <-- no eligible grade>=2"
        print(
            f"{nid:7} {n['category']:15} {n['urgency']:3} {nl:5} {len(judged):6} {ge1:8} {ge2:7}"
            f"  {'yes' if is_cross else '':5}{flag}"
        )

    grades = Counter(g for j in qrels.values() for g in j.values())
    elig_pairs = sum(eligible(owner[n], offers[o]) for n, j in qrels.items() for o in j if n in owner and o in offers)
    print()
    print(f"offers {len(offers)}  people {len(doc.get('people', []))}  needs {len(needs)}")
    print("offers by category:", dict(sorted(Counter(o["category"] for o in offers.values()).items())))
    print("needs by category: ", dict(sorted(Counter(n["category"] for n in needs.values()).items())))
    print("offer description language:", dict(Counter(text_lang(o["description"]) for o in offers.values())))
    print("need description language: ", dict(Counter(text_lang(n["description"]) for n in needs.values())))
    print(
        "offer status:",
        dict(Counter(o["status"] for o in offers.values())),
        " capacity 0:",
        sum(o["capacity"] == 0 for o in offers.values()),
        " remote:",
        sum(o["remote"] for o in offers.values()),
    )
    print(
        f"graded pairs {sum(grades.values())}: grade 3 {grades[3]}, grade 2 {grades[2]}, grade 1 {grades[1]};"
        f" of them eligible {elig_pairs}, ineligible {sum(grades.values()) - elig_pairs}"
    )
    print(f"cross-lingual needs (best eligible offers written in the other language): {cross}")
    print(f"needs without an eligible grade>=2 offer: {no_good}")
    if errors:
        print(f"\n{len(errors)} PROBLEMS:")
        for e in errors:
            print("  " + e)
        sys.exit(1)
    print("\nOK: no problems found")


if __name__ == "__main__":
    main()
