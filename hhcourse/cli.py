"""The `hhcourse` command. Each subcommand lives in its own module with a `main(argv) -> int`;
modules are imported only when their command runs, so `hhcourse --help` stays fast."""

from __future__ import annotations

import importlib
import sys

# name -> (module with main(argv), one-line help, the course unit that brings it if not yet there)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("hhcourse.data.cli", "validate and inspect preference data files"),
    "make-exercises": ("hhcourse.grading.make_exercises", "generate exercises/ from solutions/ (--check)"),
    "grade": ("hhcourse.grading.grade", "grade exercises, a student's copy, or a class"),
    "bench": ("benchmarks.cli", "speed benchmarks against plain transformers / TRL"),
    "eval-rm": ("hhcourse.reward_eval", "accuracy of a saved reward model on an hh-format pairs file"),
    "pipeline": ("hhcourse.pipeline", "run the course's stages end to end and write metrics.json"),
}


def _usage() -> str:
    lines = ["usage: hhcourse COMMAND [options]   (hhcourse COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<16}{help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if argv[0] in {"-V", "--version"}:
        from hhcourse import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"hhcourse: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        print(f"hhcourse {name}: not available in this version yet (module {module_name} is missing)",
              file=sys.stderr)
        return 2
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
