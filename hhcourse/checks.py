"""`check("ex00_basics")`: run one exercise's graded tests in this process, against the loaded implementation.

In a notebook, after `ex = load("ex00_basics")`, the last line of a cell `check("ex00_basics")` shows a
table (HTML in Jupyter, text elsewhere) of tests passed, points, and the hint for each failure. The
tests are the same pytest tests `hhcourse grade` runs; they see your latest edits (load reloads).
"""

from __future__ import annotations

import contextlib
import html
import io
import sys
import threading
from dataclasses import dataclass

from hhcourse import config
from hhcourse.grading.plugin import PASSED, GradedResult, ResultCollector
from hhcourse.impl import EXERCISE_ID, repo_root

MARKS = {PASSED: "✓", "not_implemented": "·"}


@dataclass
class CheckResult:
    exercise: str
    impl: str
    results: list[GradedResult]
    output: str  # pytest's own output, for when something went wrong outside the tests

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.status == PASSED for r in self.results)

    def summary(self) -> str:
        score, total = sum(r.score for r in self.results), sum(r.points for r in self.results)
        done = sum(r.status == PASSED for r in self.results)
        return f"{self.exercise} (impl={self.impl}): {done}/{len(self.results)} tests, {score:g}/{total:g} points"

    def __repr__(self) -> str:
        if not self.results:
            return f"{self.summary()}: no tests ran. pytest said:\n{self.output[-3000:]}"
        width = max(len(r.name) for r in self.results) + 2
        lines = [self.summary()]
        for r in self.results:
            lines.append(f"  {MARKS.get(r.status, '✗')} {r.name:<{width}}{r.score:g}/{r.points:g}  {r.hint}".rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.results:
            return f"<pre>{html.escape(repr(self))}</pre>"
        colour = {PASSED: "#1a7f37", "not_implemented": "#777"}
        rows = "".join(
            f"<tr><td style='color:{colour.get(r.status, '#cf222e')}'>{MARKS.get(r.status, '✗')}</td>"
            f"<td style='text-align:left'><code>{html.escape(r.name)}</code></td><td>{r.score:g}/{r.points:g}</td>"
            f"<td style='text-align:left'>{html.escape(r.hint)}</td></tr>" for r in self.results)
        return f"<b>{html.escape(self.summary())}</b><table>{rows}</table>"


def check(exercise: str, impl: str | None = None, *, timeout: float = 60, strict: bool | None = None) -> CheckResult:
    """Run tests/test_<exercise>.py in-process against `impl` (default: $HHCOURSE_IMPL, else exercises).

    timeout: seconds per test (main thread only). strict (default: on when impl is 'solutions', as in
    CI): raise AssertionError if any test fails, so a notebook run with solutions bound fails loudly.
    """
    import pytest

    if not EXERCISE_ID.fullmatch(exercise):
        raise ValueError(f"exercise id {exercise!r}: expected e.g. 'ex00_basics'")
    impl = str(impl or config.impl_name())
    test_file = repo_root() / "tests" / f"test_{exercise}.py"
    if not test_file.is_file():
        raise FileNotFoundError(f"{test_file} not found: is {exercise!r} an exercise of this course?")
    args = [str(test_file), "-q", "-o", "addopts=", "-p", "hhcourse.grading.plugin", "-p", "no:cacheprovider",
            f"--impl={impl}", "--capture=sys", f"--rootdir={repo_root()}"]
    if threading.current_thread() is threading.main_thread():
        args += [f"--timeout={timeout}", "--timeout-method=signal"]
    collector, output, saved_path = ResultCollector(), io.StringIO(), list(sys.path)
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            pytest.main(args, plugins=[collector])
    finally:
        sys.path[:] = saved_path
    result = CheckResult(exercise, impl, list(collector.results.values()), output.getvalue())
    if (impl == "solutions" if strict is None else strict) and not result.passed:
        raise AssertionError(f"check({exercise!r}) failed with impl={impl}:\n{result!r}")
    return result
