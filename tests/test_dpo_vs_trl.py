"""Cross-check: hhcourse's DPO losses equal TRL 1.16's `DPOTrainer.compute_loss` on the same batch
(recipe: shared/reference/CORRECTNESS.md §2.3), with the tiny pad == eos model and tokenizer.

Our side tokenises nothing: it takes TRL's own prompt / chosen / rejected ids, packs them its own way
(left-padded prompts, responses scored by `generation.response_logprobs`) and applies `hhcourse.dpo`.
"""

import os

import pytest
import torch
from fixtures_models import tiny_model, tiny_tokenizer

from hhcourse import dpo
from hhcourse.dpo_data import Pair, collate, sequence_logps

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BETA, EPS = 0.1, 0.1


@pytest.fixture(scope="module")
def trl_setup(tmp_path_factory):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    tok = tiny_tokenizer()
    policy, ref = tiny_model(seed=0), tiny_model(seed=1)  # different weights: nonzero log-ratios
    data = Dataset.from_dict({
        "prompt": ["What is two plus two?", "Name a colour", "Say something kind to a friend who is sad today"],
        "chosen": [" Four.", " Blue, like the sea.", " I am here for you."],
        "rejected": [" Five, obviously.", " Loud.", " Whatever, cheer up I guess."],
    })
    args = DPOConfig(output_dir=str(tmp_path_factory.mktemp("trl")), report_to="none", bf16=False, use_cpu=True,
                     beta=BETA, per_device_train_batch_size=3, gradient_checkpointing=False, max_length=None)
    trainer = DPOTrainer(model=policy, ref_model=ref, args=args, train_dataset=data, processing_class=tok)
    rows = [{k: trainer.train_dataset[i][k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for i in range(3)]
    pairs = [Pair(tuple(r["prompt_ids"]), tuple(r["chosen_ids"]), tuple(r["rejected_ids"])) for r in rows]
    assert all(p.chosen_ids[-1] == tok.eos_token_id for p in pairs), "TRL appends the EOS: it must be scored"
    trainer.model.eval()
    return trainer, rows, pairs, policy, ref


def ours_logps(model, pairs):
    with torch.no_grad():
        return sequence_logps(model, collate(pairs, list(range(len(pairs))), tiny_tokenizer().pad_token_id))


def trl_loss(trainer, rows, loss_type, ref_chosen=None, ref_rejected=None, label_smoothing=0.0):
    trainer.loss_types, trainer.loss_weights = [loss_type], [1.0]
    trainer.beta, trainer.label_smoothing = BETA, label_smoothing
    trainer.precompute_ref_logps = ref_chosen is not None
    if ref_chosen is not None:
        rows = [{**r, "ref_chosen_logps": float(c), "ref_rejected_logps": float(j)}
                for r, c, j in zip(rows, ref_chosen, ref_rejected, strict=True)]
    with torch.no_grad():
        return trainer.compute_loss(trainer.model, dict(trainer.data_collator(rows))).float()


def test_sigmoid_loss_with_trls_reference_model(trl_setup):
    trainer, rows, pairs, policy, ref = trl_setup
    ours = dpo.dpo_loss(*ours_logps(policy, pairs), *ours_logps(ref, pairs), BETA).loss
    torch.testing.assert_close(ours, trl_loss(trainer, rows, "sigmoid"), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "robust", "ipo"])
def test_loss_types_with_injected_reference_logps(trl_setup, loss_type):
    trainer, rows, pairs, policy, _ = trl_setup
    g = torch.Generator().manual_seed(1)
    ref_chosen, ref_rejected = -10 * torch.rand(3, generator=g), -10 * torch.rand(3, generator=g)
    eps = EPS if loss_type == "robust" else 0.0
    expected = trl_loss(trainer, rows, loss_type, ref_chosen, ref_rejected, eps)
    chosen, rejected = ours_logps(policy, pairs)
    if loss_type == "ipo":  # TRL's IPO averages each log-ratio over the completion tokens (hhcourse/dpo.py)
        chosen_len = torch.tensor([len(p.chosen_ids) for p in pairs], dtype=torch.float32)
        rejected_len = torch.tensor([len(p.rejected_ids) for p in pairs], dtype=torch.float32)
        args = (chosen / chosen_len, rejected / rejected_len, ref_chosen / chosen_len, ref_rejected / rejected_len)
    else:
        args = (chosen, rejected, ref_chosen, ref_rejected)
    ours = dpo.dpo_loss(*args, BETA, loss_type=loss_type, label_smoothing=eps).loss
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    if loss_type == "ipo":  # and the summed form (our default convention) is a different number here
        summed = dpo.dpo_loss(chosen, rejected, ref_chosen, ref_rejected, BETA, loss_type="ipo").loss
        assert not torch.isclose(summed, expected, atol=1e-3)


def test_step0_matches_trl_at_policy_equal_reference(trl_setup):
    trainer, rows, pairs, policy, _ = trl_setup
    chosen, rejected = ours_logps(policy, pairs)
    assert trl_loss(trainer, rows, "sigmoid", chosen, rejected).item() == pytest.approx(0.693147, abs=1e-5)
    assert trl_loss(trainer, rows, "ipo", chosen, rejected).item() == pytest.approx(1 / (4 * BETA**2), rel=1e-5)
    assert dpo.dpo_loss(chosen, rejected, chosen, rejected, BETA).loss.item() == pytest.approx(0.693147, abs=1e-6)
