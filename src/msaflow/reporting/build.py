"""results/report_{ds}.html: one self-contained page about a dataset's results (issue 14).

Inputs are what the pipeline already wrote: result files (results/{model}_{ds}.json, with their
baseline and, when present, `ablation` sections), the runs' predictions.tsv / history.json /
model.pt, the dataset summary, the manifest, alignment tables, wav files, the tokens file and the
Snakemake benchmark files. Anything missing is said in place ("not available: <why>"), never
silently left out. Figures are SVG data URIs (msaflow.reporting.figures): no script, no network.

Sections (element ids): comparison, ablation, models (model-<name>), data, examples, provenance.
"""

from __future__ import annotations

import base64
import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError, get_logger, read_tsv
from msaflow.evaluation.metrics import CONVENTIONS, LOWER_IS_BETTER, METRICS

SECTIONS = (("comparison", "Comparison"), ("ablation", "Modality ablation"), ("models", "Models"),
            ("data", "Data"), ("examples", "Test utterances"), ("provenance", "Provenance"))
ABLATION_METRICS = ("mae", "corr", "acc2_non0", "acc7")
CLASSES_7 = list(range(-3, 4))


@dataclass
class ModelView:
    name: str
    source: str
    test: dict  # metric -> {mean, std, ci_low, ci_high, n, per_seed}
    describe: dict = field(default_factory=dict)
    result: dict | None = None
    result_path: str = ""
    runs: list = field(default_factory=list)  # msaflow.evaluation.results.read_run dicts
    missing_runs: list = field(default_factory=list)


@dataclass
class ReportInputs:
    dataset: str
    results: list[str]
    runs_root: str | None = None
    summary: str | None = None
    manifest: str | None = None
    align: list[str] = field(default_factory=list)
    audio_dirs: list[str] = field(default_factory=list)
    tokens: str | None = None
    benchmarks: str | None = None
    examples: int = 3
    attention: bool = True


# --- helpers ----------------------------------------------------------------------------------
def esc(x) -> str:
    return html.escape(str(x))


def na(why: str) -> str:
    return f'<p class="na">not available: {esc(why)}</p>'


def figure(svg: str, fig_id: str, caption: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (f'<figure class="fig" id="{esc(fig_id)}"><img alt="{esc(caption)}" src="data:image/svg+xml;base64,{data}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def fmt(x, digits: int = 3, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def fmt_p(p) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _read_json(path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


# --- collecting ---------------------------------------------------------------------------------
def collect_models(result_paths: list[str], runs_root: str | None, log) -> tuple[list[ModelView], list[str]]:
    """Models in report order (each result's baseline before it), and notes on unusable inputs."""
    from msaflow.evaluation.results import RESULT_FORMAT

    views: dict[str, ModelView] = {}
    order: list[str] = []
    notes = []
    for path in result_paths:
        result = _read_json(path)
        if not isinstance(result, dict) or result.get("format") != RESULT_FORMAT:
            notes.append(f"{path} is not an msaflow result file (skipped)")
            continue
        base = result.get("baseline")
        if base and base.get("model") and base["model"] not in views:
            views[base["model"]] = ModelView(base["model"], f"baseline section of {path}", base["metrics"]["test"],
                                             base.get("describe") or {})
            order.append(base["model"])
        name = result["model"]
        if name not in order:
            order.append(name)
        views[name] = ModelView(name, str(path), result["metrics"]["test"], result.get("describe") or {}, result, str(path))
    for view in views.values():
        view.runs, view.missing_runs = _load_runs(view, runs_root)
        if view.missing_runs:
            log.warning("%s: runs not found: %s", view.name, view.missing_runs[:3])
    return [views[n] for n in order], notes


def _load_runs(view: ModelView, runs_root: str | None):
    from msaflow.evaluation.results import read_run

    dirs = []
    if view.result and view.result.get("runs"):
        dirs = list(view.result["runs"].values())
    elif runs_root:
        seeds = view.result["seeds"] if view.result else sorted((view.test.get("mae") or {}).get("per_seed", {}), key=int)
        dirs = [str(Path(runs_root) / view.name / f"seed{s}") for s in seeds]
    runs, missing = [], []
    for d in dirs:
        try:
            runs.append(read_run(d))
        except (MsaflowError, OSError, KeyError, ValueError) as error:
            missing.append(f"{d} ({error})")
    return sorted(runs, key=lambda r: r["seed"]), missing


def ablation_table(ablation) -> tuple[list[str], dict, str | None]:
    """Tolerant reader of a result's `ablation` section.

    Expected (msaflow.evaluation.ablation): {"conditions": {"<modality>_<zero|shuffle>": {"modality", "kind",
    "metrics": {metric: {"diff", "ci_low", "ci_high", "p", "intact", "ablated"}}, "max_abs_prediction_change"}},
    "confidence", "note"?}. Also read: conditions as a list of {"condition"|"name": ...}; "change"/"delta" for
    "diff"; "ci": [low, high]. Returns (condition names, {(condition, metric): (diff, low, high, p)}, note).
    """
    if not isinstance(ablation, dict):
        return [], {}, None
    conditions = ablation.get("conditions") or {}
    if isinstance(conditions, list):
        conditions = {str(c.get("condition") or c.get("name") or i): c for i, c in enumerate(conditions) if isinstance(c, dict)}
    names, values = [], {}
    for name, entry in conditions.items():
        metrics = entry.get("metrics", entry) if isinstance(entry, dict) else {}
        found = False
        for metric, m in metrics.items():
            if not isinstance(m, dict):
                continue
            diff = next((m[k] for k in ("diff", "change", "delta") if k in m), None)
            low, high = m.get("ci_low"), m.get("ci_high")
            if (low is None or high is None) and isinstance(m.get("ci"), (list, tuple)) and len(m["ci"]) == 2:
                low, high = m["ci"]
            if diff is None:
                continue
            values[(name, metric)] = (diff, low, high, m.get("p"))
            found = True
        if found:
            names.append(name)
    return names, values, ablation.get("note")


# --- sections -----------------------------------------------------------------------------------
def comparison_section(models: list[ModelView]) -> str:
    if not models:
        return na("no result file for this dataset")
    best = {}
    for m in METRICS:
        means = [(v.test.get(m) or {}).get("mean") for v in models]
        finite = [x for x in means if x is not None and np.isfinite(x)]
        if finite:
            best[m] = min(finite) if m in LOWER_IS_BETTER else max(finite)
    head = "".join(f'<th title="{esc(CONVENTIONS[m])}">{esc(m)}{" ↓" if m in LOWER_IS_BETTER else ""}</th>' for m in METRICS)
    rows = []
    for v in models:
        cells = []
        for m in METRICS:
            s = v.test.get(m) or {}
            mean = s.get("mean")
            is_best = mean is not None and m in best and np.isclose(mean, best[m])
            cells.append(f'<td class="{"best" if is_best else ""}">{"▲ " if is_best else ""}{fmt(mean)} ± {fmt(s.get("std"))}'
                         f'<br><small>[{fmt(s.get("ci_low"))}, {fmt(s.get("ci_high"))}]</small></td>')
        seeds = len((v.test.get("mae") or {}).get("per_seed") or {})
        note = esc(v.describe.get("note", "")) if v.describe else ""
        rows.append(f'<tr><th class="model">{esc(v.name)}<br><small>{seeds} seed{"" if seeds == 1 else "s"}{"; " + note if note else ""}</small></th>'
                    + "".join(cells) + "</tr>")
    conf = next((v.result.get("confidence") for v in models if v.result), 0.95)
    out = [f'<table class="metrics"><thead><tr><th>model (test)</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>',
           f'<p class="caption">Mean ± std over seeds, [{int(round(100 * conf))}% CI of the mean, t-distribution over '
           'seeds]. ▲ best per column (↓: lower is better). Hover a column name for its convention.</p>']
    tests = [v for v in models if v.result and v.result.get("baseline")]
    for v in tests:
        out.append(_paired_table(v))
    if not tests:
        out.append(na("no result file names a baseline, so there are no paired tests"))
    out.append("<details><summary>Metric conventions</summary><dl>" + "".join(
        f"<dt>{esc(m)}</dt><dd>{esc(CONVENTIONS[m])}</dd>" for m in METRICS) + "</dl></details>")
    return "\n".join(out)


def _paired_table(v: ModelView) -> str:
    b = v.result["baseline"]
    t_tests, boot = b.get("paired_t_test", {}), (b.get("paired_bootstrap") or {}).get("metrics", {})
    rows = []
    for m in METRICS:
        t, bt = t_tests.get(m, {}), boot.get(m, {})
        base_mean = (b.get("metrics", {}).get("test", {}).get(m) or {}).get("mean")
        sig = bt.get("p") is not None and bt["p"] < 0.05
        rows.append(f'<tr class="{"sig" if sig else ""}"><th>{esc(m)}</th><td>{fmt(base_mean)}</td><td>{fmt((v.test.get(m) or {}).get("mean"))}</td>'
                    f'<td>{fmt(t.get("mean_diff"), signed=True)}</td><td>{fmt_p(t.get("p"))}</td>'
                    f'<td>{fmt(bt.get("diff"), signed=True)} [{fmt(bt.get("ci_low"), signed=True)}, {fmt(bt.get("ci_high"), signed=True)}]</td>'
                    f'<td>{fmt_p(bt.get("p"))}</td></tr>')
    n_res = (b.get("paired_bootstrap") or {}).get("n_resamples")
    return (f'<h3 id="paired-{esc(v.name)}">{esc(v.name)} vs its baseline {esc(b["model"])} (paired over seeds {esc(b.get("seeds"))})</h3>'
            '<table class="paired"><thead><tr><th>metric (test)</th><th>baseline</th><th>model</th><th>Δ mean over seeds</th>'
            f'<th>paired t-test p</th><th>bootstrap Δ [CI]</th><th>bootstrap p</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<p class="caption">Δ = model − baseline (mae: negative is better). Paired t-test over seeds; paired bootstrap over '
            f'test utterances ({esc(n_res)} resamples, metrics averaged over seeds on each resample). Shaded rows: bootstrap p &lt; 0.05.</p>')


def ablation_section(models: list[ModelView]) -> str:
    from msaflow.reporting import figures

    out = []
    for v in models:
        modalities = [m for m in (v.describe.get("modalities") or []) if m != "text"]
        if v.result is None:
            why = "text-only model" if v.describe.get("modalities") == ["text"] else "no result file of its own"
            out.append(f"<h3>{esc(v.name)}</h3>" + na(f"{why} (shown as a baseline)"))
            continue
        if "ablation" not in v.result:
            why = ("text-only model: nothing to ablate" if not modalities else
                   f"{v.result_path} has no 'ablation' section (evaluated before the modality ablation existed; "
                   "rebuild the result)")
            out.append(f"<h3>{esc(v.name)}</h3>" + na(why))
            continue
        conditions, values, note = ablation_table(v.result["ablation"])
        if not conditions:
            out.append(f"<h3>{esc(v.name)}</h3>" + na(note or "the ablation section lists no condition"))
            continue
        metrics = [m for m in ABLATION_METRICS if any((c, m) in values for c in conditions)]
        svg = figures.ablation(conditions, metrics, {k: val[:3] for k, val in values.items()},
                               f"{v.name}: test metric change when a modality is zeroed or shuffled")
        conf = v.result["ablation"].get("confidence", 0.95)
        rows = "".join(
            f"<tr><th>{esc(c)}</th>" + "".join(
                f"<td>{fmt(values[(c, m)][0], signed=True)} [{fmt(values[(c, m)][1], signed=True)}, "
                f"{fmt(values[(c, m)][2], signed=True)}] p={fmt_p(values[(c, m)][3])}</td>" if (c, m) in values else "<td>–</td>"
                for m in metrics) + "</tr>" for c in conditions)
        out.append(f'<h3 id="ablation-{esc(v.name)}">{esc(v.name)}</h3>'
                   + figure(svg, f"fig-ablation-{v.name}", f"{v.name}: ablated − intact with {int(round(100 * conf))}% paired "
                            "bootstrap CI (red: zeroed, purple: shuffled). mae up or corr/acc down = the model uses that modality.")
                   + f'<table class="paired"><thead><tr><th>condition</th>{"".join(f"<th>Δ {esc(m)}</th>" for m in metrics)}'
                   f"</tr></thead><tbody>{rows}</tbody></table>" + (f'<p class="caption">{esc(note)}</p>' if note else ""))
    return "\n".join(out) if out else na("no models")


def model_section(v: ModelView) -> str:
    from msaflow.reporting import figures

    parts = [f'<section class="model" id="model-{esc(v.name)}"><h3>{esc(v.name)}</h3>'
             f'<p class="caption">{esc(v.describe.get("reference", ""))} {esc(v.describe.get("note", ""))} '
             f"Source: {esc(v.source)}.</p>"]
    if not v.runs:
        parts.append(na(f"no run folders found ({'; '.join(v.missing_runs[:2]) or 'no seeds listed'})"))
        return "".join(parts) + "</section>"
    if v.missing_runs:
        parts.append(f'<p class="na">runs not found (left out below): {esc("; ".join(v.missing_runs))}</p>')
    data = [(r["seed"], np.asarray(r["splits"]["test"]["labels"]), np.asarray(r["splits"]["test"]["predictions"]))
            for r in v.runs]
    row = [figure(figures.scatter(data, f"{v.name}: test predictions vs labels"), f"fig-scatter-{v.name}",
                  f"{v.name}: test predictions against labels, every seed (dashed: prediction = label).")]
    matrix = np.zeros((7, 7), dtype=int)
    for _, y, p in data:
        yi = np.round(np.clip(y, -3, 3)).astype(int) + 3
        pi = np.round(np.clip(p, -3, 3)).astype(int) + 3
        np.add.at(matrix, (yi, pi), 1)
    row.append(figure(figures.confusion(matrix, CLASSES_7, f"{v.name}: 7-class confusion (test, all seeds)"),
                      f"fig-confusion-{v.name}", f"{v.name}: 7-class confusion matrix, round(clip(x, -3, 3)), counts summed "
                      "over seeds; colour = share of the label's row."))
    parts.append('<div class="row">' + "".join(row) + "</div>")
    curves = []
    for r in v.runs:
        epochs = r["history"].get("epochs") or []
        if epochs:
            curves.append({"seed": r["seed"], "epochs": [e["epoch"] for e in epochs],
                           "train_loss": [e["train_loss"] for e in epochs], "valid_loss": [e["valid_loss"] for e in epochs],
                           "valid_mae": [e["valid_metrics"]["mae"] for e in epochs], "best_epoch": r["history"].get("best_epoch")})
    if curves:
        parts.append(figure(figures.history(curves, f"{v.name}: training per epoch"), f"fig-history-{v.name}",
                            f"{v.name}: train and validation loss and validation MAE per epoch, one colour per seed; "
                            "the star marks the epoch selected on validation."))
    else:
        parts.append(na("the runs' history.json hold no epochs"))
    return "".join(parts) + "</section>"


def data_section(inputs: ReportInputs, summary: dict | None) -> str:
    from msaflow import dataset_summary as dsum
    from msaflow.reporting import figures

    if summary is None:
        return na(f"no dataset summary ({inputs.summary or 'results/dataset_<ds>.json not given'})")
    ups, vps = summary.get("utterances_per_split", {}), summary.get("videos_per_split", {})
    out = [f'<table class="small"><thead><tr><th></th><th>train</th><th>valid</th><th>test</th><th>total</th></tr></thead><tbody>'
           f'<tr><th>utterances</th>{"".join(f"<td>{esc(ups.get(s, 0))}</td>" for s in ("train", "valid", "test"))}'
           f'<td>{esc(summary.get("utterances"))}</td></tr>'
           f'<tr><th>videos</th>{"".join(f"<td>{esc(vps.get(s, 0))}</td>" for s in ("train", "valid", "test"))}'
           f'<td>{esc(summary.get("videos"))}</td></tr></tbody></table>']
    figs = []
    hist = (summary.get("label") or {}).get("histogram")
    if hist:
        figs.append(figure(figures.histogram(hist["bin_edges"], hist["counts"], "labels", "label (clipped to [-3, 3])"),
                           "fig-labels", "Label histogram, all splits."))
    else:
        figs.append(na("the dataset summary has no label histogram"))
    rows = read_tsv(inputs.manifest) if inputs.manifest and Path(inputs.manifest).is_file() else []
    durations = list(dsum.utterance_durations(rows, inputs.audio_dirs).values()) if rows else []
    if durations:
        counts, edges = np.histogram(durations, bins=20)
        figs.append(figure(figures.histogram(edges.tolist(), counts.tolist(), "durations", "seconds"), "fig-durations",
                           f"Utterance durations (n={len(durations)}, total {sum(durations) / 3600:.2f} h)."))
    else:
        d = summary.get("duration_s") or {}
        figs.append(na("no durations (no manifest start/end and no wav files given)" if not d.get("n") else
                       f"histogram needs the manifest and wav files; summary: mean {d.get('mean')} s, median {d.get('median')} s"))
    words = dsum.word_counts([p for p in inputs.align if Path(p).is_file()]) if inputs.align else {}
    if words:
        values = np.asarray(list(words.values()))
        edges = np.arange(values.min() - 0.5, values.max() + 1.5, max(1, int(np.ceil((values.max() - values.min() + 1) / 30))))
        counts, edges = np.histogram(values, bins=edges)
        figs.append(figure(figures.histogram(edges.tolist(), counts.tolist(), "words per utterance", "words"), "fig-words",
                           f"Words per utterance (alignment tables, n={len(values)})."))
    else:
        figs.append(na("no alignment tables given"))
    out.append('<div class="row">' + "".join(figs) + "</div>")
    qc = summary.get("qc") or {}
    if qc:
        order = [s for s in ("sdk_manifest", "audio", "align", "acoustic", "visual", "words", "tokens") if s in qc]
        order += [s for s in qc if s not in order]
        body = "".join(
            f'<tr><th>{esc(s)}</th><td>{esc(qc[s].get("ok", 0))}</td><td>{esc(qc[s].get("fallback", 0))}</td>'
            f'<td class="{"bad" if qc[s].get("failed") else ""}">{esc(qc[s].get("failed", 0))}</td><td>'
            + ("; ".join(f"{esc(r)} ({esc(n)})" for r, n in (qc[s].get("top_reasons") or {}).items()) or "–") + "</td></tr>"
            for s in order)
        out.append('<h3 id="qc">Quality control per stage</h3><table class="small"><thead><tr><th>stage</th><th>ok</th>'
                   f"<th>fallback</th><th>failed</th><th>most common reasons (fallback or failed)</th></tr></thead><tbody>{body}"
                   '</tbody></table><p class="caption">Every utterance that enters a stage leaves as ok, fallback or failed '
                   "(the stage's *.qc.tsv); failed ones are excluded downstream.</p>")
    else:
        out.append(na("the dataset summary has no QC counts"))
    return "\n".join(out)


def pick_examples(view: ModelView, k: int = 3) -> list[tuple[str, str, float, float]]:
    """(kind, utterance_id, label, mean prediction over seeds) for the best, median and worst test utterances."""
    preds: dict[str, list[float]] = {}
    labels: dict[str, float] = {}
    for r in view.runs:
        s = r["splits"]["test"]
        for uid, y, p in zip(s["ids"], s["labels"], s["predictions"], strict=True):
            preds.setdefault(uid, []).append(p)
            labels[uid] = y
    if not preds:
        return []
    ids = sorted(preds, key=lambda u: (abs(np.mean(preds[u]) - labels[u]), u))
    picks = [("best", ids[0]), ("median", ids[len(ids) // 2]), ("worst", ids[-1])][: max(0, k)]
    return [(kind, uid, labels[uid], float(np.mean(preds[uid]))) for kind, uid in picks]


def attention_for(view: ModelView, uids: list[str], tokens: dict | None, log) -> tuple[dict[str, list[float]] | None, str]:
    """Per utterance, the model's fusion attention summed per word (first seed), or (None, why)."""
    from msaflow.models.base import MsaModel
    from msaflow.models.registry import model_class

    if not view.runs:
        return None, "no runs"
    settings = view.runs[0]["history"].get("settings") or {}
    try:
        cls = model_class(settings.get("arch", view.name))
    except MsaflowError as error:
        return None, str(error)
    if cls.prediction_attention is MsaModel.prediction_attention:
        return None, f"{view.name} has no fusion attention to show"
    if tokens is None:
        return None, "no tokens file given"
    run_dir = Path(view.runs[0]["dir"])
    if not (run_dir / "model.pt").is_file():
        return None, f"{run_dir}/model.pt is missing"
    import torch

    from msaflow.bundle import load_model_file
    from msaflow.training.trainer import make_batches

    model = load_model_file(run_dir / "model.pt")
    split = tokens["test"]
    index = {u: i for i, u in enumerate(split["ids"])}
    out = {}
    for uid in uids:
        if uid not in index:
            continue
        batch = next(make_batches(split, np.array([index[uid]]), 1, True))
        with torch.no_grad():
            model(batch)
        att = model.prediction_attention()[0].numpy()
        word_index = batch["word_index"][0].numpy()
        per_word = np.zeros(int(word_index.max()) + 1 if (word_index >= 0).any() else 0)
        np.add.at(per_word, word_index[word_index >= 0], att[word_index >= 0])
        out[uid] = per_word.tolist()
    log.info("attention of %s (seed %s) for %d utterances", view.name, view.runs[0]["seed"], len(out))
    return out, f"seed {view.runs[0]['seed']}"


def examples_section(inputs: ReportInputs, models: list[ModelView], main: ModelView | None, log) -> str:
    from msaflow.reporting import figures

    if main is None or not main.runs:
        return na("no model with test predictions")
    picks = pick_examples(main, inputs.examples)
    if not picks:
        return na(f"{main.name} has no test predictions")
    manifest = {r["utterance_id"]: r for r in read_tsv(inputs.manifest)} if inputs.manifest and Path(inputs.manifest).is_file() else {}
    words_by_id: dict[str, list[dict]] = {}
    wanted = {uid for _, uid, _, _ in picks}
    for table in inputs.align:
        if Path(table).is_file():
            for row in read_tsv(table):
                if row.get("utterance_id") in wanted and "word_index" in row:
                    words_by_id.setdefault(row["utterance_id"], []).append(row)
    tokens = None
    if inputs.attention and inputs.tokens and Path(inputs.tokens).is_file():
        from msaflow.tokenize import load_tokens

        tokens = load_tokens(inputs.tokens)
    attention, notes = {}, []
    if inputs.attention:
        for v in models:
            att, note = attention_for(v, list(wanted), tokens, log)
            if att is None:
                notes.append(f"{v.name}: {note}")
            else:
                attention[f"{v.name} ({note})"] = att
    else:
        notes.append("attention not requested")
    audio_by_shard = {Path(d).name: Path(d) for d in inputs.audio_dirs}
    out = [f'<p class="caption">Test utterances with the smallest, median and largest absolute error of {esc(main.name)} '
           "(prediction = mean over seeds). Word spans from the alignment over the waveform; below, the fusion "
           "attention with which the prediction position attended to each word (word-piece weights summed per word; "
           "the rest falls on [CLS]/[SEP]).</p>"]
    if notes:
        out.append(f'<p class="na">attention not available for: {esc("; ".join(notes))}</p>')
    for kind, uid, label, pred in picks:
        rows = sorted(words_by_id.get(uid, []), key=lambda r: int(r["word_index"]))
        words = [{"word": r["word"], "start": float(r["start"]), "end": float(r["end"])} for r in rows]
        wave, sr, why = np.zeros(0), 16000, ""
        m = manifest.get(uid)
        if m and m.get("shard") in audio_by_shard and (audio_by_shard[m["shard"]] / f"{uid}.wav").is_file():
            from msaflow.stages.acoustic import read_wav

            wave, sr = read_wav(audio_by_shard[m["shard"]] / f"{uid}.wav")
        else:
            why = "no wav file (SDK dataset, or audio folders not given)"
        att = {name: a[uid][: len(words)] for name, a in attention.items() if uid in a and len(a[uid]) >= len(words)}
        text = (m or {}).get("text", " ".join(w["word"] for w in words))
        title = f"{kind}: {uid}   label {label:+.2f}, {main.name} {pred:+.2f} (|error| {abs(pred - label):.2f})"
        if not words:
            out.append(f"<h3>{esc(kind)}: {esc(uid)}</h3>" + na("no alignment rows for this utterance"))
            continue
        out.append(f'<h3 id="example-{esc(kind)}">{esc(kind)}: {esc(uid)}</h3><p class="transcript">“{esc(text)}”</p>'
                   + (na(why) if why else "")
                   + figure(figures.utterance(wave, sr, words, title, att or None), f"fig-example-{kind}",
                            f"{kind} test utterance: waveform, word timings and fusion attention."))
    return "\n".join(out)


def provenance_section(models: list[ModelView], inputs: ReportInputs) -> str:
    from msaflow.evaluation.results import stage_benchmarks
    from msaflow.reporting import figures

    results = [v for v in models if v.result]
    if not results:
        return na("no result files")
    out = ['<table class="small"><thead><tr><th>result</th><th>created</th><th>code hash</th><th>encoder</th>'
           "<th>seeds</th><th>data (train/valid/test, failed)</th></tr></thead><tbody>"]
    for v in results:
        p, d = v.result.get("provenance", {}), v.result.get("data", {})
        out.append(f"<tr><th>{esc(v.result_path)}</th><td>{esc(p.get('created'))}</td><td><code>{esc(p.get('code_hash'))}</code></td>"
                   f"<td>{esc(p.get('encoder'))}</td><td>{esc(v.result.get('seeds'))}</td>"
                   f"<td>{esc(d.get('train'))}/{esc(d.get('valid'))}/{esc(d.get('test'))}, {esc(d.get('failed_utterances'))}</td></tr>")
    out.append("</tbody></table>")
    libraries = sorted({k for v in results for k in (v.result.get("provenance", {}).get("versions") or {})})
    if libraries:
        out.append('<h3 id="versions">Library versions</h3><table class="small"><thead><tr><th>library</th>'
                   + "".join(f"<th>{esc(v.name)}</th>" for v in results) + "</tr></thead><tbody>"
                   + "".join(f"<tr><th>{esc(lib)}</th>" + "".join(
                       f"<td>{esc((v.result['provenance'].get('versions') or {}).get(lib))}</td>" for v in results) + "</tr>"
                       for lib in libraries) + "</tbody></table>")
    bench = stage_benchmarks(inputs.benchmarks, inputs.dataset) if inputs.benchmarks else {}
    if bench:
        stages = list(bench)
        out.append('<h3 id="times">Time per stage</h3>' + figure(
            figures.stage_times(stages, [bench[s]["wall_s"] for s in stages], [bench[s]["cpu_s"] for s in stages],
                                f"{inputs.dataset}: wall and CPU time per stage"),
            "fig-times", "Wall and CPU seconds per stage, summed over its jobs (Snakemake benchmark files).")
            + '<table class="small"><thead><tr><th>stage</th><th>jobs</th><th>wall s</th><th>CPU s</th><th>peak RSS MB</th>'
            "</tr></thead><tbody>" + "".join(
                f"<tr><th>{esc(s)}</th><td>{b['jobs']}</td><td>{b['wall_s']:.1f}</td><td>{b['cpu_s']:.1f}</td>"
                f"<td>{b['max_rss_mb']:.0f}</td></tr>" for s, b in bench.items()) + "</tbody></table>")
    else:
        wall = {}
        for v in results:
            wall.update(v.result.get("provenance", {}).get("wall_time_s") or {})
        if wall:
            out.append('<h3 id="times">Time per stage</h3>' + figure(
                figures.stage_times(list(wall), list(wall.values()), [None] * len(wall), "wall time per stage"),
                "fig-times", "Wall seconds per stage from the result files (CPU time needs the benchmark files)."))
        else:
            out.append(na("no benchmark files and no stage times in the result files"))
    for v in results:
        config = v.result.get("provenance", {}).get("config")
        out.append(f"<details><summary>Configuration behind {esc(v.result_path)}</summary><pre>"
                   f"{esc(json.dumps(config, indent=2, sort_keys=True))}</pre></details>")
    return "\n".join(out)


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#cfd8dc;font-size:13px}
nav{position:sticky;top:0;background:#eceff1;padding:6px 24px;border-bottom:1px solid #cfd8dc;z-index:2}
nav a{margin-right:16px;color:#1565c0;text-decoration:none;font-size:14px}
main{padding:8px 24px 40px;max-width:1400px}
section.top{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px 18px 16px;margin:16px 0}
h2{font-size:19px;border-bottom:2px solid #90a4ae;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0;background:#fff}
th,td{border:1px solid #ddd;padding:4px 7px;text-align:right;vertical-align:top}
table.metrics td{white-space:nowrap}
thead th{background:#eceff1;text-align:center}th.model,tbody th{text-align:left}
td.best{background:#e8f5e9;font-weight:600}tr.sig td{background:#fff8e1}td.bad{color:#b71c1c;font-weight:600}
small{color:#666}.caption{font-size:12.5px;color:#555;max-width:1100px}
.na{color:#8d6e63;font-style:italic;font-size:13px}
.row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure.fig{margin:8px 0;background:#fff}figure.fig img{display:block;max-width:100%;height:auto}
figcaption{font-size:12px;color:#555;max-width:700px}
pre{background:#f5f5f5;padding:8px;font-size:11.5px;overflow:auto;max-height:420px}
.transcript{font-size:14px;margin:2px 0}
"""


def build_report(inputs: ReportInputs, log=None) -> str:
    log = log or get_logger("report")
    models, notes = collect_models(inputs.results, inputs.runs_root, log)
    summary = _read_json(inputs.summary) if inputs.summary else None
    if summary is None:  # every result embeds the summary of its dataset
        summary = next((v.result.get("dataset_summary") for v in models if v.result and v.result.get("dataset_summary")), None)
    main = next((v for v in models if v.result), None)
    sections = {
        "comparison": comparison_section(models),
        "ablation": ablation_section(models),
        "models": "\n".join(model_section(v) for v in models) or na("no models"),
        "data": data_section(inputs, summary),
        "examples": examples_section(inputs, models, main, log),
        "provenance": provenance_section(models, inputs),
    }
    nav = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title in SECTIONS)
    body = "".join(f'<section class="top" id="{sid}"><h2>{esc(title)}</h2>{sections[sid]}</section>' for sid, title in SECTIONS)
    created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    names = ", ".join(v.name for v in models) or "none"
    warn = "".join(f'<p class="na">{esc(n)}</p>' for n in notes)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            f"<title>msaflow report: {esc(inputs.dataset)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>msaflow report: {esc(inputs.dataset)}</h1><p>models: {esc(names)} · {created} · "
            f"results: {esc(', '.join(inputs.results) or 'none')}</p></header><nav>{nav}</nav><main>{warn}{body}</main></body></html>\n")
