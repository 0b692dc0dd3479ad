"""The pipeline's DPO stage: train a LoRA policy on hh-mini, evaluate it, sample it for the judge.

Writes under `out_dir/dpo/`: the checkpoint, the reference-log-prob caches, `history.json` and
`samples.jsonl` (held-out prompts with one reference and one DPO response each, for a reward model to
judge). Returns the metrics that need no reward model:
  dpo.test_accuracy   implicit-reward accuracy on the hh-mini test split (chosen ranked above rejected;
                      quick mode: on 96 of its pairs)
  dpo.test_margin     mean implicit-reward margin β·h on the test split
  dpo.kl              mean over held-out prompts of Σ_t log π(y_t) − log π_ref(y_t), y ~ π (k1, nats/sequence)
  dpo.seconds         wall time of the stage
  dpo.win_rate_vs_ref  only with `reward_model_dir` (the test-half reward model): the fraction of held-out
                      prompts where it scores the DPO response above the reference's
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from hhcourse import config, generation, models
from hhcourse.data import load_hh, load_prompts
from hhcourse.dpo_data import encode_pairs
from hhcourse.dpo_train import DPOConfig, DPOTrainer

# quick: a 2-core CPU in about 20 minutes; full: a GPU. Quick mode caps responses at 64 tokens (a cut response
# loses its EOS) and evaluates a seeded random subset of the test split.
SIZES = {
    True: {"train_pairs": 128, "steps": 16, "batch_size": 8, "max_response_tokens": 64, "test_pairs": 96,
           "prompts": 16, "new_tokens": 48},
    False: {"train_pairs": None, "steps": 384, "batch_size": 16, "max_response_tokens": 256, "test_pairs": None,
            "prompts": 128, "new_tokens": 128},
}

def run_dpo_stage(out_dir, quick: bool | None = None, model_name: str = models.EMBEDDED,
                  reward_model_dir: str | Path | None = None) -> dict:
    started = time.perf_counter()
    quick = config.quick_mode() if quick is None else quick
    sizes = SIZES[quick]
    folder = Path(out_dir) / "dpo"
    folder.mkdir(parents=True, exist_ok=True)
    config.seed_everything(0)
    tokenizer = models.load_tokenizer(model_name)
    model = models.load_model(model_name)

    prompts = held_out_prompts(sizes["prompts"])
    reference_samples = generation.sample(generation.sampling_copy(model), tokenizer, prompts,
                                          sizes["new_tokens"], temperature=1.0, seed=1)

    encode = dict(max_prompt_tokens=256, max_response_tokens=sizes["max_response_tokens"])
    train = seeded_subset(encode_pairs(tokenizer, load_hh("hh-mini", None, "train"), **encode), sizes["train_pairs"])
    test = seeded_subset(encode_pairs(tokenizer, load_hh("hh-mini", None, "test"), **encode), sizes["test_pairs"])

    policy = models.add_lora(model)
    cfg = DPOConfig(steps=sizes["steps"], batch_size=sizes["batch_size"])
    trainer = DPOTrainer(policy, train, tokenizer.pad_token_id, cfg, reference_cache=folder / "ref_train.safetensors")
    trainer.train()
    trainer.save(folder / "checkpoint")
    test_metrics = trainer.evaluate(test, reference_cache=folder / "ref_test.safetensors")

    policy.eval()
    policy_samples = generation.sample(generation.sampling_copy(policy), tokenizer, prompts, sizes["new_tokens"],
                                       temperature=1.0, seed=2)
    kl = sequence_kl(policy, policy_samples)
    write_samples(folder / "samples.jsonl", prompts, reference_samples.texts, policy_samples.texts)
    (folder / "history.json").write_text(json.dumps(trainer.history))
    metrics = {"dpo.test_accuracy": test_metrics["accuracy"], "dpo.test_margin": test_metrics["margin"],
               "dpo.kl": kl, "dpo.train_pairs": len(train), "dpo.test_pairs": len(test)}
    if reward_model_dir is not None:
        from hhcourse import reward

        judge = reward.load_reward_model(reward_model_dir)
        metrics["dpo.win_rate_vs_ref"] = win_rate_vs_ref(folder / "samples.jsonl",
                                                         lambda p, r: reward.score(judge, p, r))
    return {**metrics, "dpo.seconds": time.perf_counter() - started}


def seeded_subset(items: list, n: int | None) -> list:
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(0)).tolist()
    return [items[i] for i in order[:n]]


def held_out_prompts(n: int) -> list[str]:
    """Evaluation prompts the policy never trained on: half everyday requests, half red-team."""
    helpful = load_prompts("helpful", split="eval")["prompt"]
    red_team = load_prompts("red_team", split="eval")["prompt"]
    return list(helpful[: n - n // 2]) + list(red_team[: n // 2])


@torch.no_grad()
def sequence_kl(policy, samples: generation.Samples) -> float:
    """Mean over samples y ~ π of log π(y|x) − log π_ref(y|x), summed over tokens (k1; CORRECTNESS.md §1.3)."""
    policy_logps = generation.samples_logprobs(policy, samples).sum(1)
    with models.reference_mode(policy) as reference:
        reference_logps = generation.samples_logprobs(reference, samples).sum(1)
    return (policy_logps - reference_logps).mean().item()


def write_samples(path: Path, prompts: list[str], reference: list[str], policy: list[str]) -> None:
    with open(path, "w") as handle:
        for prompt, ref_text, policy_text in zip(prompts, reference, policy, strict=True):
            handle.write(json.dumps({"prompt": prompt, "reference": ref_text, "dpo": policy_text}) + "\n")


def win_rate_vs_ref(samples_file: str | Path, score) -> float:
    """Fraction of held-out prompts where `score(prompts, responses) -> (N,) rewards` ranks the DPO response
    above the reference's (ties count one half)."""
    rows = [json.loads(line) for line in Path(samples_file).read_text().splitlines()]
    prompts = [row["prompt"] for row in rows]
    ours = torch.as_tensor(score(prompts, [row["dpo"] for row in rows]), dtype=torch.float32)
    theirs = torch.as_tensor(score(prompts, [row["reference"] for row in rows]), dtype=torch.float32)
    return ((ours > theirs).float() + 0.5 * (ours == theirs).float()).mean().item()
