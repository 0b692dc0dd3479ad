"""Plotly figures for DPO: the training dashboard (live in a notebook), loss shapes, runs side by side."""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from hhcourse import dpo

PANELS = (
    ("loss", ("loss",)),
    ("implicit-reward accuracy (batch, before its update)", ("accuracy",)),
    ("implicit rewards β·log π/π_ref", ("chosen_reward", "rejected_reward", "margin")),
    ("log-prob drift log π − log π_ref (nats)", ("chosen_logp_drift", "rejected_logp_drift")),
)
COLORS = {"chosen_reward": "#2a9d8f", "chosen_logp_drift": "#2a9d8f", "rejected_reward": "#e76f51",
          "rejected_logp_drift": "#e76f51", "margin": "#264653", "loss": "#264653", "accuracy": "#264653"}


def training_figure(history: list[dict], title: str = "DPO training") -> go.Figure:
    """Four panels over the steps: loss, accuracy, implicit rewards and margin, chosen/rejected drift."""
    fig = make_subplots(rows=2, cols=2, subplot_titles=[name for name, _ in PANELS], vertical_spacing=0.15)
    steps = [h["step"] for h in history]
    for panel, (_, keys) in enumerate(PANELS):
        for key in keys:
            fig.add_trace(go.Scatter(x=steps, y=[h[key] for h in history], name=key, mode="lines+markers",
                                     line={"color": COLORS[key]}, showlegend=panel >= 2),
                          row=panel // 2 + 1, col=panel % 2 + 1)
    fig.update_layout(title=title, height=560, margin={"t": 70})
    fig.update_xaxes(title_text="step", row=2)
    return fig


class LivePlot:
    """`DPOTrainer(..., on_step=LivePlot())` redraws the dashboard in the notebook every `every` steps."""

    def __init__(self, every: int = 1, title: str = "DPO training"):
        self.every, self.title, self.history, self.handle = every, title, [], None

    def __call__(self, metrics: dict) -> None:
        from IPython.display import display

        self.history.append(metrics)
        if len(self.history) % self.every:
            return
        fig = training_figure(self.history, self.title)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)


def loss_shapes_figure(beta: float = 0.1, label_smoothing: float = 0.1) -> go.Figure:
    """Each loss as a function of the log-ratio margin h, and how hard it pushes (−dL/dh)."""
    h = torch.linspace(-30, 60, 361, requires_grad=True)
    zeros = torch.zeros_like(h)
    variants = {"DPO (sigmoid)": ("sigmoid", 0.0), f"cDPO (ε = {label_smoothing})": ("sigmoid", label_smoothing),
                "IPO": ("ipo", 0.0), "hinge": ("hinge", 0.0)}
    fig = make_subplots(rows=1, cols=2, subplot_titles=["loss", "push on the margin, −dL/dh"])
    for name, (loss_type, eps) in variants.items():
        losses = dpo.dpo_loss(h, zeros, zeros, zeros, beta, loss_type, eps, return_losses=True).losses
        (grad,) = torch.autograd.grad(losses.sum(), h)
        x = h.detach().tolist()
        fig.add_trace(go.Scatter(x=x, y=losses.detach().tolist(), name=name, legendgroup=name), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=(-grad).tolist(), name=name, legendgroup=name, showlegend=False),
                      row=1, col=2)
    fig.update_yaxes(range=[-0.5, 3], row=1, col=1)
    fig.update_xaxes(title_text="margin h (nats)")
    fig.update_layout(title=f"The DPO family at β = {beta}: DPO never stops pushing, IPO aims at h = 1/(2β) = "
                            f"{1 / (2 * beta):g}, cDPO eases off", height=420)
    return fig


def compare_runs_figure(histories: dict[str, list[dict]], key: str = "margin") -> go.Figure:
    """One metric over the steps for several runs (e.g. DPO vs IPO vs cDPO)."""
    fig = go.Figure()
    for name, history in histories.items():
        fig.add_trace(go.Scatter(x=[h["step"] for h in history], y=[h[key] for h in history], name=name,
                                 mode="lines+markers"))
    fig.update_layout(title=f"{key} by run", xaxis_title="step", yaxis_title=key, height=380)
    return fig
