"""Grade reports from GradedResults: the per-exercise text table, Gradescope JSON, JUnit XML, class CSV."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from hhcourse.grading.plugin import ASSERTION, ERROR, NOT_IMPLEMENTED, PASSED, SKIPPED, TIMEOUT, GradedResult


@dataclass
class ExerciseScore:
    exercise: str
    passed: int
    tests: int
    score: float
    max_score: float
    first_failure: str  # "test_name: hint", or "" when everything passed


def by_exercise(results: list[GradedResult]) -> list[ExerciseScore]:
    rows: dict[str, ExerciseScore] = {}
    for r in results:
        row = rows.setdefault(r.exercise, ExerciseScore(r.exercise, 0, 0, 0.0, 0.0, ""))
        row.tests += 1
        row.passed += r.status == PASSED
        row.score += r.score
        row.max_score += r.points
        if r.status != PASSED and not row.first_failure:
            row.first_failure = f"{r.name}: {r.hint or r.status}"
    return sorted(rows.values(), key=lambda row: row.exercise)


def _pts(score: float, max_score: float) -> str:
    return f"{score:g}/{max_score:g}"


def _clip(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def text_table(results: list[GradedResult], title: str) -> str:
    rows = by_exercise(results)
    width = max([len("exercise"), len("TOTAL"), *(len(r.exercise) for r in rows)]) + 2
    lines = [title, f"{'exercise':<{width}}{'tests':<9}{'points':<10}first failure"]
    for r in rows:
        lines.append(f"{r.exercise:<{width}}{f'{r.passed}/{r.tests}':<9}{_pts(r.score, r.max_score):<10}"
                     f"{_clip(r.first_failure)}".rstrip())
    passed, tests = sum(r.passed for r in rows), sum(r.tests for r in rows)
    total = _pts(sum(r.score for r in rows), sum(r.max_score for r in rows))
    lines.append(f"{'TOTAL':<{width}}{f'{passed}/{tests}':<9}{total}")
    return "\n".join(lines)


def gradescope(results: list[GradedResult]) -> dict:
    """The Gradescope autograder results schema (score, tests[] with name/score/max_score/status/output)."""
    return {
        "score": sum(r.score for r in results),
        "tests": [{"name": f"{r.exercise}: {r.name}", "score": r.score, "max_score": r.points,
                   "status": "passed" if r.status == PASSED else "failed",
                   "output": "" if r.status == PASSED else f"[{r.status}] {r.message}"} for r in results],
    }


def junit_xml(results: list[GradedResult]) -> str:
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", name="hhcourse-grade", tests=str(len(results)),
                       failures=str(sum(r.status in (NOT_IMPLEMENTED, ASSERTION) for r in results)),
                       errors=str(sum(r.status in (ERROR, TIMEOUT) for r in results)),
                       skipped=str(sum(r.status == SKIPPED for r in results)))
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=r.exercise, name=r.name)
        ET.SubElement(case, "properties").append(ET.Element("property", name="points", value=f"{r.points:g}"))
        if r.status != PASSED:
            tag = {NOT_IMPLEMENTED: "failure", ASSERTION: "failure", SKIPPED: "skipped"}.get(r.status, "error")
            ET.SubElement(case, tag, message=r.hint, type=r.status).text = r.message
    return ET.tostring(root, encoding="unicode") + "\n"


def class_csv(graded: dict[str, list[GradedResult]]) -> str:
    """One row per student: points per exercise, then the total."""
    exercises = sorted({r.exercise for results in graded.values() for r in results})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", *exercises, "total"])
    for student, results in graded.items():
        points = {row.exercise: row.score for row in by_exercise(results)}
        writer.writerow([student, *(f"{points.get(e, 0):g}" for e in exercises), f"{sum(points.values()):g}"])
    return out.getvalue()
