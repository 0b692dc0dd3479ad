"""Generation throughput: hhcourse's sampler vs plain `model.generate`, same prompts, same settings.

Both sample purely (temperature 1, no top-k/top-p) from the same prompts with the same budget. Throughput
counts *new response tokens* — each row's tokens up to and including its EOS — per second of wall time;
tokens `generate` spends on rows that already finished are its cost, not output. Runs are interleaved
(ours, theirs, ours, ...) after a warm-up so that machine noise hits both; the median is reported.

Variants, so the ratio can be read:
  generate        plain transformers `model.generate` on the fp32 model (what a user gets by default)
  ours            `hhcourse.generation.sample` on `sampling_copy(model)`: the course's sampler as used
                  (bf16 copy where the hardware has fast bf16, else the fp32 model)
  ours_fp32       the course's decode loop alone, on the fp32 model
  generate_copy   `model.generate` on the same bf16 copy (only when the copy is bf16)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from hhcourse import config, generation, models


def bench_prompts(n: int) -> list[str]:
    from hhcourse.data import load_prompts

    prompts = [row["prompt"] for row in load_prompts("helpful", split="eval")]
    return (prompts * (n // len(prompts) + 1))[:n]


def tokens_until_eos(new_ids: torch.Tensor, eos_ids: list[int]) -> int:
    """Count tokens per row up to and including the first EOS (or all of them when there is none)."""
    is_eos = torch.isin(new_ids, torch.tensor(eos_ids))
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1) + 1, torch.full_like(is_eos[:, 0], new_ids.shape[1],
                                                                                   dtype=torch.long))
    return int(first.sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hhcourse bench generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=models.EMBEDDED)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the results here as JSON")
    args = parser.parse_args(argv)

    device = config.device()
    model = models.load_model(args.model, device=device)
    tokenizer = models.load_tokenizer(args.model)
    copy = generation.sampling_copy(model)
    prompts = bench_prompts(args.batch)
    eos = generation.eos_token_ids(model, tokenizer)
    prompt_ids, prompt_mask = generation.encode_prompts(tokenizer, prompts)

    def ours(m):
        def run(seed):
            return int(generation.sample(m, tokenizer, prompts, args.new_tokens, temperature=1.0,
                                         seed=seed).response_lengths.sum())
        return run

    def plain(m):
        def run(seed):
            torch.manual_seed(seed)
            with torch.no_grad():
                out = m.generate(input_ids=prompt_ids.to(device), attention_mask=prompt_mask.to(device),
                                 max_new_tokens=args.new_tokens, do_sample=True, temperature=1.0, top_k=0,
                                 top_p=1.0, pad_token_id=tokenizer.pad_token_id)
            return tokens_until_eos(out[:, prompt_ids.shape[1]:].cpu(), eos)
        return run

    variants = {"generate": plain(model), "ours": ours(copy), "ours_fp32": ours(model)}
    if copy is not model:
        variants["generate_copy"] = plain(copy)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for name, run in variants.items():  # warm-up
        run(0)
    for rep in range(args.repeats):
        for name, run in variants.items():
            started = time.perf_counter()
            tokens = run(rep + 1)
            rates[name].append(tokens / (time.perf_counter() - started))
    median = {name: statistics.median(v) for name, v in rates.items()}
    result = {
        "benchmark": "generate", "model": args.model, "device": str(device), "batch": args.batch,
        "new_tokens": args.new_tokens, "repeats": args.repeats, "sampling_dtype": "float32" if copy is model else "bfloat16 linear layers" if device.type == "cpu" else "bfloat16",
        "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
        "new_tokens_per_s": {k: round(v, 1) for k, v in median.items()},
        "runs_tokens_per_s": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "ratio_ours_vs_generate": round(median["ours"] / median["generate"], 2),
        "ratio_loop_only_fp32": round(median["ours_fp32"] / median["generate"], 2),
    }
    if "generate_copy" in median:
        result["ratio_ours_vs_generate_same_dtype"] = round(median["ours"] / median["generate_copy"], 2)
    print(f"generation, batch {args.batch}, {args.new_tokens} new tokens, {device}, "
          f"{result['threads']} threads, sampling dtype {result['sampling_dtype']}")
    for name, rate in median.items():
        print(f"  {name:<14} {rate:8.1f} new tok/s   runs {result['runs_tokens_per_s'][name]}")
    for key in [k for k in result if k.startswith("ratio")]:
        print(f"  {key:<36} {result[key]:.2f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return 0
