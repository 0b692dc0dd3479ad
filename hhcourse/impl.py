"""Load the graded functions of one exercise: the student's (exercises/), the solutions, or any copy.

    ex = load("ex00_basics")                  # exercises/ by default; HHCOURSE_IMPL=solutions in CI
    ex = load("ex00_basics", "solutions")
    ex = load("ex00_basics", "submissions/alice")   # a folder holding ex00_basics.py

A folder is imported as a package of its own (`_hhcourse_impl_<hash>`), never as a second
`exercises`, so relative imports between its modules work and `importlib.reload` / `%autoreload 2`
see edits. Calling `load` again after the file changed reloads it too.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

from hhcourse import config

PACKAGES = ("exercises", "solutions")
EXERCISE_ID = re.compile(r"ex\d+_\w+")
_loaded_mtime: dict[str, int] = {}


def repo_root() -> Path:
    """The course checkout this package lives in (holds solutions/, exercises/, tests/)."""
    return Path(__file__).resolve().parent.parent


def folder_of(impl: str | os.PathLike) -> Path:
    """The directory holding an implementation's exN_*.py files."""
    return repo_root() / str(impl) if str(impl) in PACKAGES else Path(impl).expanduser().resolve()


def module_name(exercise: str, impl: str | os.PathLike) -> str:
    """The sys.modules name `load` gives an exercise of `impl`."""
    if str(impl) in PACKAGES:
        return f"{impl}.{exercise}"
    folder = str(folder_of(impl))
    package = "_hhcourse_impl_" + hashlib.sha1(folder.encode()).hexdigest()[:12]
    if package not in sys.modules:
        spec = importlib.util.spec_from_loader(package, loader=None, is_package=True)
        spec.submodule_search_locations = [folder]
        sys.modules[package] = importlib.util.module_from_spec(spec)
    return f"{package}.{exercise}"


def load(exercise: str, impl: str | os.PathLike | None = None) -> ModuleType:
    """The module for `exercise` ("ex05_ppo") from impl = "exercises" | "solutions" | a folder.

    Default: $HHCOURSE_IMPL, else "exercises". A folder literally named exercises or solutions in the
    current directory needs a path such as ./exercises.
    """
    if not EXERCISE_ID.fullmatch(exercise):
        raise ValueError(f"exercise id {exercise!r}: expected the file name of an exercise, e.g. 'ex00_basics'")
    impl = config.impl_name() if impl is None else impl
    path = folder_of(impl) / f"{exercise}.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: impl={str(impl)!r} has no {exercise}.py "
                                "(impl is 'exercises', 'solutions' or a folder; env HHCOURSE_IMPL)")
    name = module_name(exercise, impl)
    mtime = path.stat().st_mtime_ns
    if name in sys.modules and _loaded_mtime.get(name) != mtime:
        module = importlib.reload(sys.modules[name])
    else:
        importlib.invalidate_caches()  # a file created since the last import must be found
        module = importlib.import_module(name)
    _loaded_mtime[name] = mtime
    return module
