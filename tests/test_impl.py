"""hhcourse.impl.load (exercises / solutions / a folder, reloading on edit) and hhcourse.check (in-process)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import hhcourse
from hhcourse.grading.plugin import NOT_IMPLEMENTED, PASSED
from hhcourse.impl import load, repo_root


def write(path: Path, text: str) -> None:
    """Write and move the mtime forward, as a later edit in an editor would."""
    stamp = path.stat().st_mtime_ns + 10**9 if path.exists() else None
    path.write_text(text)
    if stamp is not None:
        os.utime(path, ns=(stamp, stamp))


def test_load_the_packages():
    assert load("ex00_basics", "solutions").__name__ == "solutions.ex00_basics"
    stub = load("ex00_basics", "exercises")
    assert stub.__file__ == str(repo_root() / "exercises" / "ex00_basics.py")
    with pytest.raises(NotImplementedError, match="ex00_basics.masked_mean"):
        stub.masked_mean(None, None)


def test_a_folder_is_its_own_package_and_reloads_when_edited(tmp_path: Path, monkeypatch):
    write(tmp_path / "ex01_demo.py", "from .ex02_helper import ONE\n\ndef f():\n    return ONE\n")
    write(tmp_path / "ex02_helper.py", "ONE = 1\n")
    monkeypatch.setenv("HHCOURSE_IMPL", str(tmp_path))
    module = load("ex01_demo")
    assert module.f() == 1
    assert module.__name__.startswith("_hhcourse_impl_") and "exercises.ex01_demo" not in sys.modules

    write(tmp_path / "ex01_demo.py", "def f():\n    return 2\n")
    assert load("ex01_demo") is module and module.f() == 2  # same module object, new code
    assert load("ex01_demo", tmp_path / ".." / tmp_path.name) is module  # one package per folder


def test_load_explains_bad_ids_and_missing_files(tmp_path: Path):
    with pytest.raises(ValueError, match="expected the file name of an exercise"):
        load("basics")
    with pytest.raises(FileNotFoundError, match=r"has no ex00_basics\.py"):
        load("ex00_basics", tmp_path)


def test_check_runs_the_graded_tests_in_process(tmp_path: Path):
    solved = hhcourse.check("ex00_basics", impl="solutions")
    assert solved.passed and [r.status for r in solved.results] == [PASSED] * 10
    assert "10/10 tests, 14/14 points" in repr(solved)

    stubs = hhcourse.check("ex00_basics", impl="exercises")
    assert not stubs.passed and {r.status for r in stubs.results} == {NOT_IMPLEMENTED}
    assert "NotImplementedError(ex00_basics.masked_mean)" in repr(stubs)
    assert "<table>" in stubs._repr_html_()
    with pytest.raises(AssertionError, match="0/10 tests"):
        hhcourse.check("ex00_basics", impl="exercises", strict=True)


def test_check_sees_the_latest_edit_and_shows_its_hint(tmp_path: Path):
    source = (repo_root() / "solutions" / "ex00_basics.py").read_text()
    write(tmp_path / "ex00_basics.py", source)
    assert hhcourse.check("ex00_basics", impl=str(tmp_path)).passed
    write(tmp_path / "ex00_basics.py", source.replace("return selected.sum() / selected.numel()",
                                                      "return -selected.sum() / selected.numel()"))
    result = hhcourse.check("ex00_basics", impl=str(tmp_path))
    assert [r.name for r in result.results if r.status != PASSED] == [
        "test_masked_mean_matches_library", "test_masked_mean_closed_form",
        "test_masked_mean_gradient_flows_to_real_tokens_only"]
    assert "✗ test_masked_mean_closed_form" in repr(result) and "wrong sign: a mean keeps" in repr(result)
