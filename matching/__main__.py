"""The command line: `python -m matching rank FILE [--top K] [--explain]`, `python -m matching allocate FILE`,
`python -m matching study FILE QRELS [FILE QRELS ...]`, `python -m matching learn FILE QRELS [FILE QRELS ...]`,
`python -m matching basis FILE [FILE ...]`.

`rank` and `allocate` read the match exchange format and write the JSON of FORMAT.md to standard
output. `study` prints each labelled set's figures (hand weights, fitted, cross-validated by
person, fitted on the other sets); `learn` fits the ranker on every set given and writes
matching/ranker.json; `basis` estimates matching/semantic_basis.npy from the offers' texts
of the files given (never their judgments). Malformed input gets a one-line error naming the offending field, and exit
status 2.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from matching.engine import allocate_all, rank_all
from matching.exchange import FormatError, load, load_qrels
from matching.model import Reason
from matching.semantic import BASIS_FILE, fit_basis, model_vectors, offer_text


def _reason(reason: Reason) -> dict[str, object]:
    return {"code": reason.code, "text": reason.text, **({"values": reason.values} if reason.values else {})}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matching", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rank = commands.add_parser("rank", help="rank the eligible offers for every need")
    rank.add_argument("file", type=Path)
    rank.add_argument("--top", type=_positive, default=10, metavar="K")
    rank.add_argument("--explain", action="store_true", help="add each score's parts and the near misses")
    allocate = commands.add_parser("allocate", help="assign places to needs, best total first")
    allocate.add_argument("file", type=Path)
    for name, text in (("study", "figures of labelled sets, cross-validated"), ("learn", "fit the ranker")):
        labelled = commands.add_parser(name, help=text)
        labelled.add_argument("files", type=Path, nargs="+", metavar="FILE QRELS")
    basis = commands.add_parser("basis", help="estimate the direction of language among offers' vectors")
    basis.add_argument("files", type=Path, nargs="+", metavar="FILE")
    args = parser.parse_args(argv)

    if args.command == "basis":
        return _basis(args.files)
    if args.command in ("study", "learn"):
        return _labelled(parser, args.command, args.files)
    try:
        offers, people = load(args.file)
    except FormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if args.command == "rank":
        rankings = rank_all(offers, people, top=args.top, near_misses=5 if args.explain else 0, explain=args.explain)
        output: dict[str, object] = {"rankings": {need: r.offer_ids for need, r in rankings.items()}}
        if args.explain:
            output["explanations"] = {
                need: [
                    {"offer": item.offer_id, "score": item.score, "reasons": [_reason(x) for x in item.reasons]}
                    for item in r.ranked
                ]
                for need, r in rankings.items()
            }
            output["near_misses"] = {
                need: [
                    {"offer": m.offer_id, "score": m.score, "failed": [_reason(x) for x in m.failures]}
                    for m in r.near_misses
                ]
                for need, r in rankings.items()
            }
    else:
        output = {"assignments": allocate_all(offers, people)}
    json.dump(output, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


def _basis(files: list[Path]) -> int:
    try:
        offers = [offer for path in files for offer in load(path)[0]]
    except FormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    vectors = model_vectors([offer_text(offer.title, offer.description) for offer in offers])
    np.save(BASIS_FILE, fit_basis(vectors))
    print(f"{BASIS_FILE.name}: the mean and top direction of {len(offers)} offers' vectors")
    return 0


def _labelled(parser: argparse.ArgumentParser, command: str, files: list[Path]) -> int:
    # Imported here: learning brings scipy's optimiser, which ranking never needs.
    from matching.learning import LabelledSet, fit, study  # noqa: PLC0415

    if len(files) % 2:
        parser.error("give each set as two files: the set, then its judgments")
    try:
        sets = [
            LabelledSet.of(path.stem, *load(path), load_qrels(qrels))
            for path, qrels in zip(files[::2], files[1::2], strict=True)
        ]
    except FormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if command == "learn":
        ranker = fit([e for s in sets for e in s.examples], trained_on=[s.name for s in sets])
        ranker.save()
        json.dump(ranker.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    for name, rows in study(sets).items():
        print(f"{name} ({len(next(s for s in sets if s.name == name).examples)} needs)")
        print(f"  {'':24} {'nDCG@5':>8} {'nDCG@10':>8} {'recall@10':>10} {'allocation':>11}")
        for label, figures in rows.items():
            print(
                f"  {label:24} {figures['ndcg@5']:8.3f} {figures['ndcg@10']:8.3f}"
                f" {figures['recall@10']:10.3f} {figures['allocation']:11.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
