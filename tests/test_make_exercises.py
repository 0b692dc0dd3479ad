"""`hhcourse make-exercises`: the solutions → exercises text transform, its errors, and --check."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hhcourse.grading.make_exercises import MarkerError, main, transform
from hhcourse.impl import load, repo_root

SOLUTION = textwrap.dedent('''\
    """A module docstring."""
    import math


    def area(r):
        """Area of a circle."""
        ### BEGIN SOLUTION
        squared = r * r
        return math.pi * squared
        ### END SOLUTION


    class Shape:
        def scaled(self, k):
            if k < 0:
                ### BEGIN SOLUTION
                raise ValueError(k)
                ### END SOLUTION
            ### BEGIN SOLUTION NO PROMPT
            assert k != 7, "instructor-only check"
            ### END SOLUTION
            return k
    ''')


def run(source: str, name: str = "ex07_demo"):
    text = transform(source, name, f"solutions/{name}.py")
    namespace: dict = {}
    exec(compile(text, f"exercises/{name}.py", "exec"), namespace)
    return text, namespace


def test_solution_regions_become_stubs_at_their_indentation():
    text, ns = run(SOLUTION)
    assert text.startswith("# Generated from solutions/ex07_demo.py by `hhcourse make-exercises` — "
                           "edit the solution, not this file.\n")
    assert '    """Area of a circle."""\n    # YOUR CODE HERE\n    raise NotImplementedError("ex07_demo.area")\n' in text
    assert '            # YOUR CODE HERE\n            raise NotImplementedError("ex07_demo.Shape.scaled")\n' in text
    assert "squared" not in text and "instructor-only" not in text and "BEGIN" not in text
    assert "        return k\n" in text  # code after a region stays
    with pytest.raises(NotImplementedError, match=r"^ex07_demo\.area$"):
        ns["area"](2.0)
    assert ns["Shape"]().scaled(3) == 3  # the NO PROMPT region is gone, the rest still runs


def test_transform_is_deterministic_and_keeps_unmarked_lines():
    text, _ = run(SOLUTION)
    assert text == transform(SOLUTION, "ex07_demo", "elsewhere/ex07_demo.py")  # no paths or times leak in
    assert '"""A module docstring."""\nimport math\n' in text


@pytest.mark.parametrize(("source", "message"), [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", r"^solutions/ex07_demo\.py:2: .*never closed"),
    ("def f():\n    ### BEGIN SOLUTION\n    x = 1\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n",
     r"^solutions/ex07_demo\.py:4: nested .*line 2"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", r"^solutions/ex07_demo\.py:3: ### END SOLUTION without"),
    ("def f():\n    ## BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", r"^solutions/ex07_demo\.py:2: malformed"),
    ("def f():\n    return 1\n    ### END_SOLUTION\n", r":3: malformed"),
    ("### BEGIN SOLUTION\nX = 1\n### END SOLUTION\n", r":1: ### BEGIN SOLUTION outside a function"),
    ("def f():\n    return 1\n", r":1: no ### BEGIN SOLUTION markers"),
    ("def f(:\n    pass\n", r":1: the solution does not parse"),
])
def test_bad_markers_are_errors_naming_file_and_line(source, message):
    with pytest.raises(MarkerError, match=message):
        transform(source, "ex07_demo", "solutions/ex07_demo.py")


def test_no_prompt_region_may_sit_at_module_level():
    text, ns = run("### BEGIN SOLUTION NO PROMPT\nSECRET = 1\n### END SOLUTION\n"
                   "def f():\n    ### BEGIN SOLUTION\n    return SECRET\n    ### END SOLUTION\n")
    assert "SECRET = 1" not in text and "SECRET" not in ns


def test_check_detects_stale_missing_and_orphaned_exercises(tmp_path: Path, capsys):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    (solutions / "__init__.py").write_text("")
    (solutions / "ex07_demo.py").write_text(SOLUTION)
    dirs = ["--solutions", str(solutions), "--exercises", str(exercises)]

    assert main(["--check", *dirs]) == 1 and not exercises.exists()  # --check writes nothing
    assert main(dirs) == 0
    assert main(["--check", *dirs]) == 0
    generated = (exercises / "ex07_demo.py").read_text()
    assert main(dirs) == 0 and (exercises / "ex07_demo.py").read_text() == generated  # idempotent

    (solutions / "ex07_demo.py").write_text(SOLUTION.replace("math.pi", "3.14159"))
    assert main(["--check", *dirs]) == 0  # a change inside a solution region changes no exercise
    (solutions / "ex07_demo.py").write_text(SOLUTION.replace("Area of a circle", "Area of a disc"))
    assert main(["--check", *dirs]) == 1
    assert "stale: " in capsys.readouterr().err
    assert main(dirs) == 0 and main(["--check", *dirs]) == 0

    (solutions / "ex07_demo.py").rename(solutions / "ex08_other.py")
    (exercises / "notes.py").write_text("# a student's own file\n")
    assert main(["--check", *dirs]) == 1
    assert main(dirs) == 0
    assert sorted(p.name for p in exercises.glob("*.py")) == ["ex08_other.py", "notes.py"]


def test_marker_error_exits_2_with_file_and_line(tmp_path: Path, capsys):
    (tmp_path / "ex07_demo.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    assert main(["--solutions", str(tmp_path), "--exercises", str(tmp_path / "out")]) == 2
    assert "ex07_demo.py:2: ### BEGIN SOLUTION is never closed" in capsys.readouterr().err


def test_repo_exercises_are_current_and_import_cleanly():
    assert main(["--check"]) == 0
    for path in sorted((repo_root() / "exercises").glob("ex*.py")):
        module = load(path.stem, "exercises")
        assert module.__file__ == str(path)
