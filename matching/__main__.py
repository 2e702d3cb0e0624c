"""The command line: `python -m matching rank FILE [--top K] [--explain]`, `python -m matching allocate FILE`.

Reads the match exchange format and writes the JSON of FORMAT.md to standard output. Malformed
input gets a one-line error naming the offending field, and exit status 2.
"""

import argparse
import json
import sys
from pathlib import Path

from matching.engine import allocate_all, rank_all
from matching.exchange import FormatError, load
from matching.model import Reason


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
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
