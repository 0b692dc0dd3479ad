"""Plotly figures shared by the notebooks. Each function returns a `go.Figure`; the notebook shows it."""

from __future__ import annotations

import plotly.graph_objects as go

_BOX = dict(showarrow=False, bordercolor="#444", borderwidth=1, borderpad=6, font=dict(size=12))


def _flow(fig: go.Figure, y: float, steps: list[tuple[str, str]], label: str, loop_back: bool = False) -> None:
    """One row of boxes joined by arrows; `steps` are (text, fill colour)."""
    xs = [i / (len(steps) - 1) for i in range(len(steps))]
    fig.add_annotation(x=-0.08, y=y, text=f"<b>{label}</b>", xanchor="right", showarrow=False)
    for x, (text, colour) in zip(xs, steps):
        fig.add_annotation(x=x, y=y, text=text, bgcolor=colour, **_BOX)
    for a, b in zip(xs, xs[1:]):
        fig.add_annotation(x=b - 0.1, y=y, ax=a + 0.1, ay=y, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=3, arrowwidth=1.5, text="")
    if loop_back:
        fig.add_annotation(x=xs[0], y=y - 0.17, ax=xs[-1], ay=y - 0.17, xref="x", yref="y", axref="x",
                           ayref="y", showarrow=True, arrowhead=3, arrowwidth=1.5, arrowcolor="#c0392b",
                           text="")
        fig.add_annotation(x=0.5, y=y - 0.23, text="online iterated training: new comparisons from the "
                           "current best policy, retrain PM and policy", showarrow=False,
                           font=dict(color="#c0392b", size=11))


def pipeline_figure() -> go.Figure:
    """The two pipelines the course follows: InstructGPT's three steps and Anthropic's HH loop."""
    fig = go.Figure()
    _flow(fig, 1.0, [("pretrained LM", "#eeeeee"),
                     ("1. SFT on<br>demonstrations", "#d6eaf8"),
                     ("2. reward model from<br>ranked outputs (K-way)", "#fdebd0"),
                     ("3. PPO against the RM<br>+ KL to SFT (+ ptx)", "#d5f5e3")], "InstructGPT")
    _flow(fig, 0.55, [("HH comparisons:<br>helpful + red-team", "#fdebd0"),
                      ("preference model<br>(PMP, then finetune)", "#fdebd0"),
                      ("RLHF: PPO,<br>reward − β·KL", "#d5f5e3"),
                      ("evaluate: Elo,<br>harmless rate", "#f5eef8")], "Anthropic HH", loop_back=True)
    _flow(fig, 0.0, [("red-team prompts", "#fadbd8"),
                     ("critique → revise<br>with principles (SL-CAI)", "#d6eaf8"),
                     ("AI labels pairs<br>(RLAIF) → PM", "#fdebd0"),
                     ("RL-CAI (PPO)<br>or DPO", "#d5f5e3")], "Constitutional AI")
    fig.update_xaxes(visible=False, range=[-0.35, 1.12])
    fig.update_yaxes(visible=False, range=[-0.35, 1.2])
    fig.update_layout(height=430, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
                      title="From a pretrained model to a helpful and harmless assistant")
    return fig


def token_logprob_figure(tokens: list[str], logprobs: list[float], title: str) -> go.Figure:
    """Bar per response token: how surprised the model was by each token it produced."""
    labels = [f"{i}:{t!r}"[:18] for i, t in enumerate(tokens)]
    fig = go.Figure(go.Bar(x=labels, y=logprobs, marker_color=["#c0392b" if lp < -4 else "#2e86c1"
                                                                for lp in logprobs]))
    fig.update_layout(title=title, yaxis_title="log π(token | context)", height=320,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis=dict(tickangle=-60, tickfont=dict(size=9)))
    return fig
