"""Shared tiny-model helpers for the tests: in-process, no files, no network."""

from __future__ import annotations

import functools

import torch

from hhcourse import models


@functools.lru_cache(maxsize=None)
def tiny_tokenizer():
    return models.load_tokenizer("tiny")


def tiny_model(seed: int = 0):
    """A fresh tiny random Llama (2 layers, hidden 64) on CPU in fp32."""
    return models.load_model("tiny", device="cpu", seed=seed)


def random_batch(n: int, prompt_len: tuple[int, int] = (3, 12), response_len: tuple[int, int] = (1, 9),
                 vocab: int = 259, seed: int = 0):
    """Random left-padded prompts and right-padded responses with varied lengths: the padding torture case."""
    g = torch.Generator().manual_seed(seed)
    p_lens = torch.randint(prompt_len[0], prompt_len[1] + 1, (n,), generator=g)
    r_lens = torch.randint(response_len[0], response_len[1] + 1, (n,), generator=g)
    P, R = int(p_lens.max()), int(r_lens.max())
    prompt_ids = torch.full((n, P), 2, dtype=torch.long)
    prompt_mask = torch.zeros((n, P), dtype=torch.long)
    response_ids = torch.full((n, R), 2, dtype=torch.long)
    for i in range(n):
        prompt_ids[i, P - p_lens[i]:] = torch.randint(3, vocab, (int(p_lens[i]),), generator=g)
        prompt_mask[i, P - p_lens[i]:] = 1
        response_ids[i, : r_lens[i]] = torch.randint(3, vocab, (int(r_lens[i]),), generator=g)
    return prompt_ids, prompt_mask, response_ids, r_lens
