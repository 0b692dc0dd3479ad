"""ARENA-style assertions for graded tests: when a result is wrong, name the common mistake it matches.

    assert_close(actual, expected, what="masked_mean", mistakes=[
        (values.mean(), "you forgot the mask: padding positions are counted"),
        (negated, "wrong sign"),
    ])

A mistake is `(value, hint)` — the result that mistake would give (compared with `actual`) — or
`(predicate, hint)` with `predicate(actual, expected) -> bool`. The hint of the first matching mistake
is the first line of the AssertionError, which is what `hhcourse grade` and `check()` show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

Mistake = tuple[Any, str]  # (the value that mistake gives, or a predicate(actual, expected); hint)


def _as_tensor(x: Any) -> torch.Tensor:
    return x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(x)


def _close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    a, b = _as_tensor(a), _as_tensor(b)
    if a.shape != b.shape:
        return False
    return torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol)


def negated(actual: Any, expected: Any) -> bool:
    """Predicate: actual ≈ −expected (and expected is not ≈ 0)."""
    expected = _as_tensor(expected)
    return bool(expected.abs().max() > 1e-5) and _close(actual, -expected, 1e-4, 1e-5)


def not_finite(actual: Any, expected: Any) -> bool:
    """Predicate: actual holds inf or nan where expected is finite."""
    return bool(torch.isfinite(_as_tensor(expected)).all() and not torch.isfinite(_as_tensor(actual)).all())


def _matches(mistake: Any, actual: Any, expected: Any) -> bool:
    try:
        if callable(mistake):
            return bool(mistake(actual, expected))
        return _close(actual, mistake, 1e-4, 1e-5)
    except (RuntimeError, TypeError, ValueError):
        return False


def _describe(x: Any) -> str:
    t = _as_tensor(x)
    head = ", ".join(f"{v:.4g}" for v in t.flatten()[:6].double().tolist())
    return f"shape {tuple(t.shape)}, {t.dtype}: [{head}{', …' if t.numel() > 6 else ''}]"


def assert_close(actual: Any, expected: Any, *, what: str = "result", mistakes: Sequence[Mistake] = (),
                 rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Raise AssertionError unless `actual` ≈ `expected` (same shape); the first matching mistake's hint leads."""
    __tracebackhide__ = True  # pytest: show the failing test line, not this helper
    if not isinstance(actual, torch.Tensor | float | int):
        raise AssertionError(f"{what} should return a tensor, got {type(actual).__name__}")
    if _close(actual, expected, rtol, atol):
        return
    hints = [hint for mistake, hint in mistakes if _matches(mistake, actual, expected)]
    a, e = _as_tensor(actual), _as_tensor(expected)
    if a.shape != e.shape:
        problem = f"{what} has shape {tuple(a.shape)}, expected {tuple(e.shape)}"
    else:
        gap = (a.double() - e.double()).abs().nan_to_num(nan=float("inf")).max().item()
        problem = f"{what} differs from the reference (max |difference| {gap:.3g})"
    lines = [*hints[:1], problem, f"  yours:    {_describe(a)}", f"  expected: {_describe(e)}"]
    raise AssertionError("\n".join(lines))
