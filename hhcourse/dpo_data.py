"""Preference pairs for DPO: tokenised (prompt, chosen, rejected), length buckets, and padded batches.

A prompt is chat-templated with the assistant turn opened (as `generation.encode_prompts` does for
sampling); each response is its own tokens plus the EOS, so the model is trained on where to stop. The
pad token is the EOS: masks come from lengths only (CORRECTNESS.md §0.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hhcourse.data import comparison_to_trl
from hhcourse.errors import DataError


@dataclass(frozen=True)
class Pair:
    prompt_ids: tuple[int, ...]
    chosen_ids: tuple[int, ...]    # response tokens + EOS
    rejected_ids: tuple[int, ...]

    @property
    def tokens(self) -> int:
        """Non-pad tokens of the concatenated forward: the prompt appears once per side."""
        return 2 * len(self.prompt_ids) + len(self.chosen_ids) + len(self.rejected_ids)


@dataclass
class PairBatch:
    prompt_ids: torch.Tensor        # (B, P) left-padded
    prompt_mask: torch.Tensor       # (B, P)
    response_ids: torch.Tensor      # (2B, R) right-padded, rows [chosen …; rejected …]
    response_lengths: torch.Tensor  # (2B,)
    index: torch.Tensor             # (B,) position of each pair in its dataset
    tokens: int                     # non-pad tokens, chosen and rejected rows together


def encode_pairs(tokenizer, dataset, max_prompt_tokens: int | None = None,
                 max_response_tokens: int | None = None) -> list[Pair]:
    """hh comparisons (columns `chosen`, `rejected`: full transcripts) → `Pair`s.

    The prompt is the shared conversation (the common-prefix rule of `split_comparison`). Pairs whose two
    sides differ before the final assistant turn are skipped. A response longer than `max_response_tokens`
    is cut and then has no EOS; a long prompt keeps its end.
    """
    eos = tokenizer.eos_token_id
    pairs = []
    for row, (chosen, rejected) in enumerate(zip(dataset["chosen"], dataset["rejected"], strict=True)):
        try:
            trl_row = comparison_to_trl(chosen, rejected)
        except DataError as err:
            raise DataError(err.reason, field=f"comparison {row}, {err.field}", hint=err.hint) from err
        if len(trl_row["chosen"]) != 1 or len(trl_row["rejected"]) != 1:
            continue
        prompt = tokenizer.apply_chat_template(trl_row["prompt"], add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
        if max_prompt_tokens:
            prompt = prompt[-max_prompt_tokens:]
        sides = []
        for messages in (trl_row["chosen"], trl_row["rejected"]):
            ids = tokenizer(messages[0]["content"], add_special_tokens=False)["input_ids"] + [eos]
            sides.append(tuple(ids[:max_response_tokens] if max_response_tokens else ids))
        pairs.append(Pair(tuple(prompt), *sides))
    return pairs


def collate(pairs: list[Pair], index: list[int], pad_id: int) -> PairBatch:
    """Left-pad the prompts, right-pad the responses, chosen rows first then rejected (TRL's layout)."""
    width = max(len(p.prompt_ids) for p in pairs)
    prompt_ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    prompt_mask = torch.zeros((len(pairs), width), dtype=torch.long)
    responses = [p.chosen_ids for p in pairs] + [p.rejected_ids for p in pairs]
    response_ids = torch.full((len(responses), max(map(len, responses))), pad_id, dtype=torch.long)
    for i, pair in enumerate(pairs):
        prompt_ids[i, width - len(pair.prompt_ids):] = torch.tensor(pair.prompt_ids)
        prompt_mask[i, width - len(pair.prompt_ids):] = 1
    for i, ids in enumerate(responses):
        response_ids[i, : len(ids)] = torch.tensor(ids)
    lengths = torch.tensor([len(r) for r in responses])
    return PairBatch(prompt_ids, prompt_mask, response_ids, lengths, torch.tensor(index),
                     sum(p.tokens for p in pairs))


def length_buckets(pairs: list[Pair], batch_size: int, seed: int) -> list[list[int]]:
    """Batches of pairs of similar length (less padding), in a seeded random order.

    Pairs are shuffled, then stably sorted by length, so equal-length pairs still mix between epochs.
    """
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(pairs), generator=g).tolist()
    order.sort(key=lambda i: pairs[i].tokens)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    shuffled = torch.randperm(len(batches), generator=g).tolist()
    return [batches[i] for i in shuffled]


def sequence_logps(model, batch: PairBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed fp32 completion log-probs (B,), (B,) of chosen and rejected, in ONE forward over 2B rows.

    The LM head runs only where a response token is predicted (`generation.response_logprobs`).
    """
    from hhcourse.generation import response_logprobs

    per_token = response_logprobs(model, batch.prompt_ids.repeat(2, 1), batch.prompt_mask.repeat(2, 1),
                                  batch.response_ids, batch.response_lengths)
    return per_token.sum(1).chunk(2)
