"""Notebooks are committed with outputs stripped, in sync with their jupytext percent twins (jupytext.toml),
and skip a cell in CI (nbmake tag `skip-execution`) only when it needs the internet (tag `needs-internet`).

Fix drift with `jupytext --sync notebooks/NN_name.ipynb` (the newer file wins); strip outputs with
`jupyter nbconvert --clear-output --inplace notebooks/*.ipynb`.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _cells(nb) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def sync_problems(ipynb: Path) -> list[str]:
    twin = ipynb.with_suffix(".py")
    if not twin.exists():
        return [f"{ipynb.name} has no paired {twin.name}: run `jupytext --sync {ipynb}`"]
    ours, theirs = _cells(jupytext.read(ipynb)), _cells(jupytext.read(twin))
    for number, (a, b) in enumerate(zip(ours, theirs, strict=False), start=1):
        if a != b:
            return [f"{ipynb.name} and {twin.name} differ at cell {number}: {a[1][:60]!r} vs {b[1][:60]!r} "
                    f"(run `jupytext --sync {ipynb}`)"]
    if len(ours) != len(theirs):
        return [f"{ipynb.name} has {len(ours)} cells, {twin.name} has {len(theirs)} (run `jupytext --sync {ipynb}`)"]
    return []


def output_problems(ipynb: Path) -> list[str]:
    nb = nbformat.read(ipynb, as_version=4)
    return [f"{ipynb.name} cell {number} has outputs or an execution count: strip them before committing"
            for number, cell in enumerate(nb.cells, start=1)
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]


def skip_problems(ipynb: Path) -> list[str]:
    nb = nbformat.read(ipynb, as_version=4)
    return [f"{ipynb.name} cell {number} is tagged skip-execution without needs-internet: CI must run every "
            "cell that works offline" for number, cell in enumerate(nb.cells, start=1)
            if "skip-execution" in cell.metadata.get("tags", []) and "needs-internet" not in cell.metadata.get("tags", [])]


def all_problems(ipynb: Path) -> list[str]:
    return sync_problems(ipynb) + output_problems(ipynb) + skip_problems(ipynb)


@pytest.mark.parametrize("ipynb", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_is_stripped_and_in_sync(ipynb: Path):
    assert all_problems(ipynb) == []


def test_every_percent_script_has_its_notebook():
    orphans = [p.name for p in NOTEBOOKS.glob("*.py") if not p.with_suffix(".ipynb").exists()]
    assert orphans == [], f"notebooks/ scripts without a notebook: {orphans} (run `jupytext --sync` on them)"


def _pair(folder: Path, sources: list[str], tags: list[str] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A title"),
                *(nbformat.v4.new_code_cell(s, metadata={"tags": tags} if tags else {}) for s in sources)]
    ipynb = folder / "nb.ipynb"
    nbformat.write(nb, ipynb)
    jupytext.write(nb, folder / "nb.py", fmt="py:percent")
    return ipynb


def test_checks_catch_drift_outputs_and_needless_skips(tmp_path: Path):
    ipynb = _pair(tmp_path, ["x = 1", "%matplotlib inline\nprint(x)"])
    assert all_problems(ipynb) == []

    twin = ipynb.with_suffix(".py")
    twin.write_text(twin.read_text().replace("x = 1", "x = 2"))
    assert "differ at cell 2" in " ".join(sync_problems(ipynb))
    twin.write_text(twin.read_text() + "\n# %%\ny = 3\n")
    assert sync_problems(ipynb)
    twin.unlink()
    assert "no paired nb.py" in " ".join(sync_problems(ipynb))

    nb = nbformat.read(ipynb, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[1].execution_count = 1
    nbformat.write(nb, ipynb)
    assert output_problems(ipynb) == ["nb.ipynb cell 2 has outputs or an execution count: strip them before committing"]

    assert skip_problems(_pair(tmp_path, ["x = 1"], tags=["skip-execution"]))
    assert skip_problems(_pair(tmp_path, ["x = 1"], tags=["skip-execution", "needs-internet"])) == []
