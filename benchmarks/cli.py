"""`hhcourse bench NAME`: speed benchmarks run side by side with a peer in the same process."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = {
    "generate": ("benchmarks.generate", "new tokens/s of hhcourse's sampler vs plain model.generate"),
    "rm": ("benchmarks.rm", "reward-model training tokens/s of hhcourse's trainer vs TRL's RewardTrainer"),
    "dpo": ("benchmarks.dpo", "DPO training tokens/s of hhcourse's trainer vs TRL's DPOTrainer"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hhcourse bench", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="; ".join(f"{k}: {v[1]}" for k, v in
                                                                        BENCHMARKS.items()))
    args, rest = parser.parse_known_args(argv)
    return int(importlib.import_module(BENCHMARKS[args.name][0]).main(rest) or 0)
