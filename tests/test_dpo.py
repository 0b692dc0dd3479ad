"""Library tests for the DPO family (hhcourse/dpo.py) and its trainer (hhcourse/dpo_train.py, dpo_data.py)
on the tiny in-process model: closed forms, formulas written out independently, and training behaviour."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from fixtures_models import tiny_model, tiny_tokenizer

from hhcourse import dpo, dpo_data, dpo_train, models
from hhcourse.data import load_hh


def logps(seed: int, n: int = 6):
    g = torch.Generator().manual_seed(seed)
    return tuple(-10 * torch.rand(n, generator=g) for _ in range(4))


# ---------------------------------------------------------------------------------------------- losses

@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_step0_invariants(beta):
    pc, pr, _, _ = logps(0)
    out = dpo.dpo_loss(pc, pr, pc, pr, beta)
    assert out.loss.item() == pytest.approx(math.log(2), abs=1e-7)
    assert torch.equal(out.chosen_rewards, torch.zeros(6)) and dpo.reward_accuracy(out.chosen_rewards,
                                                                                     out.rejected_rewards) == 0
    assert dpo.dpo_loss(pc, pr, pc, pr, beta, "ipo").loss.item() == pytest.approx(1 / (4 * beta**2), rel=1e-6)
    assert dpo.dpo_loss(pc, pr, pc, pr, beta, "hinge").loss.item() == pytest.approx(1.0)


def test_loss_formulas():
    pc, pr, rc, rr = logps(1)
    h = (pc - rc) - (pr - rr)
    b, e = 0.2, 0.15
    expected = {
        ("sigmoid", 0.0): -F.logsigmoid(b * h),
        ("sigmoid", e): -(1 - e) * F.logsigmoid(b * h) - e * F.logsigmoid(-b * h),
        ("robust", e): (-(1 - e) * F.logsigmoid(b * h) + e * F.logsigmoid(-b * h)) / (1 - 2 * e),
        ("hinge", 0.0): torch.clamp(1 - b * h, min=0),
        ("ipo", 0.0): (h - 1 / (2 * b)) ** 2,
    }
    for (loss_type, eps), losses in expected.items():
        out = dpo.dpo_loss(pc, pr, rc, rr, b, loss_type, eps, return_losses=True)
        torch.testing.assert_close(out.losses, losses)
        torch.testing.assert_close(out.loss, losses.mean())
    torch.testing.assert_close(out.chosen_rewards, b * (pc - rc))
    assert dpo.dpo_loss(pc, pr, rc, rr, b).losses is None


def test_soft_labels_are_cross_entropy_with_the_labeler():
    pc, pr, rc, rr = logps(2)
    prob_chosen = torch.tensor([1.0, 0.9, 0.5, 0.7, 0.2, 0.6])  # an AI labeler's P(chosen is better)
    out = dpo.dpo_loss(pc, pr, rc, rr, 0.1, label_smoothing=1 - prob_chosen, return_losses=True)
    p_model = torch.sigmoid(0.1 * ((pc - rc) - (pr - rr)))
    cross_entropy = -(prob_chosen * p_model.log() + (1 - prob_chosen) * (1 - p_model).log())
    torch.testing.assert_close(out.losses, cross_entropy)


def test_gradient_pushes_chosen_up_and_rejected_down():
    pc, pr, rc, rr = (t.clone().requires_grad_(True) for t in logps(3))
    for loss_type in ("sigmoid", "hinge", "robust"):
        pc.grad = pr.grad = None
        dpo.dpo_loss(pc, pr, rc, rr, 0.1, loss_type).loss.backward()
        assert (pc.grad <= 0).all() and (pr.grad >= 0).all() and pc.grad.abs().sum() > 0, loss_type


def test_ipo_pulls_the_margin_back_to_its_target():
    """Unlike DPO, IPO stops at h = 1/(2β): a pair already past the target is pushed back."""
    pc, pr, rc, rr = (t.clone().requires_grad_(True) for t in logps(3))
    dpo.dpo_loss(pc, pr, rc, rr, 0.1, "ipo").loss.backward()
    past_target = ((pc - rc) - (pr - rr)).detach() > 1 / (2 * 0.1)
    assert past_target.any() and (~past_target).any()
    assert (pc.grad[past_target] > 0).all() and (pc.grad[~past_target] < 0).all()


def test_bad_arguments_are_named():
    args = logps(4)
    with pytest.raises(ValueError, match="beta"):
        dpo.dpo_loss(*args, beta=0.0)
    with pytest.raises(ValueError, match="loss_type"):
        dpo.dpo_loss(*args, beta=0.1, loss_type="simpo")
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo.dpo_loss(*args, beta=0.1, loss_type="robust", label_smoothing=0.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo.dpo_loss(*args, beta=0.1, loss_type="ipo", label_smoothing=0.1)


# -------------------------------------------------------------------------------------------- data

@pytest.fixture(scope="module")
def pairs():
    return dpo_data.encode_pairs(tiny_tokenizer(), load_hh("hh-mini", None, "train")[:24], max_response_tokens=40)


def test_pairs_end_with_a_scored_eos(pairs):
    tok = tiny_tokenizer()
    whole = dpo_data.encode_pairs(tok, load_hh("hh-mini", None, "train")[:4])
    assert all(p.chosen_ids[-1] == p.rejected_ids[-1] == tok.eos_token_id for p in whole)
    assert all(len(p.chosen_ids) == 40 and p.chosen_ids[-1] != tok.eos_token_id for p in pairs[:4]), \
        "a cut response has no EOS"
    opened = tok.apply_chat_template([{"role": "user", "content": "x"}], add_generation_prompt=True, tokenize=True,
                                     return_dict=True)["input_ids"]
    assert all(p.prompt_ids[-3:] == tuple(opened[-3:]) for p in pairs), "the assistant turn must be open"
    batch = dpo_data.collate(pairs[:3], [0, 1, 2], tok.pad_token_id)
    assert batch.response_ids.shape[0] == 6
    assert batch.response_lengths.tolist() == [len(p.chosen_ids) for p in pairs[:3]] + \
        [len(p.rejected_ids) for p in pairs[:3]]
    assert batch.tokens == sum(p.tokens for p in pairs[:3])


def test_concatenated_forward_equals_separate_forwards(pairs):
    model, pad = tiny_model(), tiny_tokenizer().pad_token_id
    batch = dpo_data.collate(pairs[:4], list(range(4)), pad)
    with torch.no_grad():
        chosen, rejected = dpo_data.sequence_logps(model, batch)
        for i in range(4):
            alone_c, alone_r = dpo_data.sequence_logps(model, dpo_data.collate([pairs[i]], [i], pad))
            torch.testing.assert_close(chosen[i:i + 1], alone_c, atol=1e-4, rtol=1e-5)
            torch.testing.assert_close(rejected[i:i + 1], alone_r, atol=1e-4, rtol=1e-5)


def test_length_buckets_cover_every_pair_once_and_group_lengths(pairs):
    batches = dpo_data.length_buckets(pairs, 4, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(len(pairs)))
    spread = sum(max(pairs[i].tokens for i in b) - min(pairs[i].tokens for i in b) for b in batches)
    random_spread = sum(max(pairs[i].tokens for i in b) - min(pairs[i].tokens for i in b)
                        for b in [list(range(k, k + 4)) for k in range(0, len(pairs), 4)])
    assert spread < random_spread
    assert batches != dpo_data.length_buckets(pairs, 4, seed=1)


# ----------------------------------------------------------------------------------------- trainer

def make_trainer(pairs, steps=4, **kwargs):
    torch.manual_seed(0)  # the LoRA A matrices are drawn at random
    policy = models.add_lora(tiny_model(), r=4)
    cfg = dpo_train.DPOConfig(steps=steps, batch_size=4, learning_rate=5e-3, eval_batch_size=8)
    return dpo_train.DPOTrainer(policy, pairs, tiny_tokenizer().pad_token_id, cfg, **kwargs)


def test_cached_reference_is_the_adapter_free_base(pairs, tmp_path):
    trainer = make_trainer(pairs[:8], reference_cache=tmp_path / "ref.safetensors")
    base = tiny_model()  # same seed: the LoRA's frozen base
    with torch.no_grad():
        chosen, rejected = dpo_data.sequence_logps(base, dpo_data.collate(pairs[:8], list(range(8)), 2))
    torch.testing.assert_close(trainer.ref_chosen, chosen, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(trainer.ref_rejected, rejected, atol=1e-4, rtol=1e-5)
    trainer.train()  # the adapter moves; the cache must still give the reference, not the policy
    again = trainer.reference_logps(pairs[:8], tmp_path / "ref.safetensors")
    torch.testing.assert_close(again[0], trainer.ref_chosen)
    recomputed = trainer.reference_logps(pairs[:8])
    torch.testing.assert_close(recomputed[0], trainer.ref_chosen, atol=1e-4, rtol=1e-5)


def test_training_raises_the_margin_with_a_student_loss(pairs):
    calls = []

    def student_loss(pc, pr, rc, rr, beta):  # a plain function, as a student writes it
        calls.append(1)
        return -F.logsigmoid(beta * ((pc - rc) - (pr - rr))).mean()

    trainer = make_trainer(pairs[:8], steps=12, loss_fn=student_loss)
    before = {n: p.clone() for n, p in trainer.policy.named_parameters() if p.requires_grad}
    history = trainer.train()
    assert len(calls) == 12 and history[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert all(not torch.equal(before[n], p) for n, p in trainer.policy.named_parameters() if p.requires_grad)
    metrics = trainer.evaluate(pairs[:8])
    assert metrics["margin"] > 0.05 and metrics["accuracy"] > 0.5
    assert history[-1]["loss"] < history[0]["loss"]


def test_resume_continues_exactly(pairs, tmp_path):
    straight = make_trainer(pairs[:12], steps=6)
    straight.train()
    first = make_trainer(pairs[:12], steps=6)
    first.train(steps=3)
    first.save(tmp_path / "ckpt")
    resumed = make_trainer(pairs[:12], steps=6).load(tmp_path / "ckpt")
    resumed.train()
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in straight.history], abs=1e-6)
    for (name, a), b in zip(straight.policy.named_parameters(), resumed.policy.parameters(), strict=True):
        if a.requires_grad:
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


def test_stuck_loss_when_policy_cannot_move(pairs):
    """The 0.6931 bug: a reference identical to the policy at every step (here: the policy itself, no adapter
    change possible) keeps h = 0, so the loss never leaves ln 2."""
    policy = models.add_lora(tiny_model(), r=4)
    cfg = dpo_train.DPOConfig(steps=3, batch_size=4, learning_rate=5e-3)
    trainer = dpo_train.DPOTrainer(policy, pairs[:8], 2, cfg, ref_model=policy)

    def live_reference_loss(pc, pr, rc, rr, beta):  # the bug: reference log-probs taken from the policy itself
        return dpo.dpo_loss(pc, pr, pc.detach(), pr.detach(), beta).loss

    trainer.loss_fn = live_reference_loss
    assert all(h["loss"] == pytest.approx(math.log(2), abs=1e-6) for h in trainer.train())
