"""The embedded demo corpus: synthetic talking-face clips whose sentiment is known by construction.

Each clip's label is a documented function of three components (see resources/demo/spec.yaml and
docs/demo_corpus.md): the sentence's polarity (text), the voice's prosody (audio: pitch level,
final pitch glide, speaking rate, loudness) and the expression of a real face photograph warped
per clip (vision: lip-corner curvature and brow slant, msaflow.demo_faces), plus Gaussian noise.
Lexically neutral sentences make some labels depend on voice and picture alone, so a text-only
model cannot reach the best achievable score, which is computed and written down.

Output (MMSA layout): `<root>/label.csv`, `<root>/Raw/<video_id>/<clip_id>.mp4` (H.264 + AAC),
and `<root>/generative_process.json`.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

from msaflow.common import MsaflowError, atomic_write_text, get_logger, progress
from msaflow.demo_faces import FacePhoto, Look, draw_look, load_faces, render_frames

LABEL_COLUMNS = ["video_id", "clip_id", "text", "label", "annotation", "mode", "label_T", "label_A", "label_V"]


@dataclass(frozen=True)
class ClipPlan:
    video_id: str
    clip_id: str
    mode: str
    text: str
    s_text: float
    s_audio: float
    s_vision: float
    label: float
    voice: str
    pitch: int
    rate: int
    amplitude: int
    glide_cents: int
    look: Look          # the speaker's face photo and how it is shown
    motion_seed: int    # head motion and blinks of this clip


def load_spec(path: str | Path) -> dict:
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise MsaflowError(f"demo spec {path} not found; config 'demo.spec' must name a file like resources/demo/spec.yaml") from error
    if sum(spec["splits"].values()) != spec["videos"] or len(spec["speakers"]) < spec["videos"]:
        raise MsaflowError(f"{path}: splits must add up to 'videos' and there must be a speaker per video")
    if "dir" not in spec.get("faces", {}):
        raise MsaflowError(f"{path}: needs a 'faces' section naming the face photos' folder (faces.dir), "
                           "see resources/demo/spec.yaml")
    faceless = [i + 1 for i, speaker in enumerate(spec["speakers"]) if not speaker.get("face")]
    if faceless:
        raise MsaflowError(f"{path}: speakers {faceless} have no 'face' (a photo name from faces.dir/faces.json)")
    spec["faces"]["dir"] = str(Path(path).parent / spec["faces"]["dir"])
    return spec


def face_files(spec_path: str | Path) -> list[str]:
    """The face photographs and their landmark file that the spec's speakers are drawn from."""
    return sorted(str(p) for p in Path(load_spec(spec_path)["faces"]["dir"]).iterdir() if p.is_file())


def compose_label(spec: dict, s_text, s_audio, s_vision, noise):
    w = spec["weights"]
    return np.clip(w["text"] * s_text + w["audio"] * s_audio + w["vision"] * s_vision + noise, -3.0, 3.0)


def sample_components(spec: dict, rng: np.random.Generator, n: int):
    """Draw (sentence, s_text, s_audio, s_vision, noise) for n clips, in a fixed order of draws."""
    templates, lexicon = spec["polar_templates"], spec["lexicon"]
    words = sorted(lexicon)
    sentences, s_text = [], np.zeros(n)
    neutral = rng.random(n) < spec["neutral_sentence_fraction"]
    template_idx = rng.integers(0, len(templates), n)
    word_idx = rng.integers(0, len(words), n)
    neutral_idx = rng.integers(0, len(spec["neutral_sentences"]), n)
    for i in range(n):
        if neutral[i]:
            sentences.append(spec["neutral_sentences"][neutral_idx[i]])
        else:
            template = templates[template_idx[i]]
            word = words[word_idx[i]]
            sentences.append(template["text"].format(adj=word))
            s_text[i] = template["sign"] * lexicon[word]
    a, v = spec["component_range"]["audio"], spec["component_range"]["vision"]
    s_audio = rng.uniform(-a, a, n)
    s_vision = rng.uniform(-v, v, n)
    noise = rng.normal(0.0, spec["noise_sd"], n)
    return sentences, s_text, s_audio, s_vision, noise


def best_achievable(spec: dict, seed: int, draws: int = 200_000) -> dict:
    """Monte Carlo bounds implied by the generative process (independent of the drawn corpus).

    `all_modalities`: the oracle that knows every component and only misses the noise.
    `text_only`: the oracle that knows the sentence polarity and nothing else (its best MAE
    predictor is the conditional median of the label given s_text).
    """
    rng = np.random.default_rng(seed + 1)
    _, s_text, s_audio, s_vision, noise = sample_components(spec, rng, draws)
    label = compose_label(spec, s_text, s_audio, s_vision, noise)
    oracle = compose_label(spec, s_text, s_audio, s_vision, 0.0)
    text_median = np.zeros(draws)
    text_mean = np.zeros(draws)
    for value in np.unique(s_text):
        mask = s_text == value
        text_median[mask] = np.median(label[mask])
        text_mean[mask] = label[mask].mean()

    def scores(prediction):
        return {
            "mae": round(float(np.mean(np.abs(label - prediction))), 4),
            "corr": round(float(np.corrcoef(label, prediction)[0, 1]), 4),
        }

    return {
        "all_modalities": scores(oracle),
        "text_only": {"mae": scores(text_median)["mae"], "corr": scores(text_mean)["corr"]},
        "draws": draws,
    }


def plan_clips(spec: dict, seed: int) -> list[ClipPlan]:
    rng = np.random.default_rng(seed)
    n_videos, per_video = spec["videos"], spec["clips_per_video"]
    order = rng.permutation(n_videos)
    modes = []
    for mode in ("train", "valid", "test"):
        modes += [mode] * spec["splits"][mode]
    video_mode = {int(v): modes[i] for i, v in enumerate(order)}
    sentences, s_text, s_audio, s_vision, noise = sample_components(spec, rng, n_videos * per_video)
    labels = compose_label(spec, s_text, s_audio, s_vision, noise)
    unit = spec["prosody_per_unit"]
    # Drawn after every label component, so the labels do not depend on how faces are shown.
    looks = [draw_look(rng, spec["speakers"][video]["face"]) for video in range(n_videos)]
    motion_seeds = rng.integers(0, 2**31, n_videos * per_video)
    plans = []
    for i in range(n_videos * per_video):
        video, clip = divmod(i, per_video)
        speaker = spec["speakers"][video]
        a = s_audio[i]
        plans.append(ClipPlan(
            video_id=f"demo_v{video + 1:02d}",
            clip_id=str(clip + 1),
            mode=video_mode[video],
            text=sentences[i],
            s_text=float(s_text[i]),
            s_audio=round(float(a), 4),
            s_vision=round(float(s_vision[i]), 4),
            label=round(float(labels[i]), 4),
            voice=speaker["voice"],
            pitch=int(np.clip(round(speaker["pitch"] + unit["pitch"] * a), 0, 99)),
            rate=int(round(speaker["rate"] + unit["rate"] * a)),
            amplitude=int(round(spec["base_amplitude"] + unit["amplitude"] * a)),
            glide_cents=int(round(unit["pitch_range"] * 20 * a)),
            look=looks[video],
            motion_seed=int(motion_seeds[i]),
        ))
    return plans


def _run(cmd: list[str], what: str, stdin: bytes | None = None) -> None:
    result = subprocess.run(cmd, input=stdin, capture_output=True)
    if result.returncode != 0:
        raise MsaflowError(f"{what} failed ({' '.join(cmd[:2])}...): {result.stderr.decode(errors='replace').strip()[-400:]}")


def wav_duration(path: Path) -> float:
    with wave.open(str(path)) as handle:
        return handle.getnframes() / handle.getframerate()


def render_clip(plan: ClipPlan, out_path: Path, spec: dict, faces: dict[str, FacePhoto], scratch: Path) -> None:
    stem = f"{plan.video_id}_{plan.clip_id}"
    speech, bent = scratch / f"{stem}.wav", scratch / f"{stem}.bent.wav"
    _run(["espeak-ng", "-v", plan.voice, "-p", str(plan.pitch), "-s", str(plan.rate), "-a", str(plan.amplitude),
          "-w", str(speech), plan.text], f"espeak-ng for {stem}")
    duration = wav_duration(speech)
    # Final pitch glide: rising for positive prosody, falling for negative (sox rejects 0 cents).
    if plan.glide_cents:
        _run(["sox", "-V1", "-R", "-D", "-G", str(speech), str(bent), "bend",
              f"{0.5 * duration:.3f},{plan.glide_cents},{0.45 * duration:.3f}"], f"sox bend for {stem}")
    else:
        shutil.copyfile(speech, bent)
    video = spec["video"]
    width, height, fps = video["width"], video["height"], video["fps"]
    n_frames = int(np.ceil(duration * fps)) + 1
    frames = render_frames(faces[plan.look.face], plan.look, plan.s_vision, n_frames, video, spec["faces"],
                           plan.motion_seed).tobytes()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
          "-r", str(fps), "-i", "pipe:0", "-i", str(bent), "-map", "0:v", "-map", "1:a",
          "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1", "-pix_fmt", "yuv420p",
          "-c:a", "aac", "-b:a", "64k", "-shortest", "-map_metadata", "-1",
          "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", str(out_path)],
         f"ffmpeg for {stem}", stdin=frames)
    speech.unlink()
    bent.unlink()


def check_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox", "ffmpeg") if shutil.which(tool) is None]
    if missing:
        raise MsaflowError(f"the demo corpus needs {', '.join(missing)} on PATH: apt-get install espeak-ng sox ffmpeg (or `make setup`)")


def make_demo_corpus(spec_path: str | Path, seed: int, root: str | Path, threads: int = 1, log_file=None) -> dict:
    """Synthesise the corpus into `root` (label.csv, Raw/, generative_process.json)."""
    log = get_logger("make-demo", log_file)
    check_tools()
    spec = load_spec(spec_path)
    root = Path(root)
    plans = plan_clips(spec, seed)
    faces = load_faces(spec["faces"]["dir"])
    unknown = sorted({p.look.face for p in plans} - set(faces))
    if unknown:
        raise MsaflowError(f"{spec_path}: speakers use faces {unknown} that {spec['faces']['dir']}/faces.json "
                           f"does not have (it has {sorted(faces)})")
    log.info("rendering %d clips from %d videos with %d threads", len(plans), spec["videos"], threads)
    root.mkdir(parents=True, exist_ok=True)
    raw_tmp = Path(tempfile.mkdtemp(prefix=".Raw.", dir=root))
    try:
        with tempfile.TemporaryDirectory(prefix="msaflow-demo-") as scratch:
            with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
                jobs = [pool.submit(render_clip, p, raw_tmp / p.video_id / f"{p.clip_id}.mp4", spec, faces,
                                    Path(scratch)) for p in plans]
                for job in progress(jobs, desc="demo clips"):
                    job.result()
    except BaseException:
        shutil.rmtree(raw_tmp, ignore_errors=True)
        raise
    raw = root / "Raw"
    if raw.exists():
        shutil.rmtree(raw)
    raw_tmp.rename(raw)

    rows = [[p.video_id, p.clip_id, p.text, p.label, annotation_of(p.label), p.mode,
             p.s_text, p.s_audio, p.s_vision] for p in plans]
    labels = np.array([p.label for p in plans])
    process = {
        "formula": "label = clip(w_text*s_text + w_audio*s_audio + w_vision*s_vision + noise, -3, 3)",
        "weights": spec["weights"], "noise_sd": spec["noise_sd"], "component_range": spec["component_range"],
        "seed": seed, "clips": len(plans), "videos": spec["videos"],
        "best_achievable": best_achievable(spec, seed),
        "label_mean": round(float(labels.mean()), 4), "label_sd": round(float(labels.std()), 4),
        "clips_per_split": {m: sum(p.mode == m for p in plans) for m in ("train", "valid", "test")},
        "components_in_label_csv": {"label_T": "s_text", "label_A": "s_audio", "label_V": "s_vision"},
        "faces": {"rendering": {k: v for k, v in spec["faces"].items() if k != "dir"},
                  "photos": face_provenance(spec["faces"]["dir"], {p.look.face for p in plans})},
        "plans": [asdict(p) for p in plans],
    }
    atomic_write_text(root / "generative_process.json", json.dumps(process, indent=1))
    write_label_csv(root / "label.csv", rows)
    log.info("demo corpus ready: %s (%d clips)", root, len(plans))
    return process


def face_provenance(directory: str | Path, names: set[str]) -> dict:
    index = json.loads((Path(directory) / "faces.json").read_text(encoding="utf-8"))
    return {name: {k: index[name][k] for k in ("subject", "source", "licence")} for name in sorted(names)}


def annotation_of(label: float) -> str:
    return "Positive" if label > 0 else "Negative" if label < 0 else "Neutral"


def write_label_csv(path: Path, rows) -> None:
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LABEL_COLUMNS)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
