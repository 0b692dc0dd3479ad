"""Plotly figures for unit 01 (rewards from preferences on the gridworld of `hhcourse.toy_preferences`)."""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from hhcourse.toy_preferences import GridWorld, returns_of, standardise

PATH_COLOURS = ("#1b9e77", "#7570b3")  # σ¹, σ²
SERIES_COLOURS = ("#2e86c1", "#c0392b", "#27ae60", "#8e44ad")


def _heatmap(world: GridWorld, reward: Tensor, **kwargs) -> go.Heatmap:
    return go.Heatmap(z=reward.view(world.height, world.width).tolist(), colorscale="RdBu", zmid=0,
                      hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra></extra>", **kwargs)


def segments_figure(world: GridWorld, first: Tensor, second: Tensor) -> go.Figure:
    """The true reward with one pair of segments (cells (k,) each) drawn on it, and their true returns."""
    fig = go.Figure(_heatmap(world, world.true_reward, colorbar=dict(title="r(s)")))
    for name, cells, colour, offset in (("σ¹", first, PATH_COLOURS[0], -0.12), ("σ²", second, PATH_COLOURS[1], 0.12)):
        rows, cols = (cells // world.width).float() + offset, (cells % world.width).float() + offset
        ret = returns_of(world.true_reward, cells[None])[0].item()
        fig.add_trace(go.Scatter(x=cols.tolist(), y=rows.tolist(), mode="lines+markers", name=f"{name}: R = {ret:.2f}",
                                 line=dict(color=colour, width=4),
                                 marker=dict(size=[14] + [7] * (len(cells) - 1), color=colour)))
    fig.update_yaxes(autorange="reversed", title="row", scaleanchor="x")
    fig.update_xaxes(title="column")
    fig.update_layout(title="True reward per cell and a pair of segments (big dot = start)", height=470,
                      width=560, margin=dict(l=10, r=10, t=50, b=80),
                      legend=dict(x=0, y=-0.15, yanchor="top", orientation="h"))
    return fig


def learned_vs_true_figure(world: GridWorld, learned: Tensor) -> go.Figure:
    """True and learned reward side by side, both standardised (mean 0, std 1), and one against the other."""
    true, mine = standardise(world.true_reward), standardise(learned)
    corr = torch.corrcoef(torch.stack([mine, true]))[0, 1].item()
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=("true r (standardised)", "learned r̂ (standardised)",
                                        f"per cell: correlation {corr:.3f}"))
    fig.add_trace(_heatmap(world, true, coloraxis="coloraxis"), row=1, col=1)
    fig.add_trace(_heatmap(world, mine, coloraxis="coloraxis"), row=1, col=2)
    fig.add_trace(go.Scatter(x=true.tolist(), y=mine.tolist(), mode="markers", marker=dict(color="#2e86c1", size=6),
                             hovertemplate="r %{x:.2f}, r̂ %{y:.2f}<extra></extra>", showlegend=False), row=1, col=3)
    low, high = min(true.min(), mine.min()).item(), max(true.max(), mine.max()).item()
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", line=dict(color="#888", dash="dash"),
                             showlegend=False, hoverinfo="skip"), row=1, col=3)
    for col in (1, 2):
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col}" if col > 1 else "x", row=1, col=col)
    fig.update_xaxes(title="true r", row=1, col=3)
    fig.update_yaxes(title="learned r̂", row=1, col=3)
    fig.update_layout(coloraxis=dict(colorscale="RdBu", cmid=0, colorbar=dict(orientation="h", x=0.3, y=-0.12,
                                                                               len=0.55, thickness=14)),
                      height=420, margin=dict(l=10, r=10, t=50, b=60))
    return fig


def agreement_figure(series: dict[str, dict[float, list[float]]], x_title: str, title: str,
                     log_x: bool = False) -> go.Figure:
    """Held-out agreement against a swept setting: one line per series, mean ± std over seeds as error bars.

    `series[name][x]` holds one agreement per seed.
    """
    fig = go.Figure()
    for (name, runs), colour in zip(series.items(), SERIES_COLOURS, strict=False):
        xs = sorted(runs)
        values = [torch.tensor(runs[x], dtype=torch.float64) for x in xs]
        means = [v.mean().item() for v in values]
        spreads = [v.std().item() if len(v) > 1 else 0.0 for v in values]
        fig.add_trace(go.Scatter(x=xs, y=means, error_y=dict(type="data", array=spreads, visible=True),
                                 mode="lines+markers", name=name, line=dict(color=colour)))
    fig.add_hline(y=0.5, line=dict(color="#888", dash="dot"), annotation_text="chance",
                  annotation_position="bottom right")
    fig.update_xaxes(title=x_title, type="log" if log_x else "linear")
    fig.update_yaxes(title="held-out agreement with r", range=[0.45, 1.0])
    fig.update_layout(title=title, height=380, margin=dict(l=10, r=10, t=50, b=10), legend=dict(x=0.6, y=0.1))
    return fig
