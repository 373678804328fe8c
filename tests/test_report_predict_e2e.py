"""End to end on the small demo (1 seed, 1 epoch): results/report_demo.html in a real browser,
Snakemake's own report, and `msaflow predict` against the run's own predictions.

The screenshot is a test artifact: $MSAFLOW_TEST_ARTIFACTS (default <repo>/test-artifacts)/report_demo.png.
"""

import base64
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from browser import chromium, inspect, screenshot
from conftest import require_tools
from e2e_pipeline import REPO, SEED, copy_workdir, env, snakemake, update_config

from msaflow.common import read_tsv

pytestmark = pytest.mark.e2e

SECTIONS = ("comparison", "ablation", "models", "data", "examples", "provenance")


@pytest.fixture(scope="module")
def built(small_demo, tmp_path_factory):
    """A copy of the session's small demo (conftest; tbert already trained), plus CM-BERT and the report."""
    require_tools("ffmpeg", "espeak-ng")
    workdir = copy_workdir(small_demo, tmp_path_factory.mktemp("report_e2e") / "built")
    update_config(workdir, "report", models=["cmbert"], include_existing=True)
    snakemake(workdir, "results/report_demo.html", timeout=1800)
    return workdir


def test_report_opens_in_a_browser_with_every_section_and_figure(built, tmp_path):
    if chromium() is None:
        pytest.fail("the report test needs the Debian package chromium (make test installs it)")
    page = built / "results/report_demo.html"
    text = page.read_text()
    assert "<script" not in text and "https://" not in text  # self-contained
    check = inspect(page, tmp_path)
    assert check["errors"] == [] and check["console"] == []
    for section in SECTIONS:
        width, height, _ = check["sections"][section]
        assert width > 0 and height > 50, (section, width, height)
    figures = check["figures"]
    for name in ("tbert", "cmbert"):
        for kind in ("scatter", "confusion", "history"):
            assert f"fig-{kind}-{name}" in figures
    assert {"fig-ablation-cmbert", "fig-labels", "fig-durations", "fig-words", "fig-times",
            "fig-example-best", "fig-example-median", "fig-example-worst"} <= set(figures)
    for fig_id, (w, h, natural_w, natural_h, complete) in figures.items():
        assert complete and w > 50 and h > 50 and natural_w > 0 and natural_h > 0, (fig_id, w, h, natural_w)
    artifacts = Path(os.environ.get("MSAFLOW_TEST_ARTIFACTS", REPO / "test-artifacts"))
    png = screenshot(page, artifacts / "report_demo.png", check["height"], tmp_path)
    assert png.stat().st_size > 10_000
    # CM-BERT's [CLS] attention row is drawn in the example figures (the legend names the run)
    example = re.search(r'id="fig-example-best"><img alt="[^"]*" src="data:image/svg\+xml;base64,([^"]+)"', text)
    assert example and f"cmbert (seed {SEED})" in base64.b64decode(example.group(1)).decode()


def test_snakemake_report_zip(built):
    snakemake(built, "--report", "report.zip", "results/report_demo.html", timeout=600)
    with zipfile.ZipFile(built / "report.zip") as archive:
        names = archive.namelist()
    assert any(n.endswith("report.html") for n in names)
    assert any("report_demo.html" in n for n in names) and any("cmbert_demo.json" in n for n in names)


def _predict(workdir, *args, check=True):
    """`msaflow predict` from this checkout's source, as a user runs it."""
    cmd = [sys.executable, "-m", "msaflow", "predict", *map(str, args)]
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env={**env(), "PYTHONPATH": str(REPO / "src")},
                          timeout=900)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done


def test_predict_reproduces_the_runs_test_predictions(built):
    run = built / f"work/demo/runs/cmbert/seed{SEED}"
    expected = {r["utterance_id"]: float(r["prediction"]) for r in read_tsv(run / "predictions.tsv") if r["split"] == "test"}
    manifest = {r["utterance_id"]: r for r in read_tsv(built / "work/demo/manifest.tsv")}
    one = sorted(expected)[0]
    out = json.loads(_predict(built, manifest[one]["media_path"], "--transcript", manifest[one]["text"],
                              "--run", run, "--json").stdout)
    assert out["score"] == pytest.approx(expected[one], abs=1e-5)
    assert out["qc"]["audio"]["status"] == "ok" and out["words"] and "attention" in out["words"][0]
    assert out["classes"]["class7"] == round(max(-3, min(3, out["score"])))
    # word timings from a TextGrid instead of the aligner: the align table's own timings give the same score
    from msaflow.align.textgrid import format_textgrid, words_textgrid
    from msaflow.align.types import WordInterval

    rows = sorted((r for p in sorted((built / "work/demo/align").glob("s*.tsv")) if not p.name.endswith(".qc.tsv")
                   for r in read_tsv(p) if r["utterance_id"] == one), key=lambda r: int(r["word_index"]))
    words = [WordInterval(r["word"], float(r["start"]), float(r["end"]), r["source"]) for r in rows]
    grid = built / "clip.TextGrid"
    grid.write_text(format_textgrid(words_textgrid(words, words[-1].end + 0.2)))
    out = json.loads(_predict(built, manifest[one]["media_path"], "--transcript-file", grid, "--run", run, "--json").stdout)
    assert out["score"] == pytest.approx(expected[one], abs=1e-5) and out["words"][0]["source"] == "textgrid"
    # a folder of clips with a label.csv-like table, all test clips, the result's seeds as an ensemble
    table = built / "clips.csv"
    table.write_text("video_id,clip_id,text\n" + "".join(
        f"{manifest[u]['video_id']},{manifest[u]['clip_id']},{manifest[u]['text']}\n" for u in sorted(expected)))
    done = _predict(built, "work/demo/corpus", "--transcript-file", table, "--result", "results/cmbert_demo.json",
                    "--out", "scores.tsv")
    rows = {r["utterance_id"]: r for r in read_tsv(built / "scores.tsv")}
    assert set(rows) == set(expected) and all(r["status"] == "ok" for r in rows.values())
    for uid, value in expected.items():
        assert float(rows[uid]["score"]) == pytest.approx(value, abs=1e-5), uid
    assert "predict" in done.stderr  # the progress bar


def test_predict_on_a_clip_without_audio_names_the_problem(built, tmp_path):
    clip = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=1",
                    "-pix_fmt", "yuv420p", str(clip)], check=True)
    done = _predict(built, clip, "--transcript", "hello there", "--run", f"work/demo/runs/cmbert/seed{SEED}", check=False)
    assert done.returncode == 2
    assert "audio stage failed" in done.stderr and "no audio track in silent.mp4" in done.stderr
    assert "Traceback" not in done.stderr
