"""Cross-check: our summed completion log-probs equal TRL 1.16's DPOTrainer.compute_ref_log_probs on the
same batch (recipe: shared/reference/CORRECTNESS.md §2.3), with the tiny pad == eos tokenizer."""

import os

import torch
from fixtures_models import tiny_model, tiny_tokenizer

from hhcourse import generation as G

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_summed_completion_logprobs_equal_trl(tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    tok = tiny_tokenizer()
    policy, ref = tiny_model(seed=0), tiny_model(seed=1)
    data = Dataset.from_dict({
        "prompt": ["What is two plus two?", "Name a colour", "Say something kind to a friend who is sad today"],
        "chosen": [" Four.", " Blue, like the sea.", " I am here for you."],
        "rejected": [" Five, obviously.", " Loud.", " Whatever."],
    })
    args = DPOConfig(output_dir=str(tmp_path), report_to="none", bf16=False, use_cpu=True, beta=0.1,
                     per_device_train_batch_size=3, gradient_checkpointing=False, max_length=None)
    trainer = DPOTrainer(model=policy, ref_model=ref, args=args, train_dataset=data, processing_class=tok)
    rows = [{k: trainer.train_dataset[i][k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for i in range(3)]
    batch = trainer.data_collator(rows)
    trainer.model.eval()
    with torch.no_grad():
        trl_chosen, trl_rejected = trainer.compute_ref_log_probs(trainer.model, dict(batch))

    def ours(key):
        prompts = [torch.tensor(r["prompt_ids"]) for r in rows]
        completions = [torch.tensor(r[key]) for r in rows]
        P, R = max(map(len, prompts)), max(map(len, completions))
        prompt_ids = torch.full((3, P), tok.pad_token_id)
        prompt_mask = torch.zeros((3, P), dtype=torch.long)
        response_ids = torch.full((3, R), tok.pad_token_id)
        for i, (p, c) in enumerate(zip(prompts, completions)):
            prompt_ids[i, P - len(p):], prompt_mask[i, P - len(p):] = p, 1  # left-padded, as sampling gives
            response_ids[i, : len(c)] = c
        lengths = torch.tensor([len(c) for c in completions])
        with torch.no_grad():
            return G.response_logprobs(policy, prompt_ids, prompt_mask, response_ids, lengths).sum(1)

    assert any(r["chosen_ids"][-1] == tok.eos_token_id for r in rows), "TRL appends EOS: it must be scored"
    torch.testing.assert_close(ours("chosen_ids"), trl_chosen.float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours("rejected_ids"), trl_rejected.float(), atol=1e-5, rtol=1e-5)
