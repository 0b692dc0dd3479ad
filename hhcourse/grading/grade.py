"""`hhcourse grade`: run the course's graded tests (tests/test_exN_*.py) against exercises/, solutions/,
a student's copy, or a whole class, and report points per exercise.

Student code runs only in a sandboxed child process (hhcourse.grading.sandbox). Exit status: 0 when
grading completed (whatever the score), 1 when --expect-full / --expect-zero does not hold, 2 on errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hhcourse import config
from hhcourse.grading import reports
from hhcourse.grading.plugin import NOT_IMPLEMENTED, PASSED, GradedResult
from hhcourse.grading.sandbox import GradingError, Limits, run_tests
from hhcourse.impl import EXERCISE_ID, folder_of, repo_root


def graded_test_files(exercises: list[str] | None) -> list[Path]:
    tests = repo_root() / "tests"
    available = sorted(p for p in tests.glob("test_ex*.py") if EXERCISE_ID.fullmatch(p.stem[len("test_"):]))
    if not exercises:
        if not available:
            raise GradingError(f"no graded tests (test_exN_name.py) in {tests}")
        return available
    unknown = [e for e in exercises if tests / f"test_{e}.py" not in available]
    if unknown:
        names = ", ".join(p.stem[len("test_"):] for p in available) or "none"
        raise GradingError(f"unknown exercise {', '.join(unknown)}; graded exercises: {names}")
    return [tests / f"test_{e}.py" for e in exercises]


def unmet(results: list[GradedResult], expect: str | None) -> list[str]:
    """Why `expect` ('full' or 'zero') does not hold, one line per offending test; [] when it holds."""
    if expect is None:
        return []
    if not results:
        return ["no graded tests ran"]
    if expect == "full":
        return [f"{r.exercise}::{r.name} {r.status}: {r.hint}" for r in results if r.status != PASSED]
    why = {PASSED: "passed: a leaked solution, or a test that checks nothing"}
    return [f"{r.exercise}::{r.name} {why.get(r.status, f'{r.status} (a broken stub?): {r.hint}')}"
            for r in results if r.status != NOT_IMPLEMENTED]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hhcourse grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", default=None, metavar="exercises|solutions|PATH",
                        help="what to grade (default: $HHCOURSE_IMPL, else exercises)")
    parser.add_argument("--class", dest="class_dir", type=Path, metavar="DIR",
                        help="grade every subfolder of DIR (one per student) into one CSV row each")
    parser.add_argument("--exercise", action="append", metavar="ID", help="only this exercise (repeatable)")
    parser.add_argument("--json", type=Path, metavar="F", help="write Gradescope-schema results")
    parser.add_argument("--junitxml", type=Path, metavar="F", help="write JUnit XML")
    parser.add_argument("--csv", type=Path, metavar="F", help="write student,<exercise points…>,total")
    expect = parser.add_mutually_exclusive_group()
    expect.add_argument("--expect-full", dest="expect", action="store_const", const="full",
                        help="exit 1 unless every graded test passes (CI on solutions)")
    expect.add_argument("--expect-zero", dest="expect", action="store_const", const="zero",
                        help="exit 1 unless every graded test fails with NotImplementedError (CI on exercises)")
    parser.add_argument("--timeout", type=float, default=Limits.per_test_s, metavar="S",
                        help="seconds per test (default: %(default)s)")
    parser.add_argument("--memory-gb", type=float, default=Limits.memory_gb, metavar="G",
                        help="address-space cap of the test process (default: %(default)s)")
    return parser


def _submissions(args: argparse.Namespace) -> dict[str, Path]:
    """student name → folder to grade."""
    if args.class_dir is None:
        impl = args.impl or config.impl_name()
        folder = folder_of(impl)
        if not folder.is_dir():
            raise GradingError(f"--impl {impl}: {folder} is not a directory")
        return {Path(impl).name: folder}
    if args.impl is not None or args.json or args.junitxml:
        raise GradingError("--class grades one folder per student: use --csv, not --impl/--json/--junitxml")
    if not args.class_dir.is_dir():
        raise GradingError(f"--class {args.class_dir}: not a directory")
    folders = sorted(p for p in args.class_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise GradingError(f"--class {args.class_dir}: no student folders in it")
    return {p.name: p for p in folders}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    limits = Limits(per_test_s=args.timeout, memory_gb=args.memory_gb)
    graded: dict[str, list[GradedResult]] = {}
    try:
        test_files = graded_test_files(args.exercise)
        for student, folder in _submissions(args).items():
            graded[student] = run_tests(folder, test_files, limits)
            title = f"hhcourse grade  {'student=' if args.class_dir else 'impl='}{student}  ({folder})"
            print(reports.text_table(graded[student], title) + "\n", flush=True)
    except GradingError as err:
        print(f"hhcourse grade: {err}", file=sys.stderr)
        return 2
    if args.class_dir is not None:
        print(reports.class_csv(graded), end="")
    results = [r for student_results in graded.values() for r in student_results]
    if args.json:
        args.json.write_text(json.dumps(reports.gradescope(results), indent=2) + "\n", encoding="utf-8")
    if args.junitxml:
        args.junitxml.write_text(reports.junit_xml(results), encoding="utf-8")
    if args.csv:
        args.csv.write_text(reports.class_csv(graded), encoding="utf-8")
    problems = unmet(results, args.expect)
    for line in problems:
        print(f"--expect-{args.expect} does not hold: {line}", file=sys.stderr)
    if args.expect and not problems:
        print(f"--expect-{args.expect} holds ({len(results)} graded tests)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
