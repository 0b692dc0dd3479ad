# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (hhcourse)
#     language: python
#     name: hhcourse
# ---

# %% [markdown]
# # 01 · From preferences to rewards, on a toy task with a known answer
#
# **Christiano et al. 2017, *Deep reinforcement learning from human preferences*.** Many tasks have no
# reward function anyone can write down, but a person watching two short clips of an agent can say which
# one is better. The paper turns such answers into a reward: show a rater two trajectory segments
# $\sigma^1, \sigma^2$ (1–2 s of behaviour), record which one they prefer, and fit a reward $\hat r$ whose
# *sums* over the segments predict those answers. An RL agent then maximises $\hat r$ while new comparisons
# keep arriving. With under 1% of the agent's steps labelled, this solved Atari games and MuJoCo tasks
# without their rewards, and taught behaviours (a backflip) that no one had a reward for.
#
# The reward is read as a preference predictor through the Bradley–Terry model (the paper's eq. 1):
#
# $$\hat P[\sigma^1 \succ \sigma^2] = \frac{\exp \sum_t \hat r(o^1_t, a^1_t)}{\exp \sum_t \hat r(o^1_t, a^1_t)
#   + \exp \sum_t \hat r(o^2_t, a^2_t)} = \sigma\big(\hat R(\sigma^1) - \hat R(\sigma^2)\big),$$
#
# and fit by minimising the cross-entropy between these predictions and the labels $\mu$:
#
# $$\text{loss}(\hat r) = -\sum_{(\sigma^1, \sigma^2, \mu) \in \mathcal{D}} \mu(1) \log \hat P[\sigma^1 \succ \sigma^2]
#   + \mu(2) \log \hat P[\sigma^2 \succ \sigma^1],$$
#
# where $\mu$ is one-hot on the preferred segment, or $(\tfrac12, \tfrac12)$ when the rater finds them equally
# good. The same loss trains the reward models of every later unit, with LM responses in place of segments.
#
# Here we keep only the reward-learning half, on a small gridworld whose **true reward we know**, so that we
# can measure what a real rater never lets us measure: how well $\hat r$ recovers $r$, and how that depends on
# the number of comparisons and on the rater's noise.

# %%
# %load_ext autoreload
# %autoreload 2
import torch

import hhcourse
from hhcourse import config, toy_plots
from hhcourse import toy_preferences as toy
from hhcourse.impl import load

prefs = load("ex01_preferences")  # your exercises/ex01_preferences.py (CI binds the solutions instead)

# %% tags=["parameters"]
QUICK = config.quick_mode()

# %%
SEEDS = 3 if QUICK else 10  # independent label sets per point of the curves
SIZES = [8, 16, 32, 64, 128, 256, 512, 1024] if QUICK else [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
ERROR_RATES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5] if QUICK else [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
N_TRAIN, N_HELD_OUT, LENGTH = 1000, 2000, 6  # comparisons to fit, pairs to test on, steps per segment
print(f"quick mode: {QUICK}   ({SEEDS} seeds per point; HHCOURSE_QUICK=0 runs 10 seeds and wider sweeps)")

# %% [markdown]
# ## 1. A world with a known reward
#
# An 8×8 grid. Each cell $s$ carries a true reward $r(s)$ — hills (blue) and pits (red), standardised to mean 0
# and standard deviation 1 — that the learner never sees. A **segment** is a $k = 6$-step random walk
# $\sigma = (s_0, \dots, s_5)$ from a random start (a wall keeps the walker in place), and its return is
# $R(\sigma) = \sum_t r(s_t)$. The paper's reward depends on an observation and an action, $r(o_t, a_t)$; here
# it depends on the cell only, which is all this task needs.

# %%
world = toy.make_gridworld(height=8, width=8, seed=4)
example = toy.make_comparisons(world, 1, length=LENGTH, seed=3)
toy_plots.segments_figure(world, example.first[0], example.second[0])

# %% [markdown]
# ## 2. A synthetic rater
#
# Our rater answers with the Bradley–Terry model of the *true* reward: it prefers $\sigma^1$ with probability
# $\sigma\big((R^1 - R^2)/\beta\big)$. The temperature $\beta$ sets how often close calls go the "wrong" way
# ($\beta = 1$ is eq. 1 itself; $\beta = 0$ always picks the larger return). Real raters also slip: with
# probability $\varepsilon$ an answer is a coin flip. Christiano et al. assume $\varepsilon = 0.1$ for their
# raters, and pairs within `tie_margin` of each other are answered "equally good", $\mu = (\tfrac12, \tfrac12)$.

# %%
labelled = toy.make_comparisons(world, 8, length=LENGTH, temperature=1.0, error_rate=0.1, tie_margin=0.5, seed=1)
true_1 = toy.returns_of(world.true_reward, labelled.first)
true_2 = toy.returns_of(world.true_reward, labelled.second)
print("   R¹      R²    P[σ¹ ≻ σ²]   μ")
for r1, r2, mu in zip(true_1.tolist(), true_2.tolist(), labelled.mu.tolist(), strict=True):
    print(f"{r1:6.2f}  {r2:6.2f}     {torch.sigmoid(torch.tensor(r1 - r2)):.3f}     {mu}")

# %% [markdown]
# ## 3. Exercise 01: a reward as a preference predictor
#
# Open `exercises/ex01_preferences.py` and write three functions (B pairs, k steps per segment):
#
# * `segment_return(rewards)` — (B, k) per-step rewards $\hat r(s_t)$ → (B,) returns $\hat R(\sigma)$.
# * `preference_probability(return_1, return_2)` — eq. 1. Written as it stands, $\exp \hat R$ overflows for
#   returns above ~88 in float32; rewrite it in terms of the gap $\hat R^1 - \hat R^2$ first.
# * `bt_loss(return_1, return_2, mu)` — the cross-entropy above with μ of shape (B, 2), **averaged** over
#   the pairs. Use `F.logsigmoid`, not `log(sigmoid(·))`: the latter is $\log 0 = -\infty$ for large gaps.
#
# The check runs the same graded tests as `hhcourse grade`, with a hint for each common mistake.

# %%
hhcourse.check("ex01_preferences")

# %% [markdown]
# ## 4. Fit a reward with your loss
#
# The learned reward is a table, one number $\hat r(s)$ per cell, all zero at first (every pair a coin flip).
# `toy.fit_reward` minimises **your** `bt_loss` of **your** `segment_return`s over 1000 labelled pairs with
# Adam, plus a small $\ell_2$ penalty $\lambda \lVert \hat r \rVert^2$ (the paper regularises too). We then test
# $\hat r$ on 2000 fresh pairs: how often does it order them as the true reward does?

# %%
train = toy.make_comparisons(world, N_TRAIN, length=LENGTH, temperature=1.0, error_rate=0.1, seed=0)
held_out = toy.make_comparisons(world, N_HELD_OUT, length=LENGTH, seed=12345)
fit = toy.fit_reward(world, train, loss=prefs.bt_loss, segment_return=prefs.segment_return)
agreement = toy.preference_agreement(fit.reward, world.true_reward, held_out.first, held_out.second)
print(f"training loss: {fit.losses[0]:.3f} (ln 2 at the start) → {fit.losses[-1]:.3f}")
print(f"held-out agreement with the true reward: {agreement:.1%}")
print(f"correlation of r̂ with r over the cells: {toy.reward_correlation(fit.reward, world.true_reward):.3f}")

# %% [markdown]
# Before comparing $\hat r$ with $r$ we **standardise** both (subtract the mean, divide by the standard
# deviation). Every segment has $k$ steps, so adding a constant $c$ to every cell adds $kc$ to both returns and
# changes no prediction: the data cannot tell $\hat r$ from $\hat r + c$. (Section 7 is about the scale.)

# %%
toy_plots.learned_vs_true_figure(world, fit.reward)

# %% [markdown]
# Your `preference_probability` turns the learned reward back into predictions. For a few held-out pairs,
# compare it with the rater's true probability $\sigma(R^1 - R^2)$:

# %%
with torch.no_grad():
    learned_p = prefs.preference_probability(toy.returns_of(fit.reward, held_out.first[:6]),
                                             toy.returns_of(fit.reward, held_out.second[:6]))
true_p = torch.sigmoid(toy.returns_of(world.true_reward, held_out.first[:6])
                       - toy.returns_of(world.true_reward, held_out.second[:6]))
for mine, truth in zip(learned_p.tolist(), true_p.tolist(), strict=True):
    print(f"P̂ = {mine:.3f}   true P = {truth:.3f}")

# %% [markdown]
# ## 5. How many comparisons does it take?
#
# Each point: fresh comparisons (β = 1, ε = 0.1), a fit with your loss, agreement on the held-out pairs; the
# error bars are the standard deviation over seeds. 64 cells means 64 unknowns (63, up to the shift).

# %%
by_size = {n: [toy.trial_agreement(world, held_out, n, seed=seed, loss=prefs.bt_loss,
                                   segment_return=prefs.segment_return, error_rate=0.1) for seed in range(SEEDS)]
           for n in SIZES}
toy_plots.agreement_figure({"your bt_loss": by_size}, x_title="labelled comparisons (log scale)",
                           title="More comparisons, a better reward", log_x=True)

# %% [markdown]
# ## 6. How noisy can the rater be?
#
# Now 256 comparisons each time and a growing rate ε of coin-flip answers. A second line fits the paper's
# error-aware model, $\hat P = \varepsilon/2 + (1 - \varepsilon)\,\sigma(\hat R^1 - \hat R^2)$ with ε = 0.1
# (`toy.robust_bt_cross_entropy`): a confident prediction that meets a random answer then costs at most
# $-\log(\varepsilon/2)$, instead of a loss that grows with the gap and drags $\hat r$ towards the noise.

# %%
losses = {"your bt_loss": prefs.bt_loss, "error-aware loss (ε = 0.1)": toy.robust_bt_cross_entropy}
by_noise = {name: {eps: [toy.trial_agreement(world, held_out, 256, seed=seed, loss=loss,
                                             segment_return=prefs.segment_return, error_rate=eps)
                         for seed in range(SEEDS)] for eps in ERROR_RATES}
            for name, loss in losses.items()}
toy_plots.agreement_figure(by_noise, x_title="rater error rate ε (answers replaced by coin flips)",
                           title="Noisier labels, a worse reward (256 comparisons)")

# %% [markdown]
# Agreement falls steadily with ε but stays well above chance even when half the answers are coin flips:
# random answers carry no signal, yet they do not point the wrong way, so more comparisons make up for them.
# On this task the error-aware loss gains a little, mostly at large ε; with 3 seeds that is within the
# error bars (full mode's 10 seeds narrow them).

# %% [markdown]
# ## 7. What the labels pin down: shift and scale
#
# The shift is never identified (section 4). The **scale** depends on the labels. If the rater is noiseless
# (β = 0), multiplying $\hat r$ by 10 orders every pair the same and only makes the predictions more confident,
# which the loss always rewards when the labels are consistent: the scale is set by the regulariser (and by
# how long we train), not by the data. With β > 0 the labels themselves say how confident to be: once the
# regulariser is weak, $\hat r \approx r / \beta$. The slope of $\hat r$ on $r$ (means removed) shows it,
# for two strengths λ of the $\ell_2$ penalty:

# %%
print("  β      slope with λ = 1e-3   slope with λ = 1e-5   (1/β)")
for beta in (0.0, 1.0, 2.0):
    labels = toy.make_comparisons(world, 2000, length=LENGTH, temperature=beta, seed=7)
    slopes = [toy.reward_scale(toy.fit_reward(world, labels, loss=prefs.bt_loss, l2=l2, steps=500).reward,
                               world.true_reward) for l2 in (1e-3, 1e-5)]
    print(f"{beta:4.1f}        {slopes[0]:6.2f}               {slopes[1]:6.2f}          "
          f"{'∞' if beta == 0 else f'{1 / beta:.2f}'}")

# %% [markdown]
# With β = 0 the slope follows λ; with β = 2 it sits near 1/β = 0.5 for both. (With β = 1 most pairs are so
# far apart that their labels are near certain and push weakly on the scale, so λ = 1e-3 still shrinks it.)
# This is why a reward model's raw numbers mean little across runs: later units normalise rewards (or whiten
# advantages) before an RL step, and compare reward models by accuracy, never by reward values.
#
# ## What quick mode changes
#
# Quick mode (`HHCOURSE_QUICK=1`, the default without a GPU) runs 3 seeds per point and stops the sweeps at
# 1024 comparisons and ε = 0.5. Full mode runs 10 seeds, up to 4096 comparisons and ε = 0.8. The world, the
# fit and every other size are the same, and nothing here needs a GPU: the whole notebook is CPU-sized.
#
# ## What to try
#
# * **Ties.** Label with `tie_margin=1.0` so that close pairs are answered $(\tfrac12, \tfrac12)$. Does
#   agreement change? What does a tie teach the reward (look at the gradient of your loss at μ = ½)?
# * **Ensembles.** The paper fits several predictors, each on a bootstrap resample of the comparisons, and
#   averages their *standardised* rewards. Fit 3 rewards on resamples of `train` (index its `first`,
#   `second`, `mu` with `torch.randint`) and compare the average with a single fit at 64 and 1024 comparisons.
# * **Choosing queries.** The paper asks the rater about the pairs its ensemble disagrees on most (largest
#   variance of $\hat P$ across members). Draw 2000 candidate pairs, label the 100 most disputed, and compare
#   with 100 random ones. (In the paper this helped on some tasks and hurt on others.)
# * **Scale.** Fit with `temperature=3.0` labels and look at `toy.reward_scale`: is it close to 1/3? Add 5 to
#   every cell of `fit.reward` and check that `preference_agreement` does not move.
# * **Credit assignment.** Make segments longer (`length=20`): each comparison says less about each cell.
#   How many comparisons do you now need for 90% agreement?
