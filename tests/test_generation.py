"""Sampling and response log-probs on the tiny model: EOS handling, seeding, and padding invariance.

The tiny tokenizer has pad == eos (id 2), like SmolLM2, so every test here also guards the pad/EOS trap.
"""

import pytest
import torch
from fixtures_models import random_batch, tiny_model, tiny_tokenizer

from hhcourse import generation as G
from hhcourse import ops

PROMPTS = ["hello there", "a much longer prompt that needs a lot more left padding than the first", "x"]


def naive_response_logprobs(model, prompt_ids, prompt_mask, response_ids, response_lengths, temperature=1.0):
    """One unpadded forward per row: the slow, obviously-correct reference."""
    out = torch.zeros(response_ids.shape)
    for i in range(len(prompt_ids)):
        prompt = prompt_ids[i][prompt_mask[i].bool()]
        response = response_ids[i, : response_lengths[i]]
        ids = torch.cat([prompt, response])[None]
        mask = torch.zeros_like(ids)
        mask[0, len(prompt):] = 1
        with torch.no_grad():
            logits = model(input_ids=ids).logits
        per_token = ops.next_token_logprobs(logits, ids, temperature)[0, len(prompt) - 1:]
        out[i, : response_lengths[i]] = per_token
    return out


def test_sample_shapes_eos_and_padding():
    model, tok = tiny_model(), tiny_tokenizer()
    s = G.sample(model, tok, PROMPTS * 4, max_new_tokens=40, temperature=1.0, seed=0)
    assert s.response_ids.shape[0] == 12 and s.response_ids.shape[1] <= 40
    assert s.prompt_mask.sum(1).tolist()[:3] == [len(G.encode_prompts(tok, [p])[0][0]) for p in PROMPTS]
    for i in range(12):
        n = int(s.response_lengths[i])
        row = s.response_ids[i]
        if s.ended[i]:
            assert row[n - 1] == tok.eos_token_id and (row[: n - 1] != tok.eos_token_id).all()
        else:
            assert n == 40
        assert (row[n:] == tok.pad_token_id).all()
        assert s.texts[i] == tok.decode(row[: n - int(s.ended[i])])
    assert s.ended.any(), "with 259 tokens and 40 steps, some of 12 random rows should hit EOS"


def test_seeded_sampling_is_reproducible_and_seed_dependent():
    model, tok = tiny_model(), tiny_tokenizer()
    a = G.sample(model, tok, PROMPTS, max_new_tokens=12, seed=3)
    b = G.sample(model, tok, PROMPTS, max_new_tokens=12, seed=3)
    c = G.sample(model, tok, PROMPTS, max_new_tokens=12, seed=4)
    assert torch.equal(a.response_ids, b.response_ids)
    assert not torch.equal(a.response_ids, c.response_ids)


def test_greedy_sampling_matches_unbatched_generate():
    """Left padding and dropped finished rows must not change what a prompt produces."""
    model, tok = tiny_model(), tiny_tokenizer()
    batched = G.sample(model, tok, PROMPTS, max_new_tokens=10, temperature=0)
    for i, prompt in enumerate(PROMPTS):
        ids, mask = G.encode_prompts(tok, [prompt])
        ref = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False,
                             pad_token_id=tok.pad_token_id)[0, ids.shape[1]:]
        n = int(batched.response_lengths[i])
        assert batched.response_ids[i, :n].tolist() == ref[:n].tolist()


def test_batch_size_chunks_give_the_same_result_layout():
    model, tok = tiny_model(), tiny_tokenizer()
    whole = G.sample(model, tok, PROMPTS, max_new_tokens=8, temperature=0)
    chunked = G.sample(model, tok, PROMPTS, max_new_tokens=8, temperature=0, batch_size=2)
    assert whole.texts == chunked.texts
    assert torch.equal(whole.response_lengths, chunked.response_lengths)


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(G.filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(G.filter_logits(logits, top_p=0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(G.filter_logits(logits, top_p=0.81)).tolist() == [[True, True, True, False]]
    torch.testing.assert_close(G.filter_logits(logits, temperature=2.0), logits / 2)


def test_bad_sampling_options_are_clear_errors():
    model, tok = tiny_model(), tiny_tokenizer()
    with pytest.raises(ValueError, match="top_p"):
        G.sample(model, tok, ["hi"], top_p=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        G.sample(model, tok, ["hi"], max_new_tokens=0)
    with pytest.raises(TypeError, match="prompt must be"):
        G.sample(model, tok, [42])


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_response_logprobs_match_one_row_at_a_time(temperature):
    model = tiny_model()
    batch = random_batch(6, seed=1)
    with torch.no_grad():
        fast = G.response_logprobs(model, *batch, temperature=temperature)
    slow = naive_response_logprobs(model, *batch, temperature=temperature)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    assert (fast[~G.length_mask(batch[3], fast.shape[1])] == 0).all()


def test_response_logprobs_are_padding_invariant():
    """Same row: alone, next to a long neighbour, with its prompt left- or right-padded: within 1e-5."""
    model = tiny_model()
    prompt_ids, prompt_mask, response_ids, lengths = random_batch(4, prompt_len=(2, 30), response_len=(1, 20))
    with torch.no_grad():
        together = G.response_logprobs(model, prompt_ids, prompt_mask, response_ids, lengths)
        for i in range(4):
            p = prompt_ids[i][prompt_mask[i].bool()][None]
            alone = G.response_logprobs(model, p, torch.ones_like(p), response_ids[i:i + 1, : lengths[i]],
                                        lengths[i:i + 1])
            right_pad_prompt = torch.cat([p, torch.full((1, 7), 2)], 1)
            right_mask = torch.cat([torch.ones_like(p), torch.zeros(1, 7, dtype=torch.long)], 1)
            right = G.response_logprobs(model, right_pad_prompt, right_mask, response_ids[i:i + 1], lengths[i:i + 1])
            n = int(lengths[i])
            torch.testing.assert_close(alone[0, :n], together[i, :n], atol=1e-5, rtol=0)
            torch.testing.assert_close(right[0, :n], together[i, :n], atol=1e-5, rtol=0)


def test_eos_token_is_scored_even_though_it_is_the_pad_token():
    model, tok = tiny_model(), tiny_tokenizer()
    prompt_ids, prompt_mask = G.encode_prompts(tok, ["hi"])
    response = torch.tensor([[70, 71, tok.eos_token_id, tok.pad_token_id]])
    with torch.no_grad():
        lp = G.response_logprobs(model, prompt_ids, prompt_mask, response, torch.tensor([3]))
    assert lp[0, 2] != 0, "the EOS (id == pad id) must be part of the response log-prob"
    assert lp[0, 3] == 0


def test_response_logprobs_carry_gradients():
    model = tiny_model()
    batch = random_batch(3, seed=2)
    G.response_logprobs(model, *batch).sum().backward()
    assert model.model.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0


def test_sampling_copy_is_frozen_and_faithful():
    model = tiny_model()
    copy = G.sampling_copy(model)
    ids = torch.tensor([[1, 40, 41, 42]])
    with torch.no_grad():
        torch.testing.assert_close(copy(input_ids=ids).logits.float(), model(input_ids=ids).logits,
                                   atol=0.1, rtol=0.05)
    assert not any(p.requires_grad for p in copy.parameters()) or copy is model
