"""hhcourse: train a helpful and harmless assistant with human and AI feedback, hands on.

Submodules are imported on demand (`from hhcourse import models`); importing the package is cheap.
"""

__version__ = "0.1.0"


def check(exercise: str, **kwargs):
    """Run one exercise's tests against the loaded implementation (see `hhcourse.checks.check`)."""
    from hhcourse.checks import check as _check

    return _check(exercise, **kwargs)
