"""DPO training throughput: hhcourse's `DPOTrainer` vs TRL 1.16's `DPOTrainer`, same model, data, batches.

Both train the same LoRA (peft; r=16 on every linear layer of SmolLM2-135M-Instruct, same initial weights)
in fp32 on the same batches of hh-mini pairs (the same token ids: TRL's collator is fed our ids), with AdamW
at the same learning rate. Throughput counts every non-pad token of the chosen and rejected rows, the prompt
once per row, per second of wall time. One warm-up step each, then the median step time.

What differs — the point of the comparison:
  * reference: TRL (default `precompute_ref_log_probs=False`) runs the adapter-free model on every step;
    hhcourse computes the reference log-probs once before training. `ours_end_to_end` charges that pass
    to the run (one pass over the benchmark's pairs = one epoch), `ours_steady` does not.
  * logits: TRL's fused LM head vs hhcourse running the LM head only at response positions, in chunks.
  * TRL's `training_step` does no gradient clipping; hhcourse's step clips to norm 1.0 (a small extra cost).
Both see the same (unbucketed) batches, so length bucketing, which helps hhcourse in real training, is
not counted here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import torch

from hhcourse import config, models
from hhcourse.data import load_hh
from hhcourse.dpo_data import collate, encode_pairs
from hhcourse.dpo_train import DPOConfig, DPOTrainer


def lora_policy(model_name: str):
    torch.manual_seed(0)  # the same LoRA A matrices for both trainers
    return models.add_lora(models.load_model(model_name))


def trl_trainer(model_name: str, tokenizer, lr: float, batch: int, out_dir: str):
    from datasets import Dataset
    from trl import DPOConfig as TRLConfig
    from trl import DPOTrainer as TRLTrainer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = TRLConfig(output_dir=out_dir, report_to="none", bf16=False, use_cpu=True, beta=0.1, learning_rate=lr,
                     per_device_train_batch_size=batch, gradient_checkpointing=False, max_length=None,
                     max_grad_norm=1.0, lr_scheduler_type="constant")
    dummy = Dataset.from_dict({"prompt": ["hi"], "chosen": [" a"], "rejected": [" b"]})  # batches are ours
    policy = lora_policy(model_name)
    base = policy.get_base_model()
    # The embedded model was dequantised from a GGUF into fp32 weights, but its config still names the GGUF
    # quantizer, which makes HF's Trainer refuse to train. Nothing is quantized: clear the stale marker.
    base.is_quantized, base.hf_quantizer = False, None
    trainer = TRLTrainer(model=policy, args=args, train_dataset=dummy, processing_class=tokenizer)
    trainer.create_optimizer()
    trainer.current_gradient_accumulation_steps = 1  # normally set by Trainer.train()'s loop
    return trainer


def timed(fn, steps: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + steps):
        started = time.perf_counter()
        fn(i)
        if i >= warmup:
            times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hhcourse bench dpo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=models.EMBEDDED)
    parser.add_argument("--batch", type=int, default=8, help="pairs per step")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per trainer (after --warmup)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--max-response-tokens", type=int, default=64)
    parser.add_argument("--json", help="write the results here as JSON")
    args = parser.parse_args(argv)
    if config.device().type != "cpu":
        print("note: this benchmark is defined on CPU in fp32; running on", config.device())

    tokenizer = models.load_tokenizer(args.model)
    pairs = encode_pairs(tokenizer, load_hh("hh-mini", None, "train"), max_prompt_tokens=128,
                         max_response_tokens=args.max_response_tokens)
    n_batches = args.warmup + args.steps
    pairs = pairs[: n_batches * args.batch]
    batches = [list(range(i, i + args.batch)) for i in range(0, len(pairs), args.batch)]
    tokens = [sum(pairs[i].tokens for i in b) for b in batches]
    lr = 5e-4

    started = time.perf_counter()
    ours = DPOTrainer(lora_policy(args.model), pairs, tokenizer.pad_token_id,
                      DPOConfig(learning_rate=lr, warmup_steps=1, batch_size=args.batch))
    reference_seconds = time.perf_counter() - started
    ours_times = timed(lambda i: ours.step(collate([pairs[j] for j in batches[i]], batches[i],
                                                   tokenizer.pad_token_id)), args.steps, args.warmup)

    with tempfile.TemporaryDirectory() as out_dir:
        trl = trl_trainer(args.model, tokenizer, lr, args.batch, out_dir)

        def trl_step(i):
            rows = [{"prompt_ids": list(pairs[j].prompt_ids), "chosen_ids": list(pairs[j].chosen_ids),
                     "rejected_ids": list(pairs[j].rejected_ids)} for j in batches[i]]
            trl.training_step(trl.model, dict(trl.data_collator(rows)))
            trl.optimizer.step()
            trl.optimizer.zero_grad()

        trl_times = timed(trl_step, args.steps, args.warmup)

    timed_tokens = statistics.median(tokens[args.warmup:])
    ours_steady = timed_tokens / statistics.median(ours_times)
    trl_rate = timed_tokens / statistics.median(trl_times)
    # one epoch over the benchmark's pairs: every step's time plus the one reference pass
    ours_end_to_end = sum(tokens) / (reference_seconds + statistics.median(ours_times) * len(batches))
    result = {
        "model": args.model, "device": str(config.device()), "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "batch_pairs": args.batch,
        "tokens_per_step": tokens, "steps_timed": args.steps,
        "trl_seconds_per_step": trl_times, "ours_seconds_per_step": ours_times,
        "ours_reference_pass_seconds": reference_seconds,
        "tokens_per_s": {"trl": trl_rate, "ours_steady": ours_steady, "ours_end_to_end": ours_end_to_end},
        "ratio_end_to_end": ours_end_to_end / trl_rate, "ratio_steady": ours_steady / trl_rate,
    }
    print(f"DPO training, {args.batch} pairs/step, fp32, {result['threads']} threads, median of {args.steps}:")
    print(f"  TRL DPOTrainer        {trl_rate:8.1f} tok/s  ({statistics.median(trl_times):.1f} s/step)")
    print(f"  hhcourse (steady)     {ours_steady:8.1f} tok/s  ({statistics.median(ours_times):.1f} s/step)")
    print(f"  hhcourse (end to end) {ours_end_to_end:8.1f} tok/s  (reference pass {reference_seconds:.1f} s)")
    print(f"  ratio vs TRL: {result['ratio_end_to_end']:.2f}x end to end, {result['ratio_steady']:.2f}x steady")
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return 0
