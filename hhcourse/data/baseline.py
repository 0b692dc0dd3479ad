"""The cheapest preference model: logistic regression on bag-of-words features of the two responses.

P(chosen ≻ rejected) = σ(w · (φ(chosen) − φ(rejected))), the Bradley–Terry model with a linear reward
r(y) = w · φ(y) over hashed word unigrams and bigrams. It measures how hard a preference dataset is (if a
word count solves it, the pairs are too easy) and is the baseline a neural reward model must beat.
"""

from __future__ import annotations

import re
import zlib

import torch

_WORD = re.compile(r"[a-z0-9']+")


def features(texts: list[str], dim: int = 2**14) -> torch.Tensor:
    """(N, dim) log(1 + count) of hashed lowercase unigrams and bigrams."""
    out = torch.zeros(len(texts), dim)
    for row, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        for gram in words + [a + " " + b for a, b in zip(words, words[1:])]:
            out[row, zlib.crc32(gram.encode()) % dim] += 1
    return out.log1p()


def fit(chosen: list[str], rejected: list[str], l2: float = 1e-3, steps: int = 300, dim: int = 2**14):
    """Fit w by minimising the BT loss −log σ(w·Δφ) + l2·|w|² with L-BFGS; returns w (dim,)."""
    diff = features(chosen, dim) - features(rejected, dim)
    w = torch.zeros(dim, requires_grad=True)
    optimizer = torch.optim.LBFGS([w], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = -torch.nn.functional.logsigmoid(diff @ w).mean() + l2 * (w**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach()


def accuracy(w: torch.Tensor, chosen: list[str], rejected: list[str]) -> float:
    """Share of pairs where the linear reward ranks chosen above rejected (ties count half)."""
    margin = (features(chosen, w.numel()) - features(rejected, w.numel())) @ w
    return float(((margin > 0).float() + 0.5 * (margin == 0).float()).mean())


def length_accuracy(chosen: list[str], rejected: list[str]) -> float:
    """Share of pairs the rule "prefer the longer response" gets right (ties count half)."""
    scores = [1.0 if len(c) > len(r) else 0.5 if len(c) == len(r) else 0.0 for c, r in zip(chosen, rejected)]
    return sum(scores) / len(scores)
