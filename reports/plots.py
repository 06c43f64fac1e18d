"""The report's plots (matplotlib, no pyplot state): SVG for HTML, PDF for LaTeX.

Labels are model names and task ids, which are user text: ``$`` is escaped so matplotlib never
reads them as mathtext. Files are written without dates so re-running a report changes nothing.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.analysis.figures import Figures, Finetune
from harness.analysis.sweep import SweepFigures
from harness.core import rundir

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
             "AR PL UMing CN", "SimHei", "Microsoft YaHei", "PingFang SC")
WIN, TIE, LOSE = "#2f7d4f", "#b8b8b8", "#b4443a"


def _label(s: str) -> str:
    return s.replace("$", r"\$")


def _figure(width: float, height: float) -> Figure:
    import matplotlib
    from matplotlib.figure import Figure

    names = {f.name for f in matplotlib.font_manager.fontManager.ttflist}
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", *(f for f in CJK_FONTS if f in names)]
    matplotlib.rcParams["svg.hashsalt"] = "harness"
    matplotlib.rcParams["svg.fonttype"] = "path"  # text as outlines: the SVG needs no font
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def ratings(data: Figures) -> Figure:
    """BT rating per model with its 95% interval, best at the top."""
    rows = list(data.leaderboard)[::-1]
    fig = _figure(6.4, 0.9 + 0.42 * len(rows))
    ax = fig.add_subplot()
    y = range(len(rows))
    bt = [r.num("bt") for r in rows]
    err = [[b - r.num("bt_lower") for b, r in zip(bt, rows)],
           [r.num("bt_upper") - b for b, r in zip(bt, rows)]]
    ax.errorbar(bt, y, xerr=err, fmt="o", color="#1f4e79", ecolor="#7a9cc6", capsize=4)
    ax.set_yticks(list(y), [_label(r.model) for r in rows])
    ax.set_xlabel("Bradley-Terry rating (Elo scale), 95% CI")
    ax.grid(axis="x", alpha=0.3)
    return fig


def heatmap(data: Figures) -> Figure:
    """Win rate of the row model against the column model (tie = half)."""
    models, c = data.models, data.records()
    n = len(models)
    grid = [[c[(m, o)].win_rate if (m, o) in c else math.nan for o in models] for m in models]
    fig = _figure(1.6 + 0.9 * n, 1.2 + 0.7 * n)
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="RdBu", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if not math.isnan(grid[i][j]):
                ax.text(j, i, f"{100 * grid[i][j]:.0f}%", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(n), [_label(m) for m in models], rotation=30, ha="right")
    ax.set_yticks(range(n), [_label(m) for m in models])
    ax.set_xlabel("opponent")
    fig.colorbar(image, ax=ax, label="win rate of row model")
    return fig


def task_bars(data: Figures) -> Figure:
    """Win / tie / lose shares of each model on each task, as stacked bars."""
    rows = [(f"{task} | {m}", [r.wins, r.ties, r.losses])
            for task, by_model in data.task_records.items() for m, r in by_model.items()]
    rows.reverse()
    fig = _figure(7.0, 1.0 + 0.32 * len(rows))
    ax = fig.add_subplot()
    left = [0.0] * len(rows)
    for k, (name, colour) in enumerate((("win", WIN), ("tie", TIE), ("lose", LOSE))):
        widths = [t[k] / sum(t) if sum(t) else 0.0 for _, t in rows]
        ax.barh(range(len(rows)), widths, left=left, color=colour, label=name)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(range(len(rows)), [_label(name) for name, _ in rows], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of battles")
    ax.legend(ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return fig


def loss_curve(finetunes: Sequence[Finetune]) -> Figure:
    """Training loss per step and held-out eval loss of each fine-tuned candidate."""
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    for f in finetunes:
        train = [(r["step"], r["loss"]) for r in f.log if "loss" in r]
        evals = [(r["step"], r["eval_loss"]) for r in f.log if "eval_loss" in r]
        who = f"{f.model}: " if f.model else ""
        if train:
            ax.plot(*zip(*train), label=_label(f"{who}training loss"))
        if evals:
            ax.plot(*zip(*evals), "o--", label=_label(f"{who}eval loss (held out)"))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (response tokens)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def figures(data: Figures) -> dict[str, Figure]:
    """Each plot the run's files support, by file stem."""
    out = {"ratings": ratings(data), "heatmap": heatmap(data)}
    if data.battles:
        out["tasks"] = task_bars(data)
    if any(f.log for f in data.finetunes):
        out["loss"] = loss_curve([f for f in data.finetunes if f.log])
    return out


def svg_uri(fig: Figure) -> str:
    """The figure as an SVG data URI: shown by ``<img>``, which never runs anything inside it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def save_pdf(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="pdf", metadata={"CreationDate": None})


def save_loss_curve(adapter_dir: Path) -> Path:
    """Draw ``loss_curve.png`` in a fine-tuned adapter folder from its ``train_log.jsonl``."""
    rows = tuple(rundir.read_train_log(adapter_dir))
    target = adapter_dir / rundir.LOSS_CURVE
    loss_curve([Finetune("", adapter_dir, {}, rows)]).savefig(target, dpi=120)
    return target


def sweep_plot(figs: SweepFigures) -> Figure:
    """Each checkpoint's win rate against the base on the selection half, by step, with its Wilson
    interval; the chosen one's held-out win rate and interval beside it (the figure to quote)."""
    s = figs.found
    judged = [p for p in s.points if p.selection.n]
    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot()
    ax.axhline(0.5, color="#888888", linestyle="--", linewidth=1, label=_label(f"as good as {s.baseline}"))
    if judged:
        steps = [p.step for p in judged]
        rates = [p.win_rate for p in judged]
        err = [[r - p.lower for r, p in zip(rates, judged)], [p.upper - r for r, p in zip(rates, judged)]]
        ax.errorbar(steps, rates, yerr=err, fmt="o-", color="#1f4e79", ecolor="#7a9cc6", capsize=4,
                    label=f"selection half ({len(s.selection_questions)} questions)")
    pick = s.pick
    ax.plot([pick.step], [pick.win_rate], "o", markersize=13, markerfacecolor="none", color=WIN,
            label=_label(f"chosen: {pick.model}"))
    if s.held_out.n:
        rate = s.held_out_win_rate
        steps_all = sorted({p.step for p in s.points})
        # beside the chosen point, not on it: the two figures are of different questions
        dx = 0.15 * min((b - a for a, b in zip(steps_all, steps_all[1:])), default=1)
        ax.errorbar([pick.step + dx], [rate], yerr=[[rate - s.lower], [s.upper - rate]], fmt="s", color=LOSE,
                    capsize=6, label=_label(f"{pick.model} on the held-out half (n = {s.held_out.n})"))
    ax.set_ylim(-0.03, 1.03)  # a win rate of 0 or 1 stays visible
    ax.margins(x=0.08)
    ax.set_xticks(sorted({p.step for p in s.points}))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(_label(f"win rate against {s.baseline} (tie = half)"))
    ax.set_title(f"{s.confidence:.0%} Wilson intervals", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def save_sweep_plot(figs: SweepFigures, target: Path) -> Path:
    """Draw :func:`sweep_plot` as a PNG at ``target`` (``harness sweep``'s ``sweep.png``)."""
    sweep_plot(figs).savefig(target, dpi=120, metadata={"Software": None})
    return target
