"""Figures of the report, drawn with matplotlib (Agg) and returned as SVG text.

Each function takes plain numbers (no file access) and returns the SVG of one figure; the HTML
embeds it as a data URI, so the report needs no network and no script at view time.
"""

from __future__ import annotations

import io

import numpy as np

SEED_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "svg.fonttype": "none",  # text stays text: small files, selectable labels
        "svg.hashsalt": "msaflow",  # deterministic element ids
        "font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False,
        "figure.dpi": 100,
        "text.parse_math": False,  # utterance ids hold "$_$"
    })
    return plt


def to_svg(fig) -> str:
    plt = _plt()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "msaflow"})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def scatter(runs: list[tuple[str, np.ndarray, np.ndarray]], title: str) -> str:
    """Predictions vs labels; `runs` = [(seed, labels, predictions)]."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    for i, (seed, y, p) in enumerate(runs):
        ax.scatter(y, p, s=10, alpha=0.55, color=SEED_COLORS[i % len(SEED_COLORS)], label=f"seed {seed}", lw=0)
    ax.plot([-3, 3], [-3, 3], color="0.4", lw=0.8, ls="--")
    ax.axhline(0, color="0.85", lw=0.6)
    ax.axvline(0, color="0.85", lw=0.6)
    ax.set(xlim=(-3.2, 3.2), ylim=(-3.2, 3.2), xlabel="label", ylabel="prediction", title=title)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    return to_svg(fig)


def confusion(matrix: np.ndarray, classes: list[int], title: str) -> str:
    """A (label x prediction) count matrix, coloured by row share."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    rows = matrix.sum(1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if matrix[i, j]:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), [f"{c:+d}" for c in classes])
    ax.set_yticks(range(len(classes)), [f"{c:+d}" for c in classes])
    ax.set(xlabel="predicted class", ylabel="label class", title=title)
    return to_svg(fig)


def history(curves: list[dict], title: str) -> str:
    """Per seed: epochs, train_loss, valid_loss, valid_mae, selected epoch."""
    plt = _plt()
    fig, (ax_loss, ax_mae) = plt.subplots(1, 2, figsize=(8.0, 3.0))
    for i, c in enumerate(curves):
        color = SEED_COLORS[i % len(SEED_COLORS)]
        ax_loss.plot(c["epochs"], c["train_loss"], color=color, lw=1, ls="--")
        ax_loss.plot(c["epochs"], c["valid_loss"], color=color, lw=1.2, label=f"seed {c['seed']}")
        ax_mae.plot(c["epochs"], c["valid_mae"], color=color, lw=1.2, marker="o", ms=2.5)
        if c.get("best_epoch") in c["epochs"]:
            k = c["epochs"].index(c["best_epoch"])
            ax_mae.plot([c["best_epoch"]], [c["valid_mae"][k]], marker="*", ms=9, color=color, mec="black", mew=0.4)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="train (dashed) and valid loss")
    ax_mae.set(xlabel="epoch", ylabel="valid MAE", title="valid MAE (star: selected epoch)")
    ax_loss.legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return to_svg(fig)


def bars(labels: list[str], values: list[float], title: str, xlabel: str = "", color: str = "#4c72b0",
         errors: list[tuple[float, float]] | None = None, value_fmt: str = "{:g}") -> str:
    """Horizontal bars (optionally with asymmetric error bars = CI) with their values written."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 0.35 * len(labels) + 1.0))
    y = np.arange(len(labels))[::-1]
    xerr = None
    if errors:
        xerr = np.array([[v - lo, hi - v] for v, (lo, hi) in zip(values, errors, strict=True)]).T
    ax.barh(y, values, color=color, xerr=xerr, capsize=3, error_kw={"lw": 0.8})
    ax.set_yticks(y, labels)
    for yi, v in zip(y, values, strict=True):
        ax.text(v, yi, " " + value_fmt.format(v), va="center", fontsize=7)
    ax.set(xlabel=xlabel, title=title)
    ax.axvline(0, color="0.3", lw=0.6)
    return to_svg(fig)


def histogram(edges: list[float], counts: list[int], title: str, xlabel: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    edges = np.asarray(edges, dtype=float)
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4c72b0", edgecolor="white", lw=0.5)
    ax.set(xlabel=xlabel, ylabel="utterances", title=title)
    return to_svg(fig)


def ablation(conditions: list[str], metrics: list[str], diffs: dict, title: str) -> str:
    """Grouped horizontal bars: per metric (panel) the change per condition with its CI.

    `diffs[(condition, metric)] = (diff, ci_low, ci_high)`; missing CIs draw no error bar."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 0.45 * len(conditions) + 1.2), sharey=True)
    axes = np.atleast_1d(axes)
    y = np.arange(len(conditions))[::-1]
    for ax, metric in zip(axes, metrics, strict=True):
        vals, err, colors = [], [], []
        for c in conditions:
            d, lo, hi = diffs.get((c, metric), (np.nan, None, None))
            vals.append(0.0 if d is None or not np.isfinite(d) else d)
            err.append((vals[-1] - lo if lo is not None else 0.0, hi - vals[-1] if hi is not None else 0.0))
            colors.append("#c44e52" if c.endswith("zero") else "#8172b2")
        ax.barh(y, vals, xerr=np.array(err).T, color=colors, capsize=3, error_kw={"lw": 0.8})
        ax.axvline(0, color="0.3", lw=0.6)
        ax.set(title=f"Δ {metric}")
    axes[0].set_yticks(y, conditions)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return to_svg(fig)


def stage_times(stages: list[str], wall: list[float], cpu: list[float | None], title: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(stages) + 1.0))
    y = np.arange(len(stages))[::-1]
    ax.barh(y + 0.18, wall, height=0.36, color="#4c72b0", label="wall s")
    ax.barh(y - 0.18, [c or 0 for c in cpu], height=0.36, color="#dd8452", label="CPU s")
    ax.set_yticks(y, stages)
    ax.set(xlabel="seconds (summed over jobs)", title=title)
    ax.legend(fontsize=7, frameon=False)
    return to_svg(fig)


def utterance(wave: np.ndarray, sample_rate: int, words: list[dict], title: str,
              attention: dict[str, list[float]] | None = None) -> str:
    """Waveform (min/max envelope) with word spans; below it, fusion attention over the words."""
    plt = _plt()
    n_att = len(attention or {})
    fig, axes = plt.subplots(1 + (1 if n_att else 0), 1, figsize=(8.0, 2.6 + (1.6 if n_att else 0)),
                             gridspec_kw={"height_ratios": [2, 1.3] if n_att else [1]}, squeeze=False)
    ax = axes[0, 0]
    if len(wave):
        bins = min(2000, len(wave))
        chunks = np.array_split(wave, bins)
        t = np.array([len(c) for c in chunks]).cumsum() / sample_rate
        lo = np.array([c.min() for c in chunks])
        hi = np.array([c.max() for c in chunks])
        ax.fill_between(t, lo, hi, color="0.55", lw=0)
    for i, w in enumerate(words):
        ax.axvspan(w["start"], w["end"], color=SEED_COLORS[i % 2], alpha=0.15, lw=0)
        ax.text((w["start"] + w["end"]) / 2, 1.02, w["word"], transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=8, rotation=30 if len(words) > 10 else 0)
    ax.set(xlabel="seconds", yticks=[])
    ax.set_title(title, pad=18)
    if n_att:
        axa = axes[1, 0]
        width = 0.8 / n_att
        x = np.arange(len(words))
        for k, (name, values) in enumerate(attention.items()):
            axa.bar(x + (k - (n_att - 1) / 2) * width, values, width=width, label=name,
                    color=SEED_COLORS[(k + 2) % len(SEED_COLORS)])
        axa.set_xticks(x, [w["word"] for w in words], rotation=30 if len(words) > 10 else 0, fontsize=8)
        axa.set(ylabel="attention", title="fusion attention of the prediction position over the words")
        axa.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return to_svg(fig)
