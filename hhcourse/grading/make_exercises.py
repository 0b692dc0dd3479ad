"""`hhcourse make-exercises [--check]`: generate exercises/*.py from solutions/*.py, a pure text transform.

Markers (nbgrader syntax), each alone on its line:

    ### BEGIN SOLUTION            the region becomes, at the marker's indentation,
    ...                               # YOUR CODE HERE
    ### END SOLUTION                  raise NotImplementedError("<module>.<function>")
    ### BEGIN SOLUTION NO PROMPT  the region is removed (instructor-only code)

Unclosed, nested, stray or misspelt markers are errors naming file:line. Output is deterministic;
`--check` regenerates in memory and exits 1 if exercises/ differs.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

from hhcourse.impl import repo_root

BEGIN = re.compile(r"(?P<indent>[ \t]*)### BEGIN SOLUTION(?P<no_prompt> NO PROMPT)?[ \t]*")
END = re.compile(r"[ \t]*### END SOLUTION[ \t]*")
MARKER_LIKE = re.compile(r"#.*\b(BEGIN|END)[ _]SOLUTION", re.IGNORECASE)
HEADER = "# Generated from solutions/{name} by `hhcourse make-exercises` — edit the solution, not this file."
STUDENT_NOTE = "# Students: this copy is yours. Replace each `# YOUR CODE HERE` stub, then run hhcourse.check(\"{module}\")."


class MarkerError(ValueError):
    """A solution file whose markers cannot be transformed; the message starts with file:line."""


def _functions_by_line(source: str, origin: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, innermost last."""
    try:
        tree = ast.parse(source, filename=origin)
    except SyntaxError as err:
        raise MarkerError(f"{origin}:{err.lineno}: the solution does not parse: {err.msg}") from None
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    spans.append((child.lineno, child.end_lineno, name))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def _enclosing_function(spans: list[tuple[int, int, str]], line: int) -> str | None:
    inside = [(first, name) for first, last, name in spans if first < line <= last]
    return max(inside)[1] if inside else None


def transform(source: str, module: str, origin: str) -> str:
    """The exercise text for one solution file. `origin` (its path) is used in messages and the header."""
    spans = _functions_by_line(source, origin)
    out = [HEADER.format(name=Path(origin).name), STUDENT_NOTE.format(module=module)]
    opened: int | None = None  # line of the BEGIN marker of the region we are in
    regions = 0
    for number, line in enumerate(source.splitlines(), start=1):
        begin, end = BEGIN.fullmatch(line), END.fullmatch(line)
        if begin:
            if opened is not None:
                raise MarkerError(f"{origin}:{number}: nested ### BEGIN SOLUTION "
                                  f"(the region opened at line {opened} is not closed)")
            opened, regions = number, regions + 1
            if not begin["no_prompt"]:
                function = _enclosing_function(spans, number)
                if function is None:
                    raise MarkerError(f"{origin}:{number}: ### BEGIN SOLUTION outside a function body (or an empty "
                                      "region): the stub raises, so it must be inside a function; use "
                                      "### BEGIN SOLUTION NO PROMPT to drop module-level code")
                indent = begin["indent"]
                out += [f"{indent}# YOUR CODE HERE", f'{indent}raise NotImplementedError("{module}.{function}")']
        elif end:
            if opened is None:
                raise MarkerError(f"{origin}:{number}: ### END SOLUTION without a ### BEGIN SOLUTION")
            opened = None
        elif MARKER_LIKE.search(line):
            raise MarkerError(f"{origin}:{number}: malformed marker {line.strip()!r}: write exactly "
                              "'### BEGIN SOLUTION', '### BEGIN SOLUTION NO PROMPT' or '### END SOLUTION' on its own line")
        elif opened is None:
            out.append(line)
    if opened is not None:
        raise MarkerError(f"{origin}:{opened}: ### BEGIN SOLUTION is never closed by ### END SOLUTION")
    if regions == 0:
        raise MarkerError(f"{origin}:1: no ### BEGIN SOLUTION markers: the exercise would hand out the whole solution")
    text = "\n".join(out) + "\n"
    try:
        ast.parse(text)
    except SyntaxError as err:
        raise MarkerError(f"{origin}: the generated exercise does not parse (its line {err.lineno}: {err.msg}); "
                          "check the markers' indentation") from None
    return text


def generate(solutions: Path, exercises: Path) -> dict[Path, str | None]:
    """What exercises/ should hold: path → text, or None for a stale generated file to delete."""
    wanted: dict[Path, str | None] = {}
    for source in sorted(solutions.glob("*.py")):
        if source.name != "__init__.py":
            origin = _shown(source)
            wanted[exercises / source.name] = transform(source.read_text(encoding="utf-8"), source.stem, origin)
    for existing in sorted(exercises.glob("*.py")):
        if existing not in wanted and existing.read_text(encoding="utf-8").startswith("# Generated from solutions/"):
            wanted[existing] = None
    return wanted


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _differs(path: Path, text: str | None) -> bool:
    if text is None:
        return path.exists()
    return not path.exists() or path.read_text(encoding="utf-8") != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hhcourse make-exercises", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if exercises/ is stale; write nothing")
    parser.add_argument("--solutions", type=Path, default=repo_root() / "solutions", help="default: %(default)s")
    parser.add_argument("--exercises", type=Path, default=repo_root() / "exercises", help="default: %(default)s")
    args = parser.parse_args(argv)
    if not args.solutions.is_dir():
        print(f"make-exercises: {args.solutions} is not a directory", file=sys.stderr)
        return 2
    try:
        wanted = generate(args.solutions, args.exercises)
    except MarkerError as err:
        print(f"make-exercises: {err}", file=sys.stderr)
        return 2
    stale = [path for path, text in wanted.items() if _differs(path, text)]
    if args.check:
        for path in stale:
            why = "has no solution any more" if wanted[path] is None else "differs from what its solution generates"
            print(f"stale: {_shown(path)} {why}", file=sys.stderr)
        if stale:
            print("exercises/ is stale: run `hhcourse make-exercises` (or `make exercises`)", file=sys.stderr)
            return 1
        print(f"exercises/ is up to date ({len(wanted)} generated file{'s' * (len(wanted) != 1)})")
        return 0
    args.exercises.mkdir(parents=True, exist_ok=True)
    for path in stale:
        if wanted[path] is None:
            path.unlink()
            print(f"deleted {_shown(path)} (its solution is gone)")
        else:
            path.write_text(wanted[path], encoding="utf-8")
            print(f"wrote {_shown(path)}")
    print(f"exercises/: {len(stale)} changed, {len(wanted) - len(stale)} up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
