"""`hhcourse grade`: partial scores, hang- and crash-proof sandboxing, class CSV, reports and exit codes.

Planted submissions are built from the solution's text, with some functions redefined at the end.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hhcourse.grading import grade, reports
from hhcourse.grading.plugin import ASSERTION, ERROR, NOT_IMPLEMENTED, PASSED, SKIPPED, TIMEOUT, GradedResult
from hhcourse.grading.sandbox import GradingError, Limits, run_tests
from hhcourse.impl import repo_root

SOLUTION = (repo_root() / "solutions" / "ex00_basics.py").read_text(encoding="utf-8")
MASKED_MEAN_POINTS = 4  # tests/test_ex00_basics.py: 2 + 1 + 1

ONE_RIGHT_ONE_WRONG_SIGN_ONE_LOOPING = """
_right_next_token_logprobs = next_token_logprobs


def next_token_logprobs(logits, input_ids):
    return -_right_next_token_logprobs(logits, input_ids)  # wrong sign


def sequence_logprob(logits, input_ids, response_mask):
    while True:  # never returns
        pass
"""

SABOTEUR = """
import os
import signal
import sys


def masked_mean(values, mask):
    if values.requires_grad:  # only in the gradient test: a loop that pytest-timeout's alarm cannot stop
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while True:
            pass
    if mask.dtype == torch.int64:  # only in the closed-form test: 12 GiB, over the memory cap
        torch.empty(3 * 2**30)
    sys.exit(3)


_right_next_token_logprobs = next_token_logprobs


def next_token_logprobs(logits, input_ids):
    if logits.dtype == torch.bfloat16:  # only in the fp32 test: kill the test process
        os._exit(1)
    return _right_next_token_logprobs(logits, input_ids)


_right_sequence_logprob = sequence_logprob


def sequence_logprob(logits, input_ids, response_mask):
    if not logits.any():  # only in the last test (all-zero logits): delete every file of the submission
        for name in os.listdir("."):
            os.remove(name)
    return _right_sequence_logprob(logits, input_ids, response_mask)
"""


def plant(folder: Path, redefinitions: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "ex00_basics.py").write_text(SOLUTION + "\n\n# planted\n" + textwrap.dedent(redefinitions))
    return folder


def of(function: str, results: list[GradedResult]) -> list[GradedResult]:
    return [r for r in results if r.name.startswith(f"test_{function}_")]


def test_planted_submission_gets_the_right_partial_score_without_hanging(tmp_path: Path, capsys):
    student = plant(tmp_path / "student", ONE_RIGHT_ONE_WRONG_SIGN_ONE_LOOPING)
    started = time.monotonic()
    assert grade.main(["--impl", str(student), "--exercise", "ex00_basics", "--timeout", "2",
                       "--json", str(tmp_path / "g.json")]) == 0
    assert time.monotonic() - started < 90

    report = json.loads((tmp_path / "g.json").read_text())
    results = {t["name"].split(": ", 1)[1]: t for t in report["tests"]}
    assert report["score"] == MASKED_MEAN_POINTS
    assert [t["status"] for name, t in results.items() if name.startswith("test_masked_mean_")] == ["passed"] * 3
    wrong_sign = [t for name, t in results.items() if name.startswith("test_next_token_logprobs_")]
    assert len(wrong_sign) == 4 and all(t["output"].startswith("[assertion] wrong sign") for t in wrong_sign)
    looping = [t for name, t in results.items() if name.startswith("test_sequence_logprob_")]
    assert len(looping) == 3 and all(t["output"].startswith("[timeout] Timeout") for t in looping)

    table = capsys.readouterr().out
    assert "ex00_basics  3/10     4/14      test_next_token_logprobs_matches_library: wrong sign" in table
    assert (student / "ex00_basics.py").read_text().endswith("pass\n")  # graded a copy, left this alone


def test_exit_crash_memory_hog_unstoppable_loop_and_deletion_are_contained(tmp_path: Path):
    student = plant(tmp_path / "saboteur", SABOTEUR)
    original = (student / "ex00_basics.py").read_text()
    limits = Limits(per_test_s=3, memory_gb=4)
    results = run_tests(student, [repo_root() / "tests" / "test_ex00_basics.py"], limits)

    status = {r.name: (r.status, r.message) for r in results}
    assert [status[r.name][0] for r in of("masked_mean", results)] == [ERROR, ERROR, TIMEOUT]
    assert status["test_masked_mean_matches_library"][1].startswith("SystemExit: 3 (at ex00_basics.py:")
    assert "RuntimeError" in status["test_masked_mean_closed_form"][1]
    assert "can't allocate memory" in status["test_masked_mean_closed_form"][1]
    assert "killed after 11 s without progress" in status["test_masked_mean_gradient_flows_to_real_tokens_only"][1]
    assert status["test_next_token_logprobs_in_fp32"] == (
        ERROR, "the test process died during this test (os._exit, a segfault, or the memory cap)")
    passed = [r for r in results if r.status == PASSED]
    assert len(passed) == 6 and sum(r.score for r in results) == 4 + 5  # 3 of next_token's tests, sequence's 3
    assert (student / "ex00_basics.py").read_text() == original  # the deletions hit the grader's copy only


def test_class_grading_writes_one_csv_row_per_student(tmp_path: Path, capsys):
    klass = tmp_path / "class"
    shutil.copytree(repo_root() / "solutions", klass / "ada")
    (klass / "bob").mkdir()  # submitted nothing
    csv_path = tmp_path / "grades.csv"
    assert grade.main(["--class", str(klass), "--exercise", "ex00_basics", "--csv", str(csv_path),
                       "--expect-full"]) == 1  # bob is not full
    assert csv_path.read_text() == "student,ex00_basics,total\nada,14,14\nbob,0,0\n"
    captured = capsys.readouterr()
    assert "student=bob" in captured.out and "FileNotFoundError" in captured.out
    assert "--expect-full does not hold: ex00_basics::test_masked_mean_matches_library error" in captured.err


DEMO_TESTS = """
import pytest


@pytest.mark.points(3)
def test_passes(impl):
    assert impl.VALUE == 1


def test_stub(impl):
    impl.stub()


def test_wrong(impl):
    assert impl.VALUE == 2, "VALUE should be 2: off by one?"


def test_crashes(impl):
    impl.crash()


@pytest.mark.skip(reason="not today")
def test_skipped(impl):
    pass
"""

DEMO_SUBMISSION = """VALUE = 1
def stub():
    raise NotImplementedError("ex09_demo.stub")
def crash():
    return {}["key"]
"""


def demo_course(tmp_path: Path, tests: str) -> tuple[Path, Path]:
    (tmp_path / "course" / "tests").mkdir(parents=True)
    (tmp_path / "student").mkdir()
    (tmp_path / "course" / "tests" / "test_ex09_demo.py").write_text(tests)
    (tmp_path / "student" / "ex09_demo.py").write_text(DEMO_SUBMISSION)
    return tmp_path / "student", tmp_path / "course" / "tests" / "test_ex09_demo.py"


def test_statuses_tell_how_each_test_failed(tmp_path: Path):
    student, test_file = demo_course(tmp_path, DEMO_TESTS)
    results = run_tests(student, [test_file], Limits(per_test_s=5))
    assert [(r.name, r.status, r.points) for r in results] == [
        ("test_passes", PASSED, 3), ("test_stub", NOT_IMPLEMENTED, 1), ("test_wrong", ASSERTION, 1),
        ("test_crashes", ERROR, 1), ("test_skipped", SKIPPED, 1)]
    assert results[1].hint == "NotImplementedError(ex09_demo.stub)"
    assert results[2].hint == "VALUE should be 2: off by one?"
    assert results[3].hint == "KeyError: 'key' (at ex09_demo.py:5)"


def test_tests_that_do_not_collect_are_a_grading_error(tmp_path: Path):
    student, test_file = demo_course(tmp_path, "import no_such_module\n")
    with pytest.raises(GradingError, match="do not collect(.|\n)*No module named 'no_such_module'"):
        run_tests(student, [test_file], Limits(per_test_s=5))


def result(name: str, status: str, points: float = 1.0, message: str = "") -> GradedResult:
    return GradedResult(f"tests/test_ex09_demo.py::{name}", "ex09_demo", name, points, status, message)


def test_expectations_name_the_offending_tests():
    stubs = [result("test_a", NOT_IMPLEMENTED, message="NotImplementedError(ex09_demo.a)")] * 2
    assert grade.unmet(stubs, "zero") == [] and grade.unmet(stubs, None) == []
    assert len(grade.unmet(stubs, "full")) == 2
    broken = [*stubs, result("test_b", ERROR, message="ImportError: no module named x")]
    assert grade.unmet(broken, "zero") == ["ex09_demo::test_b error (a broken stub?): ImportError: no module named x"]
    leaked = [*stubs, result("test_c", PASSED)]
    assert "leaked solution" in grade.unmet(leaked, "zero")[0]
    assert grade.unmet([result("test_c", PASSED)], "full") == []
    assert grade.unmet([], "zero") == ["no graded tests ran"]


def test_reports_follow_gradescope_and_junit_schemas():
    results = [result("test_a", PASSED, 2), result("test_b", ASSERTION, 3, "wrong sign: ...\n  yours: ..."),
               result("test_c", TIMEOUT, 1, "Timeout (>2.0s) from pytest-timeout.")]
    scored = reports.gradescope(results)
    assert scored["score"] == 2
    assert scored["tests"][1] == {"name": "ex09_demo: test_b", "score": 0.0, "max_score": 3,
                                  "status": "failed", "output": "[assertion] wrong sign: ...\n  yours: ..."}
    suite = ET.fromstring(reports.junit_xml(results)).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    assert suite.findall("testcase")[1].find("failure").get("message") == "wrong sign: ..."
    table = reports.text_table(results, "title")
    assert table.splitlines()[2] == "ex09_demo  1/3      2/6       test_b: wrong sign: ..."
    assert table.splitlines()[3] == "TOTAL      1/3      2/6"


def test_usage_errors_exit_2(tmp_path: Path, capsys):
    assert grade.main(["--exercise", "ex99_missing"]) == 2
    err = capsys.readouterr().err
    assert "unknown exercise ex99_missing; graded exercises: " in err and "ex00_basics" in err
    assert grade.main(["--impl", str(tmp_path / "nowhere")]) == 2
    assert grade.main(["--class", str(tmp_path), "--json", str(tmp_path / "x.json")]) == 2
    assert grade.main(["--class", str(tmp_path)]) == 2  # no student folders
