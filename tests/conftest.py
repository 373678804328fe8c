import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def require_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"tests need {', '.join(missing)} on PATH (make test installs them)")


@pytest.fixture
def speech_wav(tmp_path):
    """A short espeak-ng utterance (22.05 kHz mono) to build media files from."""
    require_tools("espeak-ng")
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), "the movie was wonderful"], check=True)
    return path


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


VISUAL_PYTHON = REPO / ".venv-visual" / "bin" / "python"


@pytest.fixture(scope="session")
def visual_python():
    """The visual environment's python (mediapipe); tests that need it skip when it is absent."""
    if not VISUAL_PYTHON.exists():
        pytest.skip(f"{VISUAL_PYTHON} missing: `make setup` builds it from envs/visual.lock")
    return str(VISUAL_PYTHON)


def run_visual_probe(visual_python, *args):
    """tests/visual_env_probe.py inside the visual environment (see its docstring)."""
    result = subprocess.run([visual_python, str(REPO / "tests" / "visual_env_probe.py"), *map(str, args)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"visual probe {args[0]} failed: {result.stderr[-2000:]}")


def run_exports(tmp_path, manifest, align, audio_words, audio_qc, vision_words=None):
    """`msaflow exports` on word files built by a test; returns the MAG-BERT pickle's content."""
    import pickle

    from msaflow.cli import main as cli_main

    out = tmp_path / "exports"
    out.mkdir(exist_ok=True)
    args = ["exports", "--manifest", str(manifest), "--align", str(align), "--audio-words", str(audio_words),
            "--audio-qc", str(audio_qc), "--mmsa-out", str(out / "mmsa.pkl"), "--mag-out", str(out / "mag.pkl"),
            "--info-out", str(out / "info.json"), "--qc", str(out / "qc.tsv")]
    if vision_words:
        args += ["--vision-words", str(vision_words)]
    assert cli_main(args) == 0
    with open(out / "mag.pkl", "rb") as f:
        return pickle.load(f)


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """The small demo pipeline (e2e_pipeline: 6 videos x 4 clips, 1 seed, 1 epoch) built once per test
    session through the result file and the exports; modules that change it work on a copy
    (e2e_pipeline.copy_workdir)."""
    from e2e_pipeline import FSET, snakemake, targets, write_config, write_small_spec

    root = tmp_path_factory.mktemp("small_demo")
    work = root / "built"
    write_config(work, write_small_spec(root / "spec.yaml"))
    snakemake(work, *targets(), f"work/demo/exports/{FSET}_mmsa_aligned.pkl", timeout=3600)
    return work
