"""Graded tests for exercise 0 (solutions/ex00_basics.py): masked_mean, next_token_logprobs, sequence_logprob.

The oracle is the library (`hhcourse.ops`); closed-form and property cases pin what the oracle alone
cannot (padding ignored, the EOS counted). Hints name the common mistakes.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hhcourse import ops
from hhcourse.grading.hints import assert_close, negated, not_finite

# (prompt length, response length) per row; the response's last token is the EOS, then padding.
LAYOUT = [(2, 3), (3, 5), (4, 1), (2, 7)]
T, V, EOS = 10, 13, 0
SIGN = "wrong sign: log-probabilities are ≤ 0 (did you negate, as for a loss?)"


def batch(seed: int, scale: float = 2.0):
    """Random logits and token ids with prompt | response … EOS | padding rows (pad id = EOS id, as in SmolLM2)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(LAYOUT), T, V, generator=g) * scale
    input_ids = torch.randint(1, V, (len(LAYOUT), T), generator=g)
    response_mask = torch.zeros(len(LAYOUT), T, dtype=torch.bool)
    for row, (prompt, length) in enumerate(LAYOUT):
        response_mask[row, prompt:prompt + length] = True
        input_ids[row, prompt + length - 1:] = EOS
    return logits, input_ids, response_mask


def picked(logp: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


# masked_mean ------------------------------------------------------------------------------------------

def masked_mean_mistakes(values, mask):
    m = mask.float()
    row_counts = m.sum(1)
    row_means = (values * m).sum(1)[row_counts > 0] / row_counts[row_counts > 0]
    return [
        (values.mean(), "you averaged every position: padding counts too. Use only the values where mask is true"),
        ((values * m).sum() / values.numel(),
         "you divided by all B·T positions: divide by the number of real tokens, mask.sum()"),
        ((values * m).sum(), "you returned the masked sum: divide it by the number of real tokens, mask.sum()"),
        (row_means.mean(), "you averaged each row, then the rows: every real token must weigh the same, "
                           "so divide the total by the total count"),
        (negated, "wrong sign: a mean keeps the sign of the values"),
    ]


@pytest.mark.points(2)
def test_masked_mean_matches_library(impl):
    for seed in range(4):
        g = torch.Generator().manual_seed(seed)
        values = torch.randn(4, 9, generator=g)
        mask = torch.rand(4, 9, generator=g) < 0.6
        for mask_as in (mask, mask.float()):
            assert_close(impl.masked_mean(values, mask_as), ops.masked_mean(values, mask_as),
                         what="masked_mean", mistakes=masked_mean_mistakes(values, mask))


@pytest.mark.points(1)
def test_masked_mean_closed_form(impl):
    values = torch.tensor([[1.0, 2.0, 3.0, 1e6], [4.0, 1e6, 1e6, 1e6]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    assert_close(impl.masked_mean(values, mask), torch.tensor(2.5), what="masked_mean([[1,2,3,pad],[4,pad,pad,pad]])",
                 mistakes=masked_mean_mistakes(values, mask))
    assert_close(impl.masked_mean(values, torch.zeros_like(mask)), torch.tensor(0.0),
                 what="masked_mean with nothing selected",
                 mistakes=[(not_finite, "0/0 = nan: with no real tokens return 0 (e.g. count.clamp(min=1))")])


@pytest.mark.points(1)
def test_masked_mean_gradient_flows_to_real_tokens_only(impl):
    values = torch.randn(3, 5, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    out = impl.masked_mean(values, mask)
    assert isinstance(out, torch.Tensor) and out.dim() == 0, \
        "masked_mean must return a 0-dim tensor (no .item(), no Python float): losses are built from it"
    out.backward()
    assert values.grad is not None, "no gradient reached `values`: keep the computation in torch"
    assert_close(values.grad, mask.float() / mask.sum(), what="d masked_mean / d values",
                 mistakes=[(torch.full_like(values, 1 / values.numel()),
                            "every position gets gradient: padding must not influence the mean"),
                           (mask.float() / values.numel(),
                            "you divided by all B·T positions: divide by the number of real tokens, mask.sum()")])


# next_token_logprobs ----------------------------------------------------------------------------------

def next_token_mistakes(logits, input_ids):
    logp = F.log_softmax(logits.float(), dim=-1)
    shift = "the logits at position t predict the NEXT token: pair logits[:, :-1] with input_ids[:, 1:]"
    return [
        (picked(logp, input_ids), f"no shift, and one value too many per row: {shift}"),
        (picked(logp[:, :-1], input_ids[:, :-1]), f"no shift: {shift}"),
        (picked(logp[:, 1:], input_ids[:, :-1]), f"shifted the wrong way: {shift}"),
        (lambda a, e: tuple(a.shape) == tuple(input_ids.shape),
         f"returned (B, T): there are T−1 predictions per row; {shift}"),
        (negated, SIGN),
        (picked(logp[:, :-1], input_ids[:, 1:]).exp(), "these are probabilities: return their log (log_softmax)"),
        (picked(logits.float()[:, :-1], input_ids[:, 1:]),
         "these are raw logits: normalise over the vocabulary with log_softmax first"),
        (picked(F.log_softmax(logits.float(), dim=1)[:, :-1], input_ids[:, 1:]),
         "normalised over the wrong dimension: the vocabulary is the last one (dim=-1)"),
        (not_finite, "got -inf or nan: log(softmax(x)) underflows for tiny probabilities; use F.log_softmax"),
    ]


@pytest.mark.points(2)
def test_next_token_logprobs_matches_library(impl):
    for seed in range(3):
        logits, input_ids, _ = batch(seed)
        assert_close(impl.next_token_logprobs(logits, input_ids), ops.next_token_logprobs(logits, input_ids),
                     what="next_token_logprobs", mistakes=next_token_mistakes(logits, input_ids), rtol=1e-4)


@pytest.mark.points(1)
def test_next_token_logprobs_uniform_logits(impl):
    logits, input_ids, _ = batch(0)
    logits = torch.zeros_like(logits)
    assert_close(impl.next_token_logprobs(logits, input_ids), torch.full((len(LAYOUT), T - 1), -math.log(V)),
                 what="next_token_logprobs with all-zero logits (uniform over V tokens: log 1/V)",
                 mistakes=next_token_mistakes(logits, input_ids))


@pytest.mark.points(1)
def test_next_token_logprobs_extreme_logits(impl):
    logits, input_ids, _ = batch(1, scale=300.0)
    input_ids[:, 1:] = logits[:, :-1].argmin(-1)  # the least likely token comes next: p ≈ e^-1000
    expected = ops.next_token_logprobs(logits, input_ids)
    assert_close(impl.next_token_logprobs(logits, input_ids), expected, what="next_token_logprobs with logits ±1000",
                 mistakes=next_token_mistakes(logits, input_ids), rtol=1e-4)


@pytest.mark.points(1)
def test_next_token_logprobs_in_fp32(impl):
    logits, input_ids, _ = batch(2, scale=4.0)
    logits = logits.bfloat16()
    actual = impl.next_token_logprobs(logits, input_ids)
    assert actual.dtype == torch.float32, \
        f"returned {actual.dtype}: compute in fp32, call .float() on the logits before log_softmax"
    in_bf16 = picked(F.log_softmax(logits[:, :-1], dim=-1), input_ids[:, 1:]).float()
    assert_close(actual, ops.next_token_logprobs(logits, input_ids), what="next_token_logprobs on bf16 logits",
                 mistakes=[(in_bf16, "computed in bf16, then cast: call .float() on the logits *before* log_softmax"),
                           *next_token_mistakes(logits, input_ids)], rtol=1e-4)


# sequence_logprob -------------------------------------------------------------------------------------

PER_TOKEN = "returned one value per token: sum over the time dimension, one number per row"


def sequence_mistakes(logits, input_ids, response_mask):
    per_token = ops.next_token_logprobs(logits, input_ids)  # (B, T-1): log p(x_{t+1} | x_≤t)
    unshifted = picked(F.log_softmax(logits.float(), dim=-1), input_ids)  # log p(x_t | x_≤t): no shift
    without_eos = response_mask.clone()
    for row, (prompt, length) in enumerate(LAYOUT):
        without_eos[row, prompt + length - 1] = False
    expected = ops.sequence_logprob(logits, input_ids, response_mask)
    return [
        (lambda a, e: a.dim() == 2, PER_TOKEN),
        (per_token.sum(1), "summed over every position: only response tokens count (multiply by the response mask)"),
        (expected / response_mask.sum(1), "averaged over the response tokens: a sequence's log-prob is their sum"),
        (negated, SIGN),
        (ops.masked_sum(per_token, response_mask[:, :-1], dim=1),
         "off by one: response_mask marks tokens of input_ids, and token t is predicted by the logits at t−1, "
         "so shift the mask with the log-probs (response_mask[:, 1:]); yours drops the EOS and counts the last "
         "prompt token"),
        (ops.masked_sum(unshifted, response_mask, dim=1),
         "no shift: the logits at position t predict token t+1, not token t"),
        (ops.sequence_logprob(logits, input_ids, without_eos),
         "the EOS is missing: it is a response token (the model must learn to stop)"),
    ]


@pytest.mark.points(2)
def test_sequence_logprob_matches_library(impl):
    for seed in range(3):
        logits, input_ids, response_mask = batch(seed)
        assert_close(impl.sequence_logprob(logits, input_ids, response_mask),
                     ops.sequence_logprob(logits, input_ids, response_mask), what="sequence_logprob",
                     mistakes=sequence_mistakes(logits, input_ids, response_mask), rtol=1e-4)


@pytest.mark.points(2)
def test_sequence_logprob_counts_exactly_the_response_tokens(impl):
    logits, input_ids, response_mask = batch(3)
    base = impl.sequence_logprob(logits, input_ids, response_mask).detach()
    assert base.shape == (len(LAYOUT),), f"sequence_logprob returned shape {tuple(base.shape)}: {PER_TOKEN}"

    def changes(row: int, position: int) -> bool:
        """Does raising the logit that predicts token position+1 of this row change the row's result?"""
        bumped = logits.clone()
        bumped[row, position, input_ids[row, position + 1]] += 3.0
        return not torch.isclose(impl.sequence_logprob(bumped, input_ids, response_mask)[row], base[row])

    for row, (prompt, length) in enumerate(LAYOUT):
        eos = prompt + length - 1
        assert changes(row, prompt - 1), (
            "the first response token does not count: it is predicted by the logits at the last prompt position")
        assert changes(row, eos - 1), (
            "the EOS does not count: it is a response token, predicted by the logits just before it")
        assert not changes(row, prompt - 2), "the last prompt token counts: only response tokens do (off by one?)"
        if eos + 1 < T:
            assert not changes(row, eos), "a padding token after the EOS counts: the response ends at the EOS"


@pytest.mark.points(1)
def test_sequence_logprob_uniform_logits(impl):
    logits, input_ids, response_mask = batch(4)
    logits = torch.zeros_like(logits)
    counts = response_mask.sum(1).float()
    log_v = math.log(V)
    assert_close(impl.sequence_logprob(logits, input_ids, response_mask), -counts * log_v,
                 what="sequence_logprob with uniform logits (−n_response · log V)",
                 mistakes=[(lambda a, e: a.dim() == 2, PER_TOKEN),
                           (torch.full_like(counts, -log_v), "averaged: a sequence's log-prob is the sum"),
                           (-(counts - 1) * log_v, "one token short per row: is the EOS (or the first response "
                                                   "token) missing?"),
                           (-(counts + 1) * log_v, "one token too many per row: is the last prompt token counted?"),
                           (torch.full_like(counts, -(T - 1) * log_v), "summed over every position: use the mask"),
                           (negated, SIGN)])
