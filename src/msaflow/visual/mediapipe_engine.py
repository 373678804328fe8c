"""Engine `mediapipe`: one worker process per shard in the visual environment, results via a file.

The worker (worker.py, run with `visual.python`) writes an .npz and a .json into a private
temporary folder; this side turns them into ClipFrames. Its stderr (progress lines, MediaPipe's
own messages) goes to the stage's log as it arrives.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections import deque
from pathlib import Path

import numpy as np

from msaflow.common import MsaflowError
from msaflow.visual import ClipFrames

WORKER = Path(__file__).with_name("worker.py")
OPTIONS = ("fps", "fps_max", "max_faces", "min_detection_confidence", "min_tracking_confidence")
# MediaPipe/TFLite notices printed for every clip (graph reset) that say nothing about the data.
HARMLESS = ("inference_feedback_manager", "landmark_projection_calculator", "before absl::InitializeLog",
            "Created TensorFlow Lite XNNPACK delegate")
SETUP_HINT = ("create it with `make setup` (a virtualenv from envs/visual.lock) or `conda env create -f envs/visual.yaml`, "
              "and point config visual.python at its python")


def check_options(vset: str, options: dict | None) -> dict:
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise MsaflowError(f"visual.options.{vset}: unknown option(s) {unknown} (allowed: {', '.join(OPTIONS)})")
    return options


def worker_environment() -> dict:
    """The caller's environment minus what would make the visual python import main-env packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run(clips: list[dict], vset: str, options: dict, python: str, logger=None) -> tuple[dict[str, ClipFrames], dict]:
    """clips: [{"id", "path", "start", "end"}] -> ({utterance_id: ClipFrames}, worker summary)."""
    if not (Path(python).is_file() and os.access(python, os.X_OK)):
        raise MsaflowError(f"the visual environment's python {python} does not exist: {SETUP_HINT}")
    jobs = {"feature_set": vset, "options": check_options(vset, options),
            "clips": [{**c, "path": str(Path(c["path"]).resolve())} for c in clips]}
    with tempfile.TemporaryDirectory(prefix="msaflow-visual-") as tmp:
        jobs_path, npz_path, json_path = (Path(tmp) / name for name in ("jobs.json", "frames.npz", "summary.json"))
        jobs_path.write_text(json.dumps(jobs))
        cmd = [python, str(WORKER), "--jobs", str(jobs_path), "--out-npz", str(npz_path), "--out-json", str(json_path)]
        tail: deque[str] = deque(maxlen=15)
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=worker_environment()) as proc:
            for line in proc.stdout:
                line = line.rstrip()
                if line and not any(text in line for text in HARMLESS):
                    tail.append(line)
                    if logger:
                        logger.info("%s", line)
        if proc.returncode != 0 or not json_path.exists():
            raise MsaflowError(f"the visual worker ({python} {WORKER.name}) failed with exit code {proc.returncode}: "
                               + " | ".join(tail) + f". If mediapipe is missing there, {SETUP_HINT}")
        summary = json.loads(json_path.read_text())
        out: dict[str, ClipFrames] = {}
        with np.load(npz_path) as arrays:
            for result in summary["clips"]:
                if result["status"] != "ok":
                    out[result["id"]] = ClipFrames(error=result["reason"])
                    continue
                i = result["index"]
                times = arrays[f"c{i}_times"].astype(np.float64)
                intervals = np.stack([times, times + 1.0 / result["fps"]], axis=1)
                out[result["id"]] = ClipFrames(arrays[f"c{i}_features"].astype(np.float32), intervals,
                                               arrays[f"c{i}_faces"].astype(np.int64))
    return out, summary
