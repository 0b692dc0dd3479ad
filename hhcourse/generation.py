"""Batched sampling and response log-probabilities — the two things every method in the course needs.

Layouts (CORRECTNESS.md P1): prompts are LEFT-padded for sampling; (prompt, response) pairs are re-packed
RIGHT-padded for scoring and training. Masks always come from lengths and attention masks, never from
`ids != pad_id` — SmolLM2's pad token is its EOS, and the EOS must be scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hhcourse import config

Prompt = "str | list[dict]"  # a user message, or a list of chat messages


@dataclass
class Samples:
    """Responses sampled for a batch of prompts. R = max_new_tokens."""

    prompt_ids: torch.Tensor        # (B, P) left-padded
    prompt_mask: torch.Tensor       # (B, P) 1 on real prompt tokens
    response_ids: torch.Tensor      # (B, R) right-padded with pad_token_id after each response
    response_lengths: torch.Tensor  # (B,) response tokens, the EOS included when it was produced
    ended: torch.Tensor             # (B,) True where the response ended with EOS (else it hit R)
    texts: list[str]                # decoded responses, without the EOS

    @property
    def response_mask(self) -> torch.Tensor:
        return length_mask(self.response_lengths, self.response_ids.shape[1])


@dataclass
class Packed:
    """(prompt, response) pairs packed right-padded: [prompt | response | pad]."""

    input_ids: torch.Tensor         # (B, T)
    attention_mask: torch.Tensor    # (B, T)
    prompt_lengths: torch.Tensor    # (B,)
    response_lengths: torch.Tensor  # (B,)


def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B,) lengths → (B, width) bool mask with the first `lengths[b]` positions true."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


# ------------------------------------------------------------------------------------------- prompts


def to_messages(prompt) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, list) and all(isinstance(m, dict) and {"role", "content"} <= m.keys() for m in prompt):
        return prompt
    raise TypeError(f"a prompt must be a string or a list of {{'role', 'content'}} messages, got {prompt!r:.80}")


def encode_prompts(tokenizer, prompts, max_prompt_tokens: int | None = None):
    """Chat-template each prompt (with the assistant turn opened) and left-pad: → (ids, mask), both (B, P).

    Prompts longer than `max_prompt_tokens` keep their last tokens (the end of the conversation).
    """
    rows = []
    for prompt in prompts:
        ids = tokenizer.apply_chat_template(to_messages(prompt), add_generation_prompt=True, tokenize=True,
                                            return_dict=True)["input_ids"]
        rows.append(ids[-max_prompt_tokens:] if max_prompt_tokens else ids)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row)
        mask[i, width - len(row):] = 1
    return ids, mask


def eos_token_ids(model, tokenizer) -> list[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if i is not None)


# ------------------------------------------------------------------------------------------ sampling


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
    """Temperature, then top-k, then nucleus (top-p) filtering on (B, V) logits, in fp32."""
    logits = logits.float() / temperature
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        outside = probs.cumsum(-1) - probs > top_p  # keep the smallest prefix whose mass reaches top_p
        sorted_logits = sorted_logits.masked_fill(outside, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


@torch.no_grad()
def sample(model, tokenizer, prompts, max_new_tokens: int = 48, temperature: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, seed: int | None = None, batch_size: int | None = None,
           max_prompt_tokens: int | None = None) -> Samples:
    """Sample one response per prompt, stopping each at its EOS. temperature=0 is greedy.

    A lean decode loop over the KV cache: rows that produced EOS leave the batch (their cache rows are
    dropped), so a batch costs what its live rows cost. Seeded runs are reproducible on one device.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens}: must be at least 1")
    if temperature < 0 or not 0 < top_p <= 1 or top_k < 0:
        raise ValueError(f"temperature={temperature}, top_p={top_p}, top_k={top_k}: need temperature ≥ 0, "
                         "0 < top_p ≤ 1, top_k ≥ 0")
    prompts = list(prompts)
    if not prompts:
        raise ValueError("sample() got no prompts")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    step = batch_size or len(prompts)
    parts = [_sample_batch(model, tokenizer, prompts[i:i + step], max_new_tokens, temperature, top_k, top_p,
                           generator, max_prompt_tokens) for i in range(0, len(prompts), step)]
    return parts[0] if len(parts) == 1 else _concat(parts, tokenizer.pad_token_id)


def _sample_batch(model, tokenizer, prompts, max_new_tokens, temperature, top_k, top_p, generator,
                  max_prompt_tokens) -> Samples:
    from transformers import DynamicCache

    device = next(model.parameters()).device
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts, max_prompt_tokens)
    ids, attention = prompt_ids.to(device), prompt_mask.to(device)
    eos = torch.tensor(eos_token_ids(model, tokenizer), device=device)
    batch = ids.shape[0]
    response = torch.full((batch, max_new_tokens), tokenizer.pad_token_id, dtype=torch.long, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    ended = torch.zeros(batch, dtype=torch.bool, device=device)
    live = torch.arange(batch, device=device)  # original row of each row still decoding
    positions = (attention.cumsum(1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    with _autocast(device):
        logits = model(input_ids=ids, attention_mask=attention, position_ids=positions, past_key_values=cache,
                       use_cache=True, logits_to_keep=1).logits[:, -1]
    next_position = positions[:, -1] + 1
    for t in range(max_new_tokens):
        if temperature == 0:
            token = logits.argmax(-1)
        else:
            probs = filter_logits(logits, temperature, top_k, top_p).softmax(-1)
            token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        response[live, t] = token
        lengths[live] += 1
        finished = torch.isin(token, eos)
        ended[live[finished]] = True
        if t == max_new_tokens - 1 or finished.all():
            break
        if finished.any():  # drop finished rows from the batch and the cache
            keep = (~finished).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            live, token, attention, next_position = live[keep], token[keep], attention[keep], next_position[keep]
        attention = torch.cat([attention, attention.new_ones(len(live), 1)], dim=1)
        with _autocast(device):
            logits = model(input_ids=token[:, None], attention_mask=attention, position_ids=next_position[:, None],
                           past_key_values=cache, use_cache=True).logits[:, -1]
        next_position = next_position + 1
    width = int(lengths.max())
    response = response[:, :width].cpu()
    lengths, ended = lengths.cpu(), ended.cpu()
    texts = [tokenizer.decode(response[i, : lengths[i] - int(ended[i])]) for i in range(batch)]
    return Samples(prompt_ids, prompt_mask, response, lengths, ended, texts)


def _concat(parts: list[Samples], pad_id: int) -> Samples:
    def cat(tensors, left: bool):
        width = max(t.shape[1] for t in tensors)
        padded = []
        for t in tensors:
            fill = t.new_full((t.shape[0], width - t.shape[1]), pad_id if t.dtype == torch.long else 0)
            padded.append(torch.cat([fill, t] if left else [t, fill], dim=1))
        return torch.cat(padded)

    prompt_mask = cat([p.prompt_mask for p in parts], left=True)
    prompt_ids = cat([p.prompt_ids for p in parts], left=True)
    return Samples(prompt_ids, prompt_mask, cat([p.response_ids for p in parts], left=False),
                   torch.cat([p.response_lengths for p in parts]), torch.cat([p.ended for p in parts]),
                   [t for p in parts for t in p.texts])


def _autocast(device: torch.device):
    dtype = config.autocast_dtype(device)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


# ----------------------------------------------------------------------------------------- log-probs


def pack(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor,
         response_lengths: torch.Tensor) -> Packed:
    """Re-pack prompts (padded on either side) and responses into right-padded rows [prompt | response | pad]."""
    response_mask = length_mask(response_lengths.to(response_ids.device), response_ids.shape[1])
    tokens = torch.cat([prompt_ids, response_ids], dim=1)
    valid = torch.cat([prompt_mask.bool(), response_mask], dim=1)
    order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)  # real tokens first, order kept
    total = valid.sum(1)
    width = int(total.max())
    input_ids = tokens.gather(1, order)[:, :width]
    attention_mask = length_mask(total, width).long()
    return Packed(input_ids, attention_mask, prompt_mask.sum(1), response_lengths.clone())


def pack_samples(samples: Samples) -> Packed:
    return pack(samples.prompt_ids, samples.prompt_mask, samples.response_ids, samples.response_lengths)


def response_hidden_states(model, packed: Packed, width: int) -> torch.Tensor:
    """Final hidden states at the positions that PREDICT each response token: (B, width, d).

    Response token j of row b sits at position prompt_len + j and is predicted from position
    prompt_len + j − 1. Positions past a row's response are clamped (their outputs get masked).
    """
    device = next(model.parameters()).device
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    ids, attention = packed.input_ids.to(device), packed.attention_mask.to(device)
    positions = torch.arange(ids.shape[1], device=device).expand_as(ids)
    with _autocast(device):
        hidden = base.get_decoder()(input_ids=ids, attention_mask=attention, position_ids=positions,
                                    use_cache=False).last_hidden_state
    index = packed.prompt_lengths.to(device)[:, None] - 1 + torch.arange(width, device=device)[None, :]
    index = index.clamp(max=ids.shape[1] - 1)
    return hidden.gather(1, index[..., None].expand(-1, -1, hidden.shape[-1]))


def logprobs_from_hidden(model, hidden: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0,
                         max_chunk_elements: int = 2**26) -> torch.Tensor:
    """log p(target) from (B, R, d) hidden states through the LM head, in fp32, chunked over rows so the
    (rows, R, V) logits never exceed `max_chunk_elements` floats."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings()
    vocab = head.weight.shape[0]
    rows_per_chunk = max(1, max_chunk_elements // (hidden.shape[1] * vocab))
    out = []
    with torch.autocast(hidden.device.type, enabled=False):
        for start in range(0, hidden.shape[0], rows_per_chunk):
            h = hidden[start:start + rows_per_chunk].float()
            logits = torch.nn.functional.linear(h, head.weight.float(),
                                                None if head.bias is None else head.bias.float())
            if temperature != 1.0:
                logits = logits / temperature
            picked = logits.gather(-1, targets[start:start + rows_per_chunk, :, None]).squeeze(-1)
            out.append(picked - torch.logsumexp(logits, dim=-1))
    return torch.cat(out)


def response_logprobs(model, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor,
                      response_lengths: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-token log π(y_t | x, y_<t) of each response: (B, R) in fp32, exactly 0 past each response.

    Sum over dim 1 for sequence log-probs. Pass the sampling temperature to get the log-probs of the
    distribution that was actually sampled (CORRECTNESS.md P4). Gradients flow when called under grad.
    """
    packed = pack(prompt_ids, prompt_mask, response_ids, response_lengths)
    width = response_ids.shape[1]
    hidden = response_hidden_states(model, packed, width)
    targets = response_ids.to(hidden.device)
    logprobs = logprobs_from_hidden(model, hidden, targets, temperature)
    return logprobs * length_mask(response_lengths.to(hidden.device), width)


def samples_logprobs(model, samples: Samples, temperature: float = 1.0) -> torch.Tensor:
    return response_logprobs(model, samples.prompt_ids, samples.prompt_mask, samples.response_ids,
                             samples.response_lengths, temperature)


class Bf16Linear(torch.nn.Module):
    """A frozen linear layer whose matmul runs in bf16 (AMX / AVX512-BF16 on CPU) and returns the input's
    dtype, so attention, norms and the KV cache stay in fp32 — where bf16 is slow on CPU."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.weight = torch.nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
        bias = linear.bias
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().to(torch.bfloat16), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x.to(torch.bfloat16), self.weight, self.bias).to(x.dtype)


def sampling_copy(model):
    """A frozen copy of `model` for fast sampling, or the model itself where nothing is faster.

    On CUDA the copy is bf16. On a CPU with AMX or AVX512-BF16 only the linear layers (~all the FLOPs) run in
    bf16 and everything else stays fp32, which measured faster here than a full bf16 model (bf16 attention
    and prefill are slow on CPU). LoRA adapters are merged into the copy. Sampling in bf16 is an inference
    shortcut only: the log-probs used for training are recomputed in fp32 by `response_logprobs` on the
    trained weights (CORRECTNESS.md P6). Make a new copy after each optimizer phase.
    """
    import copy

    device = next(model.parameters()).device
    if not config.fast_bf16(device):
        return model
    clone = copy.deepcopy(model)
    if hasattr(clone, "merge_and_unload"):  # peft: fold the adapter into the copied base weights
        clone = clone.merge_and_unload()
    clone = clone.eval().requires_grad_(False)
    if device.type == "cuda":
        return clone.to(torch.bfloat16)
    for module in list(clone.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(module, name, Bf16Linear(child))
    return clone
