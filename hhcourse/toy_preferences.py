"""Rewards from pairwise preferences on a toy task with a known reward (Christiano et al. 2017).

A gridworld whose cells carry a hidden true reward r(s). A k-step random walk is a trajectory
segment σ = (s_0, …, s_{k−1}) with return R(σ) = Σ_t r(s_t) (the reward depends on the state only,
a special case of the paper's r(o, a)). Synthetic labels come from the Bradley–Terry model of r,

    P[σ¹ ≻ σ²] = σ((R(σ¹) − R(σ²)) / β)                       (eq. 1, with a temperature β)

plus, optionally, a rate ε of labels answered by a coin flip (the paper's rater-error model).
A tabular r̂ is fit with the cross-entropy over μ and compared with r on held-out pairs.

Identifiability: every segment has the same length k, so r̂ + c adds k·c to both returns and
predicts exactly the same preferences: r̂ is pinned down only up to a constant shift. With
noiseless labels (β = 0) any positive multiple of r̂ orders the pairs the same, so the scale is
not identified either; with β > 0 the labels' confidence fixes it (r̂ ≈ r / β). Compare rewards
only after `standardise`, or with shift- and scale-free metrics (`reward_correlation`,
`preference_agreement`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hhcourse import preferences

MOVES = torch.tensor([[-1, 0], [1, 0], [0, -1], [0, 1]])  # up, down, left, right (row, column steps)

LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (return_1 (B,), return_2 (B,), mu (B, 2)) → ()
ReturnFn = Callable[[Tensor], Tensor]  # per-step rewards (B, k) → segment returns (B,)


@dataclass(frozen=True)
class GridWorld:
    height: int
    width: int
    true_reward: Tensor  # (height · width,) r(s) per cell, row-major, standardised: mean 0, std 1

    @property
    def n_cells(self) -> int:
        return self.height * self.width


@dataclass(frozen=True)
class Comparisons:
    first: Tensor  # (N, k) cells visited by σ¹
    second: Tensor  # (N, k) cells visited by σ²
    mu: Tensor  # (N, 2) label: [1, 0] σ¹ preferred, [0, 1] σ² preferred, [½, ½] a tie

    def __len__(self) -> int:
        return self.first.shape[0]


@dataclass(frozen=True)
class RewardFit:
    reward: Tensor  # (n_cells,) the learned r̂, detached
    losses: list[float]  # training objective after each step


def make_gridworld(height: int = 8, width: int = 8, n_bumps: int = 4, seed: int = 0) -> GridWorld:
    """A grid whose true reward is a sum of Gaussian hills (odd bumps) and pits (even bumps)."""
    if height < 2 or width < 2 or n_bumps < 1:
        raise ValueError(f"make_gridworld(height={height}, width={width}, n_bumps={n_bumps}): "
                         "need at least a 2×2 grid and one bump")
    g = torch.Generator().manual_seed(seed)
    rows, cols = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                                torch.arange(width, dtype=torch.float32), indexing="ij")
    centres = torch.rand(n_bumps, 2, generator=g) * torch.tensor([height - 1.0, width - 1.0])
    spreads = 1.0 + 1.5 * torch.rand(n_bumps, generator=g)  # in cells
    signs = torch.tensor([1.0, -1.0]).repeat(n_bumps)[:n_bumps]
    sq_dist = (rows - centres[:, 0, None, None]) ** 2 + (cols - centres[:, 1, None, None]) ** 2
    bumps = signs[:, None, None] * torch.exp(-sq_dist / (2 * spreads[:, None, None] ** 2))
    reward = bumps.sum(0).flatten()
    return GridWorld(height, width, (reward - reward.mean()) / reward.std())


def sample_segments(world: GridWorld, n: int, length: int, generator: torch.Generator) -> Tensor:
    """(n, length) cells of random-policy segments: a uniform start, then uniform moves (a wall keeps you put)."""
    row = torch.randint(world.height, (n,), generator=generator)
    col = torch.randint(world.width, (n,), generator=generator)
    cells = [row * world.width + col]
    for _ in range(length - 1):
        move = MOVES[torch.randint(len(MOVES), (n,), generator=generator)]
        row = (row + move[:, 0]).clamp(0, world.height - 1)
        col = (col + move[:, 1]).clamp(0, world.width - 1)
        cells.append(row * world.width + col)
    return torch.stack(cells, dim=1)


def returns_of(reward: Tensor, segments: Tensor) -> Tensor:
    """R(σ) = Σ_t r(s_t) for each segment: reward (n_cells,), segments (N, k) → (N,)."""
    return reward[segments].sum(dim=1)


def label_pairs(return_1: Tensor, return_2: Tensor, *, temperature: float = 1.0, error_rate: float = 0.0,
                tie_margin: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
    """μ (N, 2) for pairs with true returns R¹, R² (N,), as a synthetic rater would answer.

    temperature β: σ¹ wins with probability σ((R¹ − R²)/β) (eq. 1); β = 0 always picks the larger return.
    tie_margin: |R¹ − R²| ≤ tie_margin is answered "equally good", μ = (½, ½).
    error_rate ε: each answer is replaced by a fair coin flip with probability ε (so about ε/2 of the
    answers contradict the rater's choice); Christiano et al. model their raters with ε = 0.1.
    """
    if temperature < 0 or not 0.0 <= error_rate <= 1.0 or tie_margin < 0:
        raise ValueError(f"label_pairs(temperature={temperature}, error_rate={error_rate}, tie_margin={tie_margin}): "
                         "need temperature ≥ 0, 0 ≤ error_rate ≤ 1, tie_margin ≥ 0")
    delta = return_1 - return_2
    if temperature == 0:
        first_wins = (delta > 0).float()
    else:
        first_wins = torch.bernoulli(torch.sigmoid(delta / temperature), generator=generator)
    mu_1 = torch.where(delta.abs() <= tie_margin, 0.5, first_wins)
    coin = torch.randint(2, delta.shape, generator=generator).float()
    guessed = torch.rand(delta.shape, generator=generator) < error_rate
    mu_1 = torch.where(guessed, coin, mu_1)
    return torch.stack([mu_1, 1 - mu_1], dim=1)


def make_comparisons(world: GridWorld, n: int, *, length: int = 6, temperature: float = 1.0,
                     error_rate: float = 0.0, tie_margin: float = 0.0, seed: int = 0) -> Comparisons:
    """n labelled pairs of random segments of `length` steps (see `label_pairs` for the label options)."""
    if n < 1 or length < 1:
        raise ValueError(f"make_comparisons(n={n}, length={length}): need at least one pair of 1-step segments")
    g = torch.Generator().manual_seed(seed)
    first = sample_segments(world, n, length, g)
    second = sample_segments(world, n, length, g)
    mu = label_pairs(returns_of(world.true_reward, first), returns_of(world.true_reward, second),
                     temperature=temperature, error_rate=error_rate, tie_margin=tie_margin, generator=g)
    return Comparisons(first, second, mu)


def sum_over_steps(rewards: Tensor) -> Tensor:
    """Segment returns from per-step rewards: (B, k) → (B,)."""
    return rewards.sum(dim=1)


def bt_cross_entropy(return_1: Tensor, return_2: Tensor, mu: Tensor) -> Tensor:
    """The paper's loss, −mean[μ(1) log P̂[σ¹ ≻ σ²] + μ(2) log P̂[σ² ≻ σ¹]], with μ given as (B, 2)."""
    return preferences.soft_bt_loss(return_1, return_2, mu[:, 0])


def robust_bt_cross_entropy(return_1: Tensor, return_2: Tensor, mu: Tensor, error_rate: float = 0.1) -> Tensor:
    """`bt_cross_entropy` under the paper's rater-error model: P̂[σ¹ ≻ σ²] = ε/2 + (1 − ε)·σ(R̂¹ − R̂²).

    Christiano et al. assume a 10% chance that the rater answers uniformly at random, so P̂ never reaches
    0 or 1 and one mislabelled pair costs at most −log(ε/2) instead of a loss that grows with the gap.
    Computed in log space: log P̂ = logaddexp(log(ε/2), log(1 − ε) + log σ(R̂¹ − R̂²)).
    """
    if not 0.0 <= error_rate < 1.0:
        raise ValueError(f"robust_bt_cross_entropy(error_rate={error_rate}): need 0 ≤ error_rate < 1")
    delta = return_1 - return_2
    guess = torch.full_like(delta, math.log(error_rate / 2) if error_rate else -math.inf)
    keep = math.log(1 - error_rate)
    log_p_first = torch.logaddexp(guess, keep + F.logsigmoid(delta))
    log_p_second = torch.logaddexp(guess, keep + F.logsigmoid(-delta))
    return -(mu[:, 0] * log_p_first + mu[:, 1] * log_p_second).mean()


class TabularReward(nn.Module):
    """r̂(s): one learned number per cell, all zero at the start (every pair a coin flip)."""

    def __init__(self, n_cells: int):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(n_cells))

    def forward(self, segments: Tensor) -> Tensor:
        """Per-step rewards r̂(s_t): cells (B, k) → (B, k)."""
        return self.table[segments]


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one CPU thread: with tensors this small, handing work between threads costs more than it
    saves (on a busy 2-core machine a fit ran ~50× slower with 2 threads than with 1)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_reward(world: GridWorld, comparisons: Comparisons, *, loss: LossFn = bt_cross_entropy,
               segment_return: ReturnFn = sum_over_steps, steps: int = 300, lr: float = 0.05,
               l2: float = 1e-3) -> RewardFit:
    """Fit a tabular r̂ to the comparisons by minimising loss(R̂¹, R̂², μ) + l2·‖r̂‖², full batch, Adam.

    `loss` and `segment_return` are the pieces a student writes (exercise 01); the defaults are the
    library's. The ℓ2 term (the paper regularises too) keeps r̂ finite when the labels are noiseless
    and, among the shifted copies of r̂ that fit equally well, picks the one with mean zero.
    """
    if comparisons.first.max() >= world.n_cells or comparisons.second.max() >= world.n_cells:
        raise ValueError(f"comparisons visit cells ≥ {world.n_cells}: they were made for a different grid")
    if comparisons.mu.shape != (len(comparisons), 2):
        raise ValueError(f"comparisons.mu has shape {tuple(comparisons.mu.shape)}, expected ({len(comparisons)}, 2)")
    model = TabularReward(world.n_cells)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    with _one_thread():
        for _ in range(steps):
            return_1 = segment_return(model(comparisons.first))
            return_2 = segment_return(model(comparisons.second))
            objective = loss(return_1, return_2, comparisons.mu) + l2 * model.table.pow(2).sum()
            optimizer.zero_grad()
            objective.backward()
            optimizer.step()
            losses.append(objective.item())
    return RewardFit(model.table.detach().clone(), losses)


def standardise(reward: Tensor) -> Tensor:
    """(r − mean r) / std r: removes the shift (never identifiable) and the scale (not identifiable at β = 0)."""
    return (reward - reward.mean()) / reward.std().clamp(min=1e-12)


def reward_correlation(learned: Tensor, true: Tensor) -> float:
    """Pearson correlation of two per-cell rewards: 1 when one is a positive multiple of the other plus a shift."""
    return torch.corrcoef(torch.stack([learned, true]))[0, 1].item()


def reward_scale(learned: Tensor, true: Tensor) -> float:
    """Least-squares slope of r̂ on r after removing both means: about 1/β when labels have temperature β."""
    learned, true = learned - learned.mean(), true - true.mean()
    return (learned @ true / (true @ true)).item()


def preference_agreement(learned: Tensor, true: Tensor, first: Tensor, second: Tensor) -> float:
    """Fraction of pairs (σ¹, σ²) the learned reward orders as the true one does.

    A pair the learned reward calls a tie scores ½ (a coin flip); pairs the true reward ties are skipped.
    """
    learned_sign = torch.sign(returns_of(learned, first) - returns_of(learned, second))
    true_delta = returns_of(true, first) - returns_of(true, second)
    decided = true_delta.abs() > 1e-6
    return ((1 + learned_sign[decided] * torch.sign(true_delta[decided])) / 2).mean().item()


def trial_agreement(world: GridWorld, held_out: Comparisons, n_comparisons: int, *, seed: int,
                    loss: LossFn = bt_cross_entropy, segment_return: ReturnFn = sum_over_steps,
                    length: int = 6, temperature: float = 1.0, error_rate: float = 0.0) -> float:
    """One run: label `n_comparisons` fresh pairs, fit r̂, return its agreement with r on `held_out`."""
    train = make_comparisons(world, n_comparisons, length=length, temperature=temperature,
                             error_rate=error_rate, seed=seed)
    fit = fit_reward(world, train, loss=loss, segment_return=segment_return)
    return preference_agreement(fit.reward, world.true_reward, held_out.first, held_out.second)
