"""Montreal Forced Aligner (MFA) as an alternative engine.

MFA is installed with conda (it needs Kaldi binaries, which no PyPI-reachable package
provides); see envs/mfa.yaml. One `mfa align` call handles a whole shard: we lay the shard
out as an MFA corpus (one folder per video = one speaker, `<name>.wav` + `<name>.lab`) in a
temporary directory, point MFA's root (`MFA_ROOT_DIR`, `--temporary_directory`) at a fresh
per-job folder so concurrent Snakemake jobs never share MFA's database or work files, and
read back its TextGrids. File names inside the corpus are plain counters because utterance
ids contain `$_$` and arbitrary video/clip names, which MFA would mangle or split on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from msaflow.align.textgrid import engine_words_from_textgrid, read_textgrid
from msaflow.align.types import EngineWord
from msaflow.common import MsaflowError

ENGINE_NAME = "mfa"
MFA_INSTALL_HELP = (
    "the 'mfa' engine needs Montreal Forced Aligner, and 'mfa' is not on PATH. Install it with conda "
    "(it brings Kaldi, which pip cannot): `conda env create -f envs/mfa.yaml && conda activate msaflow-mfa`, "
    "then `mfa model download acoustic english_us_arpa` and `mfa model download dictionary english_us_arpa` "
    "(or set align.mfa.dictionary / align.mfa.acoustic_model to files). Or use the built-in engine: "
    "set `align: {engine: pocketsphinx}` in config.yaml (the default), or pass `--engine pocketsphinx`."
)


@dataclass(frozen=True)
class MfaItem:
    utterance_id: str
    speaker: str  # MFA adapts per speaker; we use the video id
    words: list[str]  # spoken words only (no non-speech markers)
    wav_path: Path


def find_mfa(executable: str = "mfa") -> str:
    """Path of the mfa executable, or MsaflowError with install / engine-switch instructions."""
    path = shutil.which(executable)
    if path is None:
        raise MsaflowError(MFA_INSTALL_HELP)
    return path


def build_command(mfa: str, corpus: Path, dictionary: str, acoustic_model: str, output: Path,
                  root: Path, threads: int, extra_args: list[str]) -> list[str]:
    return [mfa, "align", str(corpus), dictionary, acoustic_model, str(output),
            "--clean", "--overwrite", "--output_format", "long_textgrid",
            "--num_jobs", str(max(1, threads)), "--temporary_directory", str(root), *extra_args]


def align_shard_with_mfa(items: list[MfaItem], dictionary: str, acoustic_model: str, threads: int = 1,
                         extra_args: list[str] | None = None, executable: str = "mfa", timeout_s: float | None = None,
                         log=None) -> dict[str, list[EngineWord] | str]:
    """Run `mfa align` once over `items`; per utterance, its words or a failure reason."""
    mfa = find_mfa(executable)
    results: dict[str, list[EngineWord] | str] = {}
    with tempfile.TemporaryDirectory(prefix="msaflow-mfa-") as tmp:
        tmp_dir = Path(tmp)
        corpus, output, root = tmp_dir / "corpus", tmp_dir / "aligned", tmp_dir / "mfa_root"
        root.mkdir()
        names: dict[str, tuple[str, str]] = {}
        speakers: dict[str, str] = {}
        for n, item in enumerate(items):
            speaker = speakers.setdefault(item.speaker, f"spk{len(speakers):05d}")
            name = f"utt{n:06d}"
            (corpus / speaker).mkdir(parents=True, exist_ok=True)
            _link_or_copy(item.wav_path, corpus / speaker / f"{name}.wav")
            (corpus / speaker / f"{name}.lab").write_text(" ".join(item.words) + "\n", encoding="utf-8")
            names[item.utterance_id] = (speaker, name)
        command = build_command(mfa, corpus, dictionary, acoustic_model, output, root, threads, list(extra_args or []))
        env = dict(os.environ, MFA_ROOT_DIR=str(root))
        if log:
            log.info("running %s", " ".join(command))
        try:
            proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise MsaflowError(f"mfa align did not finish within {timeout_s} s") from None
        if log and proc.stdout:
            log.info("mfa output:\n%s", proc.stdout[-5000:])
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip()[-2000:]
            raise MsaflowError(f"mfa align failed (exit {proc.returncode}); its last output:\n{tail}")
        for uid, (speaker, name) in names.items():
            grid_path = output / speaker / f"{name}.TextGrid"
            if not grid_path.exists():
                grid_path = output / f"{name}.TextGrid"  # single-speaker layouts write flat
            if not grid_path.exists():
                results[uid] = "mfa wrote no TextGrid (utterance not aligned; see the job log)"
                continue
            results[uid] = engine_words_from_textgrid(read_textgrid(grid_path), f"utterance {uid!r}")
    return results


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.symlink(Path(src).resolve(), dst)
    except OSError:
        shutil.copyfile(src, dst)
