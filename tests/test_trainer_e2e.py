"""End to end through Snakemake: tokens -> train (2 models x 2 seeds) -> evaluate -> show.

The upstream stages (audio, align, acoustic, visual, words) are replaced by small synthetic files
in their contract formats, and Snakemake is restricted to this issue's rules (--allowed-rules).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def write_upstream(work: Path, n: int = 60):
    from msaflow.common import write_tsv
    from msaflow.features.csd import write_csd
    from msaflow.training.synthetic import make_av_corpus

    c = make_av_corpus(n=n, audio_dim=5, vision_dim=3, seed=5)
    rows, words, audio = c["rows"], c["words"], c["audio"]
    ds = work / "demo"
    cols = ["utterance_id", "video_id", "clip_id", "text", "label", "annotation", "mode", "shard", "media_path", "start", "end"]
    write_tsv(ds / "manifest.tsv", cols, [[r.get(c, "s000" if c == "shard" else "") for c in cols] for r in rows])
    ids = [r["utterance_id"] for r in rows]
    failed_audio, failed_words = ids[0], ids[1]
    write_tsv(ds / "audio" / "s000.qc.tsv", ["utterance_id", "status", "reason"],
              [[u, "failed" if u == failed_audio else "ok", ""] for u in ids])
    write_tsv(ds / "align" / "s000.tsv", ["utterance_id", "word_index", "word", "start", "end", "source"],
              [[u, i, w, i * 0.3, i * 0.3 + 0.3, "pocketsphinx"] for u, ws in words.items() if u != failed_audio for i, w in enumerate(ws)])
    write_tsv(ds / "align" / "s000.qc.tsv", ["utterance_id", "status", "reason"], [[u, "ok", ""] for u in ids if u != failed_audio])
    write_tsv(ds / "acoustic" / "covarep_like" / "s000.qc.tsv", ["utterance_id", "status", "reason"],
              [[u, "ok", ""] for u in ids if u != failed_audio])
    keep = [u for u in ids if u not in (failed_audio, failed_words)]
    write_tsv(ds / "words" / "covarep_like.qc.tsv", ["utterance_id", "status", "reason"],
              [[u, "failed" if u == failed_words else "ok", ""] for u in ids if u != failed_audio])
    write_csd(ds / "words" / "covarep_like.csd", "covarep_like",
              [(u, audio[u], np.stack([np.arange(len(audio[u])), np.arange(len(audio[u])) + 1], 1) * 0.3) for u in keep],
              {"column names": [f"c{i}" for i in range(5)]})
    write_csd(ds / "acoustic" / "covarep_like" / "s000.h5", "covarep_like", [(u, *c["audio_frames"][u]) for u in keep],
              {"column names": [f"c{i}" for i in range(5)]})
    # vision: one utterance without a face (failed in the visual words QC, hence in tokens)
    no_face = keep[-1]
    write_tsv(ds / "words" / "facial_like.qc.tsv", ["utterance_id", "status", "reason"],
              [[u, "failed" if u == no_face else "ok", "visual: no face in any frame" if u == no_face else ""] for u in keep])
    write_csd(ds / "words" / "facial_like.csd", "facial_like",
              [(u, c["vision"][u], np.stack([np.arange(len(audio[u])), np.arange(len(audio[u])) + 1], 1) * 0.3)
               for u in keep if u != no_face], {"column names": [f"v{i}" for i in range(3)]})
    write_csd(ds / "visual" / "facial_like" / "s000.h5", "facial_like", [(u, *c["vision_frames"][u]) for u in keep if u != no_face],
              {"column names": [f"v{i}" for i in range(3)]})
    return ids, no_face


@pytest.mark.e2e
def test_pipeline_reaches_the_result_file(tmp_path):
    ids, no_face = write_upstream(tmp_path / "work")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["work_dir"] = "work"
    config["datasets"] = {"demo": {"root": "corpus", "shards": 1, "source": "raw"}}
    config["train"].update(seeds=[1111, 1112], epochs=1, threads=1, dataset_overrides={})
    config["evaluate"]["bootstrap"] = 200
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "config.yaml"), "--cores", "2", "--allowed-rules", "tokens", "train", "evaluate",
           "dataset_summary",
           "--show-failed-logs", "results/cmbertav_demo.json"]
    # rules call `msaflow` from PATH: the venv's entry point (the package installed editable)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    result = json.loads((tmp_path / "results" / "cmbertav_demo.json").read_text())
    test = result["metrics"]["test"]
    assert all(np.isfinite(v["mean"]) for v in test.values())
    assert result["seeds"] == [1111, 1112] and result["baseline"]["model"] == "tbert"
    assert result["describe"]["cls_audio"] == "mean" and result["describe"]["audio_reaches_output"] is True
    d = result["data"]
    # QC adds up: manifest = failed upstream + failed here + usable, and the splits hold the usable ones
    assert d["manifest"] == len(ids) and d["failed_upstream"] == 2  # audio + words
    assert d["train"] + d["valid"] + d["test"] + d["failed_utterances"] == len(ids)
    assert d["failed_tokens"] == 1 and d["vision_set"] == "facial_like"  # the utterance without a face
    qc = (tmp_path / "work" / "demo" / "tokens" / "minilm-l6" / "covarep_like.qc.tsv").read_text().splitlines()
    assert len(qc) - 1 == len(ids) - 2  # the tokens QC accounts for exactly the utterances it received
    assert any(line.startswith(no_face) and "no face in any frame" in line for line in qc)
    summary = result["dataset_summary"]
    assert summary["utterances"] == len(ids) and summary["qc"]["audio"]["failed"] == 1
    assert summary["qc"]["words"]["failed"] == 1 and summary["qc"]["tokens"]["ok"] == len(ids) - 3
    assert set(result["provenance"]["wall_time_s"]) >= {"tokens_minilm-l6_covarep_like", "train-cmbertav", "train-tbert"}
    preds = (tmp_path / "work" / "demo" / "runs" / "cmbertav" / "seed1111" / "predictions.tsv").read_text().splitlines()
    assert len(preds) - 1 == d["valid"] + d["test"]
    show = subprocess.run([sys.executable, "-m", "msaflow.cli", "show", "results/cmbertav_demo.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert show.returncode == 0 and "mae" in show.stdout and "tbert" in show.stdout
    # the modality ablation: cmbertav declares audio (not vision); its audio reaches the output
    ablation = result["ablation"]
    assert set(ablation["conditions"]) == {"audio_zero", "audio_shuffle"}
    assert ablation["conditions"]["audio_zero"]["max_abs_prediction_change"] > 0
    assert "modality ablation" in show.stdout
