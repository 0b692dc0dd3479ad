"""Run-time settings, all from HHCOURSE_* environment variables so notebooks, CLI and CI agree.

HHCOURSE_QUICK   1/0: quick mode (small sizes, same logic). Default: on when no CUDA GPU is present.
HHCOURSE_DEVICE  cpu | cuda | cuda:N | mps. Default: cuda > mps > cpu.
HHCOURSE_CACHE   where converted models and artifacts live. Default: ~/.cache/hhcourse.
HHCOURSE_IMPL    exercises | solutions | PATH: whose graded functions the notebooks use.
HHCOURSE_SEED    base random seed. Default: 0.
HHCOURSE_THREADS CPU threads for torch. Default: the number of cores torch sees.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _env_flag(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"environment variable {name}={raw!r}: use 1 or 0")


def quick_mode() -> bool:
    """Quick mode shrinks sizes (steps, batch, lengths), never the logic. On by default without a GPU."""
    flag = _env_flag("HHCOURSE_QUICK")
    if flag is not None:
        return flag
    import torch

    return not torch.cuda.is_available()


def device():
    """The torch device to use: HHCOURSE_DEVICE, else cuda > mps > cpu."""
    import torch

    name = os.environ.get("HHCOURSE_DEVICE", "").strip()
    if name:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"HHCOURSE_DEVICE={name} but torch sees no CUDA GPU; unset it or use cpu")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"HHCOURSE_DEVICE={name} but MPS is not available; unset it or use cpu")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(dev=None):
    """bf16 autocast on CUDA; None (plain fp32) elsewhere — bf16 does not pay off on common CPUs."""
    import torch

    dev = dev or device()
    return torch.bfloat16 if torch.device(dev).type == "cuda" else None


def fast_bf16(dev=None) -> bool:
    """True where bf16 matmuls are fast: CUDA, or a CPU with AMX / AVX512-BF16 (not common laptops)."""
    import torch

    dev = torch.device(dev) if dev is not None else device()
    if dev.type == "cuda":
        return True
    if dev.type != "cpu":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def cache_dir() -> Path:
    path = Path(os.environ.get("HHCOURSE_CACHE") or Path.home() / ".cache" / "hhcourse").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def impl_name() -> str:
    return os.environ.get("HHCOURSE_IMPL", "exercises")


def seed_everything(seed: int | None = None) -> int:
    """Seed python, numpy and torch; returns the seed used."""
    import numpy as np
    import torch

    seed = int(os.environ.get("HHCOURSE_SEED", "0")) if seed is None else seed
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def setup_threads() -> int:
    """Use every core torch can see (2 on the course's reference laptop) unless HHCOURSE_THREADS says otherwise."""
    import torch

    wanted = os.environ.get("HHCOURSE_THREADS")
    n = int(wanted) if wanted else max(1, os.cpu_count() or 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
