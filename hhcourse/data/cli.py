"""`hhcourse data validate FILE...` and `hhcourse data stats FILE`.

validate: exit 0 when every file is valid, 1 when any is not (every problem printed, up to --max-problems),
2 on a usage error (unknown option, missing file).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from statistics import mean

from hhcourse.data.hh import HUMAN, parse_prompt, split_comparison
from hhcourse.data.validate import KINDS, MAX_TRANSCRIPT_CHARS, validate_file


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    missing = [path for path in args.files if not path.is_file()]
    if missing:
        for path in missing:
            print(f"hhcourse data {args.command}: {path}: no such file", file=sys.stderr)
        return 2
    if args.command == "validate":
        return _validate(args)
    return _stats(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hhcourse data", description="validate and inspect preference data files")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check files; print path:line: field: reason — what to do")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument("--max-problems", type=int, default=50, help="print at most this many (default 50)")
    stats = commands.add_parser("stats", help="counts and lengths of one file")
    stats.add_argument("files", nargs=1, type=Path, metavar="FILE")
    for sub in (validate, stats):
        sub.add_argument("--kind", choices=KINDS, help="the file kind (default: told by the content)")
        sub.add_argument("--max-chars", type=int, default=MAX_TRANSCRIPT_CHARS,
                         help=f"longest transcript allowed (default {MAX_TRANSCRIPT_CHARS})")
    return parser


def _validate(args) -> int:
    reports = [validate_file(path, args.kind, max_chars=args.max_chars) for path in args.files]
    problems = [problem for report in reports for problem in report.problems]
    for report in reports:
        for note in report.notes:
            print(f"note: {note}")
        if report.ok:
            print(f"{report.path}: OK ({report.kind}, {len(report.records)} records)")
    for problem in problems[:args.max_problems]:
        print(problem)
    if len(problems) > args.max_problems:
        print(f"… and {len(problems) - args.max_problems} more problems")
    if problems:
        print(f"{len(problems)} problems in {sum(not report.ok for report in reports)} of {len(reports)} files")
    return 1 if problems else 0


def _stats(args) -> int:
    report = validate_file(args.files[0], args.kind, max_chars=args.max_chars)
    if not report.ok:
        for problem in report.problems[:10]:
            print(problem)
        print(f"{len(report.problems)} problems: run `hhcourse data validate {report.path}` and fix them first")
        return 1
    records = [record for _, record in report.records]
    print(f"{report.path}: {report.kind}, {len(records)} records")
    for line in _STATS[report.kind](records):
        print(f"  {line}")
    return 0


def _counts(name: str, values) -> str:
    return f"{name}: " + ", ".join(f"{value} {n}" for value, n in Counter(values).most_common(8))


def _comparison_stats(records: list[dict]) -> list[str]:
    triples = [split_comparison(r["chosen"], r["rejected"]) for r in records]
    lines = [_counts(key, (r[key] for r in records)) for key in ("subset", "strength", "topic") if key in records[0]]
    return lines + [
        f"messages per prompt: {mean(len(parse_prompt(t.prompt)) for t in triples):.1f}",
        f"response characters: chosen {mean(len(t.chosen) for t in triples):.0f}, "
        f"rejected {mean(len(t.rejected) for t in triples):.0f}",
        f"chosen longer than rejected: {mean(len(t.chosen) > len(t.rejected) for t in triples):.0%}",
        f"sides differing before the final turn: {sum(HUMAN in t.chosen or HUMAN in t.rejected for t in triples)}",
    ]


def _ranking_stats(records: list[dict]) -> list[str]:
    return [_counts("subset", (r["subset"] for r in records)), _counts("topic", (r["topic"] for r in records)),
            f"response characters: {mean(len(text) for r in records for text in r['responses']):.0f}"]


def _prompt_stats(records: list[dict]) -> list[str]:
    return [_counts("split", (r["split"] for r in records)), _counts("topic", (r["topic"] for r in records)),
            f"prompt characters: {mean(len(r['prompt']) for r in records):.0f}"]


def _constitution_stats(records: list[dict]) -> list[str]:
    constitution = records[0]
    return [f"principles: {len(constitution['principles'])}", f"few-shot examples: {len(constitution['few_shot'])}"]


def _label_stats(records: list[dict]) -> list[str]:
    retracted = {r["retracts"] for r in records if r["type"] == "retraction"}
    active = [r for r in records if r["type"] != "retraction" and r["id"] not in retracted]
    pairs = [r for r in active if r["type"] == "comparison"]
    decided = [r for r in pairs if r["label"] in ("A", "B")]
    lines = [_counts("records", (r["type"] for r in records)), f"retracted labels: {len(retracted)}",
             _counts("labeler", (r["labeler"] for r in active)), _counts("mode", (r["mode"] for r in active))]
    if pairs:
        lines += [_counts("label", (r["label"] for r in pairs)),
                  f"seconds per label: {mean(r['seconds'] for r in pairs):.1f}"]
    if decided:  # position bias: how often the marked response was the one shown on the left
        lines.append(f"marked response shown on the left: {mean(r['label'].lower() == r['shown_left'] for r in decided):.0%}")
    return lines


_STATS = {"comparisons": _comparison_stats, "hh": _comparison_stats, "rankings": _ranking_stats,
          "prompts": _prompt_stats, "constitution": _constitution_stats, "labels": _label_stats}

if __name__ == "__main__":
    sys.exit(main())
