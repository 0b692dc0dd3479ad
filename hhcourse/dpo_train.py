"""DPO training: a LoRA policy against its own base, with cached reference log-probs.

What makes it fast on a CPU (and cheap on a GPU), each a known cost of the usual recipe (ANCHORS.md §4.4):
  * reference log-probs are computed once, before training, with the LoRA adapter disabled, and cached
    (in memory, in the checkpoint, and optionally in a file) — no reference forward during training;
  * one forward over [chosen; rejected] rows per step (CORRECTNESS.md §2.1 pitfall 6);
  * the LM head runs only at response positions, in fp32 chunks — no (B, T, V) logits;
  * length-bucketed batches, so little compute goes to padding.

The loss is an argument: `DPOTrainer(..., loss_fn=my_dpo_loss)` trains the real model with a student's
function `(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta) -> loss` (a tensor, or a tuple
whose first element is the loss). Checkpoints are safetensors + JSON and resume exactly on one device.
`accelerate` places the model and runs backward and clipping; precision follows `config` (bf16 autocast
on CUDA with fp32 log-probs, fp32 on CPU). One process only, for now.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from hhcourse import config, dpo
from hhcourse.dpo_data import Pair, collate, length_buckets, sequence_logps
from hhcourse.models import reference_mode


@dataclass
class DPOConfig:
    beta: float = 0.1               # KL strength β (Rafailov et al. use 0.1)
    loss_type: str = "sigmoid"      # used when no loss_fn is given: sigmoid | ipo | hinge | robust
    label_smoothing: float = 0.0    # cDPO / robust ε
    learning_rate: float = 5e-4     # LoRA adapters tolerate far larger steps than full fine-tuning (1e-6)
    warmup_steps: int = 2           # linear warm-up, then constant
    batch_size: int = 8             # pairs per step (2× rows in the forward)
    steps: int = 50
    max_grad_norm: float = 1.0
    seed: int = 0
    eval_batch_size: int = 16


class DPOTrainer:
    """Train `policy` (a peft LoRA model; or any model, with a separate frozen `ref_model`) on `pairs`."""

    def __init__(self, policy, pairs: list[Pair], pad_id: int, cfg: DPOConfig | None = None,
                 loss_fn: Callable | None = None, ref_model=None, reference_cache: str | Path | None = None,
                 on_step: Callable[[dict], None] | None = None):
        from accelerate import Accelerator

        if not pairs:
            raise ValueError("DPOTrainer got no preference pairs")
        self.cfg = cfg or DPOConfig()
        self.pairs, self.pad_id, self.on_step, self.ref_model = pairs, pad_id, on_step, ref_model
        self.loss_fn = loss_fn or functools.partial(dpo.dpo_loss, loss_type=self.cfg.loss_type,
                                                    label_smoothing=self.cfg.label_smoothing)
        self.accelerator = Accelerator(cpu=config.device().type == "cpu")
        if self.accelerator.num_processes > 1:  # the decoder is called directly, which DDP's hooks would miss
            raise NotImplementedError("DPOTrainer runs in one process; launch it without `accelerate launch`")
        trainable = [p for p in policy.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError("the policy has no trainable parameters: wrap it with models.add_lora first")
        optimizer = torch.optim.AdamW(trainable, lr=self.cfg.learning_rate, weight_decay=0.0)
        self.policy, self.optimizer = self.accelerator.prepare(policy, optimizer)
        self.step_count, self.history = 0, []
        self.ref_chosen, self.ref_rejected = self.reference_logps(pairs, reference_cache)

    # ------------------------------------------------------------------------------------- reference

    @torch.no_grad()
    def reference_logps(self, pairs: list[Pair], cache: str | Path | None = None):
        """Summed reference log-probs of each pair's two sides, from `cache` when it holds these pairs."""
        key = _fingerprint(self.ref_model if self.ref_model is not None else self.policy, pairs,
                           frozen_only=self.ref_model is None)
        if cache is not None and Path(cache).is_file():
            from safetensors.torch import load_file

            stored = load_file(str(cache))
            if stored["key"].tolist() == list(key):
                return stored["chosen"], stored["rejected"]
        chosen, rejected = self._all_logps(pairs, self._ref_forward)
        if cache is not None:
            from safetensors.torch import save_file

            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            save_file({"chosen": chosen, "rejected": rejected, "key": torch.tensor(list(key), dtype=torch.uint8)},
                      str(cache))
        return chosen, rejected

    def _all_logps(self, pairs: list[Pair], forward) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` over every pair in length-sorted batches (little padding), returned in the pairs' order."""
        order = sorted(range(len(pairs)), key=lambda i: pairs[i].tokens)
        chosen, rejected = torch.empty(len(pairs)), torch.empty(len(pairs))
        for start in range(0, len(order), self.cfg.eval_batch_size):
            index = order[start:start + self.cfg.eval_batch_size]
            c, r = forward(collate([pairs[i] for i in index], index, self.pad_id))
            chosen[index], rejected[index] = c.float().cpu(), r.float().cpu()
        return chosen, rejected

    def _policy_forward(self, batch):
        self.policy.eval()
        return sequence_logps(self.policy, batch)

    def _ref_forward(self, batch):
        self.policy.eval()
        if self.ref_model is not None:
            return sequence_logps(self.ref_model, batch)
        with reference_mode(self.accelerator.unwrap_model(self.policy)) as ref:
            return sequence_logps(ref, batch)

    # -------------------------------------------------------------------------------------- training

    def batches(self, epoch: int) -> list[list[int]]:
        return length_buckets(self.pairs, self.cfg.batch_size, self.cfg.seed + epoch)

    def train(self, steps: int | None = None) -> list[dict]:
        """Run until `steps` optimizer steps in total (default cfg.steps); returns the per-step metrics."""
        target = self.cfg.steps if steps is None else steps
        per_epoch = math.ceil(len(self.pairs) / self.cfg.batch_size)
        while self.step_count < target:
            epoch, position = divmod(self.step_count, per_epoch)
            index = self.batches(epoch)[position]
            self.history.append(self.step(collate([self.pairs[i] for i in index], index, self.pad_id)))
            if self.on_step is not None:
                self.on_step(self.history[-1])
        return self.history

    def step(self, batch) -> dict:
        started = time.perf_counter()
        self.policy.train()
        lr = self.cfg.learning_rate * min(1.0, (self.step_count + 1) / max(1, self.cfg.warmup_steps))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        chosen, rejected = sequence_logps(self.policy, batch)
        ref_c, ref_r = self.ref_chosen[batch.index].to(chosen.device), self.ref_rejected[batch.index].to(chosen.device)
        loss = _as_loss(self.loss_fn(chosen, rejected, ref_c, ref_r, self.cfg.beta))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"step {self.step_count}: the loss is {loss.item()}; lower the learning rate")
        self.optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        grad_norm = self.accelerator.clip_grad_norm_(
            [p for p in self.policy.parameters() if p.requires_grad], self.cfg.max_grad_norm)
        self.optimizer.step()
        self.step_count += 1
        seconds = time.perf_counter() - started
        return {"step": self.step_count, "loss": loss.item(), "lr": lr, "grad_norm": float(grad_norm),
                **pair_metrics(chosen.detach(), rejected.detach(), ref_c, ref_r, self.cfg.beta),
                "tokens": batch.tokens, "seconds": seconds, "tokens_per_s": batch.tokens / seconds}

    # ------------------------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def evaluate(self, pairs: list[Pair], reference_cache: str | Path | None = None) -> dict:
        """Implicit-reward metrics (accuracy, margin, drift) of the current policy on held-out pairs."""
        ref_c, ref_r = self.reference_logps(pairs, reference_cache)
        chosen, rejected = self._all_logps(pairs, self._policy_forward)
        return pair_metrics(chosen, rejected, ref_c, ref_r, self.cfg.beta)

    # ---------------------------------------------------------------------------------- checkpoints

    def save(self, folder: str | Path) -> Path:
        """Trainable weights and reference log-probs (safetensors), optimizer state, step and history."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        model = self.accelerator.unwrap_model(self.policy)
        save_file({n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad},
                  str(folder / "trainable.safetensors"))
        save_file({"chosen": self.ref_chosen, "rejected": self.ref_rejected}, str(folder / "reference.safetensors"))
        torch.save(self.optimizer.state_dict(), folder / "optimizer.pt")
        state = {"step": self.step_count, "history": self.history, "config": asdict(self.cfg)}
        (folder / "trainer.json").write_text(json.dumps(state))
        return folder

    def load(self, folder: str | Path) -> DPOTrainer:
        """Resume from `save(folder)`: same weights, optimizer moments, step and data position."""
        from safetensors.torch import load_file

        folder = Path(folder)
        state = json.loads((folder / "trainer.json").read_text())
        if state["config"] != asdict(self.cfg):
            raise ValueError(f"{folder}: saved with config {state['config']}, resuming with {asdict(self.cfg)}")
        weights = load_file(str(folder / "trainable.safetensors"))
        model = self.accelerator.unwrap_model(self.policy)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if param.requires_grad:
                    param.copy_(weights[name])
        reference = load_file(str(folder / "reference.safetensors"))
        self.ref_chosen, self.ref_rejected = reference["chosen"], reference["rejected"]
        self.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
        self.step_count, self.history = state["step"], state["history"]
        return self


def pair_metrics(chosen, rejected, ref_chosen, ref_rejected, beta: float) -> dict:
    """Implicit rewards (β log π/π_ref), their accuracy and margin, and how far each side's log-prob moved."""
    reward_c, reward_r = dpo.implicit_rewards(chosen, ref_chosen, beta), dpo.implicit_rewards(rejected, ref_rejected, beta)
    return {"accuracy": dpo.reward_accuracy(reward_c, reward_r).item(),
            "margin": (reward_c - reward_r).mean().item(),
            "chosen_reward": reward_c.mean().item(), "rejected_reward": reward_r.mean().item(),
            "chosen_logp_drift": (chosen - ref_chosen).mean().item(),
            "rejected_logp_drift": (rejected - ref_rejected).mean().item()}


def _as_loss(result) -> torch.Tensor:
    loss = result[0] if isinstance(result, tuple) else result
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise TypeError("loss_fn must return a 0-dim tensor (or a tuple starting with one), got "
                        f"{type(loss).__name__}{'' if not isinstance(loss, torch.Tensor) else tuple(loss.shape)}")
    return loss


def _fingerprint(model, pairs: list[Pair], frozen_only: bool) -> bytes:
    """Identifies (reference weights, tokenised pairs) so a cached file is used only for what it holds.
    `frozen_only`: hash only the frozen parameters (a LoRA policy's base, i.e. its reference)."""
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not (frozen_only and param.requires_grad):
                digest.update(name.encode())
                digest.update(param.detach().float().flatten()[:4096].cpu().numpy().tobytes())
    for pair in pairs:
        digest.update(repr((pair.prompt_ids, pair.chosen_ids, pair.rejected_ids)).encode())
    return digest.digest()
