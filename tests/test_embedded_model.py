"""Integration: the real embedded SmolLM2-135M-Instruct loads from the shipped GGUF (via the safetensors
cache), samples a chat reply, and scores it — EOS included, although pad == eos."""

import json

import pytest
import torch

from hhcourse import generation, models

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm():
    return models.load_model(), models.load_tokenizer()


def test_cache_holds_a_verified_safetensors_copy(smollm):
    directory = models.embedded_model_dir()
    meta = json.loads((directory / "hhcourse.json").read_text())
    assert meta["sha256"] == models.GGUF_SHA256
    assert (directory / "model.safetensors").stat().st_size > 100e6


def test_tokenizer_has_the_pad_equals_eos_trap(smollm):
    _, tok = smollm
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id == tok.eos_token_id == 2


def test_generates_a_reply_and_scores_it_including_the_eos(smollm):
    model, tok = smollm
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    samples = generation.sample(model, tok, ["What is the capital of France? Answer in one word.",
                                             "Say hello."], max_new_tokens=24, temperature=0, seed=0)
    assert "paris" in samples.texts[0].lower()
    assert samples.ended.any(), "greedy answers to these short prompts end with <|im_end|>"
    with torch.no_grad():
        per_token = generation.samples_logprobs(model, samples)
    row = int(samples.ended.nonzero()[0])
    n = int(samples.response_lengths[row])
    assert samples.response_ids[row, n - 1] == tok.eos_token_id
    assert per_token[row, n - 1] < 0 and per_token[row, n - 1] > -5, "a greedy EOS is likely, and scored"
    assert torch.all(per_token[:, :][~samples.response_mask] == 0)
