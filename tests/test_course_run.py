"""`python -m hhcourse.course_run`: executes notebooks into a folder with outputs, reports wall times and failures."""

from __future__ import annotations

from pathlib import Path

import nbformat

from hhcourse.course_run import main


def notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return path


def test_runs_each_notebook_in_quick_mode_and_reports_failures(tmp_path: Path, monkeypatch, capsys):
    for name in ("HHCOURSE_QUICK", "HHCOURSE_IMPL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)  # unset while the test runs, restored afterwards
    good = notebook(tmp_path / "01_good.ipynb", "import os",
                    "print(os.environ['HHCOURSE_QUICK'], os.environ['HHCOURSE_IMPL'], os.getcwd())")
    bad = notebook(tmp_path / "02_bad.ipynb", "1 / 0", "print('never runs')")
    out = tmp_path / "out"

    assert main(["--out", str(out), str(good), str(bad)]) == 1

    executed = nbformat.read(out / "01_good.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["text"] == f"1 solutions {tmp_path}\n"  # quick mode, solutions, own folder
    failed = nbformat.read(out / "02_bad.ipynb", as_version=4)
    assert failed.cells[0].outputs[0]["ename"] == "ZeroDivisionError" and failed.cells[1].outputs == []
    table = capsys.readouterr().out
    assert "02_bad.ipynb" in table and "ZeroDivisionError: division by zero" in table and "1 failed" in table
    assert nbformat.read(good, as_version=4).cells[1].outputs == []  # the source notebook is untouched


def test_missing_notebook_exits_2(tmp_path: Path):
    assert main(["--out", str(tmp_path), str(tmp_path / "nope.ipynb")]) == 2
