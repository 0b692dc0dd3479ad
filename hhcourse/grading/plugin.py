"""pytest plugin for graded tests (tests/conftest.py registers it; `hhcourse grade` and `check()` pass -p too).

    --impl solutions|exercises|PATH   whose functions the `impl` fixture loads ($HHCOURSE_IMPL, else exercises)
    @pytest.mark.points(n)            what a test is worth (default 1; all or nothing)
    @pytest.mark.exercise("exN_x")    its exercise (default: from the file name, tests/test_exN_x.py)
    --hhcourse-results FILE           append JSON lines (collected, start, result) for `hhcourse grade`

Each graded test ends as one `GradedResult` whose status tells *how* it failed: not_implemented (the
stub), assertion (a wrong answer, with a hint), error (import/syntax error, crash), timeout.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import pytest

from hhcourse.impl import folder_of, load

PENDING, PASSED, SKIPPED = "pending", "passed", "skipped"
NOT_IMPLEMENTED, ASSERTION, ERROR, TIMEOUT = "not_implemented", "assertion", "error", "timeout"
TEST_FILE = re.compile(r"test_(ex\d+_\w+)")


@dataclass
class GradedResult:
    nodeid: str
    exercise: str
    name: str
    points: float
    status: str = PENDING
    message: str = ""

    @property
    def score(self) -> float:
        return self.points if self.status == PASSED else 0.0

    @property
    def hint(self) -> str:
        """First line of the failure message: the hint for a wrong answer, the error otherwise."""
        return self.message.strip().splitlines()[0] if self.message.strip() else ""


def exercise_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("exercise")
    if marker is not None:
        return marker.args[0]
    match = TEST_FILE.fullmatch(item.path.stem)
    return match.group(1) if match else None


def points_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("points")
    return float(marker.args[0]) if marker is not None else 1.0


def classify(excinfo: pytest.ExceptionInfo) -> tuple[str, str]:
    """(status, message) for a test that raised."""
    err, text = excinfo.value, str(excinfo.value).strip()
    if isinstance(err, NotImplementedError):
        return NOT_IMPLEMENTED, f"NotImplementedError({text})"
    if isinstance(err, AssertionError):
        return ASSERTION, text or "AssertionError"
    if isinstance(err, pytest.fail.Exception):
        return (TIMEOUT if "from pytest-timeout" in text else ASSERTION), text
    entry = excinfo.traceback[-1] if excinfo.traceback else None
    where = f" (at {Path(entry.path).name}:{entry.lineno + 1})" if entry is not None else ""
    return ERROR, f"{type(err).__name__}: {text}{where}"


class ResultCollector:
    """One GradedResult per graded test in `results`; with `path`, also appends JSON lines as tests run."""

    def __init__(self, path: str | None = None):
        self.results: dict[str, GradedResult] = {}
        self._log = open(path, "a", encoding="utf-8") if path else None  # closed at session end

    def _write(self, event: dict) -> None:
        if self._log is not None:
            self._log.write(json.dumps(event) + "\n")
            self._log.flush()  # a crash in the next test must not lose this line

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._write({"event": "collect_error", "message": f"{report.nodeid}: {report.longreprtext.strip()[-2000:]}"})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            exercise = exercise_of(item)
            if exercise is not None:
                self.results[item.nodeid] = GradedResult(item.nodeid, exercise, item.name, points_of(item))
        self._write({"event": "collected", "tests": [asdict(r) for r in self.results.values()]})

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if nodeid in self.results:
            self._write({"event": "start", "nodeid": nodeid})

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        result = self.results.get(item.nodeid)
        if result is None:
            return report
        if report.skipped and result.status == PENDING:
            result.status, result.message = SKIPPED, str(report.longrepr[-1])
        elif report.failed and result.status in (PENDING, PASSED) and call.excinfo is not None:
            result.status, result.message = classify(call.excinfo)
        elif report.when == "call" and report.passed and result.status == PENDING:
            result.status = PASSED
        return report

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        if nodeid in self.results:
            self._write({"event": "result", **asdict(self.results[nodeid])})

    def pytest_sessionfinish(self) -> None:
        if self._log is not None:
            self._log.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hhcourse", "hhcourse graded exercises")
    group.addoption("--impl", default=None, metavar="solutions|exercises|PATH",
                    help="whose functions the graded tests load (default: $HHCOURSE_IMPL, else exercises)")
    group.addoption("--hhcourse-results", default=None, metavar="FILE",
                    help="append one JSON line per graded-test event (used by `hhcourse grade`)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): points a graded test is worth")
    config.addinivalue_line("markers", "exercise(id): exercise a graded test belongs to (default: from the file name)")
    path = config.getoption("hhcourse_results")
    if path:
        config.pluginmanager.register(ResultCollector(path), "hhcourse-results")


def pytest_report_header(config: pytest.Config) -> str:
    from hhcourse import config as settings

    impl = config.getoption("impl") or settings.impl_name()
    return f"hhcourse graded tests: impl={impl} ({folder_of(impl)})"


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """The module under test: this test file's exercise, loaded from --impl."""
    exercise = exercise_of(request.node)
    if exercise is None:
        pytest.fail("the `impl` fixture is for graded tests in tests/test_exN_name.py "
                    "(or mark the test with @pytest.mark.exercise('exN_name'))", pytrace=False)
    return load(exercise, request.config.getoption("impl"))
