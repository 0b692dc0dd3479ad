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
# # 08 · Direct Preference Optimization and its family
#
# **Rafailov et al. 2023, *Direct Preference Optimization: Your Language Model is Secretly a Reward Model*.**
# RLHF (units 03–05) fits a reward model to preferences, then runs PPO to maximise that reward while a KL
# penalty keeps the policy near the reference $\pi_\text{ref}$:
#
# $$\max_\pi\; \mathbb{E}_{x,\, y\sim\pi}\big[r(x,y)\big] - \beta\, \mathrm{KL}\big(\pi(\cdot|x)\,\|\,\pi_\text{ref}(\cdot|x)\big).$$
#
# DPO notices that this objective has a closed-form optimum, and changes variables in three lines:
#
# 1. The optimum is $\pi^*(y|x) = \frac{1}{Z(x)}\,\pi_\text{ref}(y|x)\,e^{r(x,y)/\beta}$ (eq. 4).
# 2. Solve for the reward: $r(x,y) = \beta \log\frac{\pi^*(y|x)}{\pi_\text{ref}(y|x)} + \beta\log Z(x)$ (eq. 5).
# 3. Put it into the Bradley–Terry model of unit 03, $p(y_c \succ y_r) = \sigma(r_c - r_r)$: the intractable
#    $\beta \log Z(x)$ is the same for both responses and **cancels**, leaving a loss on the policy alone (eq. 7):
#
# $$\mathcal{L}_\text{DPO} = -\log\sigma(\beta h),\qquad
#   h = \Big[\log\pi(y_c|x) - \log\pi_\text{ref}(y_c|x)\Big] - \Big[\log\pi(y_r|x) - \log\pi_\text{ref}(y_r|x)\Big].$$
#
# No reward model, no sampling, no value function: a classification loss on the preference pairs. The
# policy *is* the reward model: $\hat r(x,y) = \beta\log\frac{\pi(y|x)}{\pi_\text{ref}(y|x)}$ is its
# **implicit reward**, and whether it ranks the chosen response first on held-out pairs is the first thing
# to watch. Each $\log\pi(y|x)$ is a **sum** over the response tokens, EOS included (unit 00).

# %%
# %load_ext autoreload
# %autoreload 2
import functools
import math
import tempfile
import time

import torch

import hhcourse
from hhcourse import config, dpo_data, dpo_plots, dpo_train, models
from hhcourse.data import load_hh
from hhcourse.impl import load

ex = load("ex08_dpo")  # your exercises/ex08_dpo.py (CI binds the solutions instead)

# %% tags=["parameters"]
QUICK = config.quick_mode()

# %%
# quick: a 2-core CPU in ~3 minutes; full: a GPU. Same code, smaller sizes.
TRAIN_PAIRS, EVAL_PAIRS = (16, 16) if QUICK else (1024, 305)
STEPS, BATCH = (4, 4) if QUICK else (256, 16)
VARIANT_STEPS = 2 if QUICK else 128  # for the IPO and cDPO runs
MAX_RESPONSE_TOKENS = 48 if QUICK else None  # quick mode cuts long responses (a cut response has no EOS)
BETA = 0.1
print(f"quick mode: {QUICK}: {TRAIN_PAIRS} training pairs, {STEPS} steps of {BATCH} pairs, "
      f"{EVAL_PAIRS} held-out pairs")
started = time.perf_counter()

# %% [markdown]
# ## 1. Preference pairs from hh-mini, as tokens
#
# Each hh comparison becomes (prompt, chosen, rejected): the shared conversation is chat-templated with the
# assistant turn opened, exactly as when sampling; each response is its tokens plus `<|im_end|>`, the EOS,
# which is scored (the model learns where to stop). SmolLM2 pads with that same token, so every mask comes
# from lengths.

# %%
tokenizer = models.load_tokenizer()
encode = dict(max_prompt_tokens=96 if QUICK else None, max_response_tokens=MAX_RESPONSE_TOKENS)
train_all = dpo_data.encode_pairs(tokenizer, load_hh("hh-mini", None, "train"), **encode)
test_all = dpo_data.encode_pairs(tokenizer, load_hh("hh-mini", None, "test"), **encode)
pick = torch.Generator().manual_seed(0)
train_pairs = [train_all[i] for i in torch.randperm(len(train_all), generator=pick)[:TRAIN_PAIRS].tolist()]
test_pairs = [test_all[i] for i in torch.randperm(len(test_all), generator=pick)[:EVAL_PAIRS].tolist()]
pair = train_pairs[0]
print(f"{len(train_all)} training pairs, {len(test_all)} test pairs; the first one:\n")
print("PROMPT (end):", repr(tokenizer.decode(pair.prompt_ids[-24:])))
print("CHOSEN:     ", repr(tokenizer.decode(pair.chosen_ids)))
print("REJECTED:   ", repr(tokenizer.decode(pair.rejected_ids)))

# %% [markdown]
# ## 2. Exercise 08: the DPO loss, from token log-probs to implicit rewards
#
# Open `exercises/ex08_dpo.py` and write:
#
# * `concatenated_logps`: DPO runs chosen and rejected rows through the model in **one** forward (rows
#   `[chosen…; rejected…]`); sum each row's response-token log-probs and split the two halves.
# * `implicit_rewards`: $\beta(\log\pi - \log\pi_\text{ref})$.
# * `dpo_loss`: eq. 7, with cDPO's label smoothing (below).
# * `ipo_loss`: IPO's squared loss (below).
#
# The hints name the classic mistakes: wrong sign, a forgotten β, the mean instead of the sum of token
# log-probs, chosen and rejected swapped, the reference terms flipped.

# %%
hhcourse.check("ex08_dpo")

# %% [markdown]
# ## 3. Step 0: the loss is ln 2
#
# The policy is a LoRA adapter on SmolLM2; the reference is the same model with the adapter switched off
# (one copy of the weights). LoRA starts as an exact no-op, so at step 0 the policy *is* the reference,
# $h = 0$ for every pair, and the loss is $-\log\sigma(0) = \ln 2 \approx 0.6931$ whatever the data. The
# trainer computes the reference log-probs **once**, before training, and caches them.

# %%
cache = tempfile.mkdtemp(prefix="hhcourse-dpo-")


def new_policy():
    torch.manual_seed(0)  # the same LoRA initialisation for every run below
    return models.add_lora(models.load_model())


def trainer_for(loss_fn, steps, beta=BETA, pairs=None, **kwargs):
    cfg = dpo_train.DPOConfig(beta=beta, steps=steps, batch_size=min(BATCH, len(pairs or train_pairs)))
    return dpo_train.DPOTrainer(new_policy(), pairs or train_pairs, tokenizer.pad_token_id, cfg, loss_fn=loss_fn,
                                reference_cache=f"{cache}/ref_{len(pairs or train_pairs)}.safetensors", **kwargs)


live = dpo_plots.LivePlot(title="DPO on hh-mini, with your dpo_loss")
trainer = trainer_for(ex.dpo_loss, STEPS, on_step=live)
first = dpo_data.collate(train_pairs[:BATCH], list(range(BATCH)), tokenizer.pad_token_id)
with torch.no_grad():
    chosen, rejected = dpo_data.sequence_logps(trainer.policy, first)
step0 = ex.dpo_loss(chosen, rejected, trainer.ref_chosen[:BATCH], trainer.ref_rejected[:BATCH], BETA)
print(f"step-0 loss with your dpo_loss: {step0.item():.4f}   (ln 2 = {math.log(2):.4f})")

# %% [markdown]
# ## 4. Train on the real model, with your loss
#
# `DPOTrainer(..., loss_fn=ex.dpo_loss)` calls *your* function at every step. The dashboard updates live:
# the loss, the implicit-reward accuracy of each batch *before* the update on it (so it is a held-out
# number), the implicit rewards of both sides and their margin, and how far the log-probs of chosen and
# rejected responses have moved from the reference.

# %%
history = trainer.train()
print(f"{sum(h['tokens'] for h in history)} tokens in {sum(h['seconds'] for h in history):.0f} s; "
      f"last loss {history[-1]['loss']:.3f}")

# %% [markdown]
# Now the implicit reward on held-out pairs from the test split: does $\beta\log\frac{\pi}{\pi_\text{ref}}$
# rank the chosen response above the rejected one? (Before training it ties every pair: accuracy 0 with a
# strict comparison, as in TRL's `rewards/accuracies`.)

# %%
held_out = trainer.evaluate(test_pairs, reference_cache=f"{cache}/ref_test.safetensors")
print(f"held-out implicit-reward accuracy {held_out['accuracy']:.1%} on {len(test_pairs)} pairs, "
      f"mean margin {held_out['margin']:+.3f}")
print(f"drift of log π − log π_ref: chosen {held_out['chosen_logp_drift']:+.2f} nats, "
      f"rejected {held_out['rejected_logp_drift']:+.2f} nats")

# %% [markdown]
# ### "The chosen log-prob goes down"
#
# Look at the drift panel above, and at the two drifts just printed. A common surprise (TRL #800;
# eric-mitchell/direct-preference-optimization #8, #32) is that **both** log-probs can fall, the chosen
# one included, while the loss improves. Nothing is wrong: DPO only constrains the *difference* $h$. The
# gradient is $-\beta\,\sigma(-\beta h)\,[\nabla\log\pi(y_c) - \nabla\log\pi(y_r)]$, and the cheapest way to
# widen the gap is often to lower both, the rejected one faster. Responses written by someone else (as
# hh's are) are unlikely under the policy to begin with, and probability mass freed from them goes to
# responses that are in neither set. The KL term only holds this back through β. If you need the
# chosen likelihood kept up, add an SFT term on the chosen responses, or use a loss that stops pushing
# (IPO, next).

# %% [markdown]
# ## 5. The family: DPO, IPO, cDPO
#
# * **cDPO** (Mitchell 2023): if a fraction ε of labels are flipped, train on the soft target:
#   $-(1-\varepsilon)\log\sigma(\beta h) - \varepsilon\log\sigma(-\beta h)$. The loss now has a minimum at a
#   finite $h$, so it stops pushing once a pair is won confidently.
# * **IPO** (Azar et al. 2023): DPO's $-\log\sigma$ keeps pushing $h\to\infty$ on pairs it already wins,
#   which, with deterministic preferences, drives $\pi(y_r)\to 0$ whatever β says. IPO regresses $h$ onto
#   a fixed target instead: $(h - \tfrac{1}{2\beta})^2$ (eq. 17).
#   Here $h$ uses summed log-probs, as Azar et al. write it; TRL divides each log-ratio by the response
#   length first (see `hhcourse/dpo.py`).
#
# The shapes say it all: how hard each loss pushes on the margin.

# %%
dpo_plots.loss_shapes_figure(BETA, label_smoothing=0.2)

# %% [markdown]
# Now train each one from the same start on the same batches (your `ipo_loss`, and your `dpo_loss` with
# ε = 0.2), and compare the margins they reach.

# %%
runs = {"DPO": history[:VARIANT_STEPS] if QUICK else history}
for name, loss_fn in [("IPO", ex.ipo_loss), ("cDPO ε=0.2", functools.partial(ex.dpo_loss, label_smoothing=0.2))]:
    runs[name] = trainer_for(loss_fn, VARIANT_STEPS).train()
dpo_plots.compare_runs_figure(runs, "margin")

# %% [markdown]
# In quick mode these runs are a few steps long: read the direction, not the numbers. In full mode
# (`HHCOURSE_QUICK=0` on a GPU: 1024 pairs, 128 steps each) the loss shapes predict what to look for:
# DPO's margin keeps growing, IPO's is pulled toward $h = \tfrac{1}{2\beta}$ (a reward margin
# $\beta h = 0.5$), and cDPO's levels off where its loss has its minimum.

# %% [markdown]
# ## 6. The 0.6931 bug
#
# A classic report (TRL #1311, #1627): "my DPO loss is stuck at 0.6931 and the rewards are 0". The loss
# is $\ln 2$ exactly when $\beta h = 0$ at every step, which happens for two reasons. Both are reproduced
# here, with your `dpo_loss`, on two steps each.
#
# **β = 0.** The policy drops out of the loss: constant $\ln 2$, zero gradient, nothing trains.

# %%
bug_pairs = train_pairs[:2]
stuck = trainer_for(ex.dpo_loss, 2, beta=0.0, pairs=bug_pairs).train()
print("β = 0:            losses", [round(h["loss"], 4) for h in stuck], " grad norms",
      [round(h["grad_norm"], 4) for h in stuck])


# %% [markdown]
# **The reference is the policy.** If the "reference" log-probs are recomputed from the policy itself
# (the adapter was not disabled, or the reference model *is* the policy object), $h = 0$ at every step.
# Worse than β = 0: the gradient is *not* zero, so the model moves while the loss keeps reading 0.6931.
# The trainer's drift metrics, measured against the true cached reference, show it.

# %%
def reference_is_policy(pc, pr, rc, rr, beta):  # the bug: the policy's own log-probs as the reference
    return ex.dpo_loss(pc, pr, pc.detach(), pr.detach(), beta)


moving = trainer_for(reference_is_policy, 2, pairs=bug_pairs).train()
print("reference = policy: losses", [round(h["loss"], 4) for h in moving], " true drift of log π(chosen)",
      [round(h["chosen_logp_drift"], 3) for h in moving])

# %% [markdown]
# ## 7. DPO vs PPO
#
# > **When unit 05 lands** (PPO with a KL penalty is not in the course yet): train PPO against the unit 03
# > reward model from the same SFT start, then compare the two policies on the held-out prompts: win rate
# > judged by the test-half reward model, KL to the reference, and response length. A cell here will load
# > unit 05's policy; until then there is nothing to compare, so nothing is shown.
#
# `hhcourse pipeline --stages dpo` writes the DPO side of that comparison: implicit-reward accuracy on the
# whole test split, the KL to the reference on held-out prompts, and samples for the judge.

# %%
print(f"notebook ran in {time.perf_counter() - started:.0f} s (quick mode: {QUICK})")

# %% [markdown]
# ### What changes in full mode
# All 1024 training pairs, full-length responses (with their EOS), 256 steps of 16 pairs, the whole test
# split, and 128-step IPO and cDPO runs. On a GPU the forward runs in bf16 autocast; log-probs stay fp32.
#
# ### What to try
# * Raise β to 0.5: the implicit rewards grow faster, and the policy stays closer to the reference?
#   Check the drift panel.
# * Train with `dpo_train.DPOConfig(loss_type="hinge")` and no `loss_fn` (the library's losses).
# * Soft labels from an AI labeler (unit 07): pass `label_smoothing=1 - p` per pair, where p is the
#   labeler's probability that `chosen` is better (`hhcourse.dpo.dpo_loss` takes a tensor).
# * Per-token IPO as in TRL: divide each summed log-prob by its response length before calling
#   `ex.ipo_loss`. Why does β = 0.1 then ask for a far larger change than the summed form?
