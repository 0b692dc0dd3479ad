"""`python -m hhcourse.course_run --out DIR notebooks/*.ipynb`: execute notebooks headless, with outputs, into DIR.

Quick mode (HHCOURSE_QUICK=1) and the solutions (HHCOURSE_IMPL=solutions) unless the environment says
otherwise; kernel `hhcourse` when installed (`make setup`), else this Python. Prints a wall-time table;
exits 1 if any notebook fails (its partial output is still written, to show where).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return "hhcourse" if "hhcourse" in KernelSpecManager().find_kernel_specs() else "python3"


def run_notebook(source: Path, out_dir: Path, kernel: str, cell_timeout: int) -> tuple[float, str]:
    """Execute one notebook (working directory: its own folder) into out_dir; (seconds, error or '')."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name=kernel,
                            resources={"metadata": {"path": str(source.parent.resolve())}})
    start, error = time.perf_counter(), ""
    try:
        client.execute()
    except CellExecutionError as err:
        error = f"{err.ename}: {err.evalue}"
    except Exception as err:  # a dead kernel or a timeout: report it and go on with the next notebook
        error = f"{type(err).__name__}: {err}"
    seconds = time.perf_counter() - start
    nbformat.write(nb, out_dir / source.name)
    return seconds, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hhcourse.course_run", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for the executed notebooks")
    parser.add_argument("--cell-timeout", type=int, default=600, help="seconds per cell (default: %(default)s)")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        print(f"course_run: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    os.environ.setdefault("HHCOURSE_QUICK", "1")  # the kernels inherit the environment
    os.environ.setdefault("HHCOURSE_IMPL", "solutions")
    args.out.mkdir(parents=True, exist_ok=True)
    kernel = kernel_name()
    print(f"executing {len(args.notebooks)} notebooks into {args.out}/ (kernel {kernel}, "
          f"HHCOURSE_QUICK={os.environ['HHCOURSE_QUICK']}, HHCOURSE_IMPL={os.environ['HHCOURSE_IMPL']})", flush=True)
    rows = []
    for source in args.notebooks:
        seconds, error = run_notebook(source, args.out, kernel, args.cell_timeout)
        rows.append((source.name, seconds, error))
        print(f"  {source.name}: {'FAILED' if error else 'ok'} in {seconds:.1f} s", flush=True)
    width = max(len(name) for name, _, _ in rows) + 2
    print(f"\n{'notebook':<{width}}{'wall s':>8}  result")
    for name, seconds, error in rows:
        print(f"{name:<{width}}{seconds:>8.1f}  {error or 'ok'}")
    print(f"{'TOTAL':<{width}}{sum(s for _, s, _ in rows):>8.1f}  {sum(bool(e) for _, _, e in rows)} failed")
    return 1 if any(error for _, _, error in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
