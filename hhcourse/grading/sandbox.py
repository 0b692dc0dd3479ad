"""Run graded tests against a temporary copy of a submission, in a subprocess with time and memory limits.

The grader never imports student code. pytest runs in a child process whose working directory, HOME and
TMPDIR are inside a temporary copy of the submission, under an address-space cap, with pytest-timeout
per test and a watchdog that kills the whole process group when a test stops making progress. If the
child dies (crash, os._exit, watchdog), the test it was running is marked and the rest run again in a
fresh child. Results come back as JSON lines written by hhcourse.grading.plugin, never from stdout.

This contains accidents (an infinite loop, a crash, sys.exit, deleting files in the working
directory); it is not a security boundary against deliberate tampering by code running as your user.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hhcourse.grading.plugin import ERROR, TIMEOUT, GradedResult


@dataclass
class Limits:
    per_test_s: float = 60.0  # pytest-timeout per test (setup + call + teardown)
    memory_gb: float = 8.0  # RLIMIT_AS of the child; torch imports fine under 4 GiB
    startup_s: float = 180.0  # interpreter + torch import + collection, before the first test starts


class GradingError(RuntimeError):
    """The tests could not be run at all (a course or setup problem, not a student's mistake)."""


def _child_main(argv: list[str]) -> int:
    """In the child: `python -m hhcourse.grading.sandbox MEMORY_GB PYTEST_ARGS...` caps itself, then runs pytest."""
    import pytest

    cap = int(float(argv[0]) * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**30, 2**30))  # no file (or log) over 1 GiB
    sys.argv = ["pytest", *argv[1:]]
    return pytest.console_main()


def _events(log: Path) -> list[dict]:
    events = []
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # the torn last line of a child that was killed mid-write
    return events


def _run_once(targets: list[str], rootdir: Path, copy: Path, scratch: Path, log: Path,
              limits: Limits) -> tuple[list[dict], bool, str]:
    """One pytest child over `targets`: (its events, whether the watchdog killed it, its output's tail)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(HOME=str(scratch / "home"), TMPDIR=str(scratch / "tmp"), PYTHONDONTWRITEBYTECODE="1",
               HHCOURSE_IMPL=str(copy),
               HHCOURSE_CACHE=os.environ.get("HHCOURSE_CACHE") or str(Path.home() / ".cache" / "hhcourse"))
    # -P: the submission's folder is never on sys.path, so a file named torch.py there shadows nothing
    command = [sys.executable, "-P", "-m", "hhcourse.grading.sandbox", str(limits.memory_gb),
               *targets, f"--rootdir={rootdir}", "-q", "-o", "addopts=", "-p", "hhcourse.grading.plugin",
               "-p", "no:cacheprovider", f"--impl={copy}", f"--hhcourse-results={log}",
               f"--timeout={limits.per_test_s}", "--timeout-method=signal"]
    output = scratch / "output.log"
    with open(output, "wb") as sink:
        child = subprocess.Popen(command, cwd=copy, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        killed = _watch(child, log, limits)
    tail = output.read_text(encoding="utf-8", errors="replace")[-3000:]
    return _events(log), killed, tail


def _watch(child: subprocess.Popen, log: Path, limits: Limits) -> bool:
    """Wait for the child; kill its process group if no test event arrives in time. True if killed."""
    last_size, last_change, allowed = -1, time.monotonic(), limits.startup_s
    while child.poll() is None:
        time.sleep(0.1)
        size = log.stat().st_size if log.exists() else 0
        if size != last_size:
            last_size, last_change = size, time.monotonic()
            allowed = limits.startup_s if size == 0 else 2 * limits.per_test_s + 5  # pytest-timeout acts first
        elif time.monotonic() - last_change > allowed:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return True
    try:
        os.killpg(child.pid, signal.SIGKILL)  # anything the tests left running in the background
    except ProcessLookupError:
        pass
    return False


def run_tests(submission: Path, test_files: list[Path], limits: Limits | None = None) -> list[GradedResult]:
    """Grade `submission` (a folder of exN_*.py) with the graded tests in `test_files`: one result per test."""
    limits = limits or Limits()
    rootdir = test_files[0].parent.parent
    with tempfile.TemporaryDirectory(prefix="hhcourse-grade-") as tmp:
        scratch = Path(tmp)
        copy = scratch / "submission"
        shutil.copytree(submission, copy, ignore_dangling_symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        (scratch / "home").mkdir()
        (scratch / "tmp").mkdir()
        planned: list[GradedResult] | None = None
        finished: dict[str, GradedResult] = {}
        targets = [str(path) for path in test_files]
        for attempt in itertools.count(1):  # each attempt finishes at least one test, or raises
            log = scratch / f"results-{attempt}.jsonl"
            events, killed, tail = _run_once(targets, rootdir, copy, scratch, log, limits)
            errors = [e["message"] for e in events if e["event"] == "collect_error"]
            if errors:
                raise GradingError("the graded tests do not collect:\n" + "\n".join(errors))
            if planned is None:
                collected = [e for e in events if e["event"] == "collected"]
                if not collected:
                    raise GradingError(f"pytest stopped before collecting any test; its output ends with:\n{tail}")
                planned = [GradedResult(**fields) for fields in collected[0]["tests"]]
            finished.update({e["nodeid"]: GradedResult(**{k: v for k, v in e.items() if k != "event"})
                             for e in events if e["event"] == "result"})
            started = [e["nodeid"] for e in events if e["event"] == "start"]
            if started and started[-1] not in finished:
                finished[started[-1]] = _died(planned, started[-1], killed, limits)
            elif any(r.nodeid not in finished for r in planned):
                raise GradingError(f"pytest stopped between tests; its output ends with:\n{tail}")
            remaining = [r.nodeid for r in planned if r.nodeid not in finished]
            if not remaining:
                break
            targets = [str(rootdir / nodeid) for nodeid in remaining]
    return [finished[r.nodeid] for r in planned]


def _died(planned: list[GradedResult], nodeid: str, killed: bool, limits: Limits) -> GradedResult:
    result = next(r for r in planned if r.nodeid == nodeid)
    if killed:
        message = (f"did not finish: killed after {2 * limits.per_test_s + 5:g} s without progress "
                   "(a loop that ignores pytest-timeout's alarm?)")
        return GradedResult(result.nodeid, result.exercise, result.name, result.points, TIMEOUT, message)
    message = "the test process died during this test (os._exit, a segfault, or the memory cap)"
    return GradedResult(result.nodeid, result.exercise, result.name, result.points, ERROR, message)


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
