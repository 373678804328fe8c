"""Benchmark of the visual stage (printed numbers and ratios, not a timed test).

  PYTHONPATH=src python benchmarks/bench_visual.py [--corpus work/demo/corpus] [--clips 48]

On the demo corpus's clips (96 x 96 px, 10 fps; `make demo` builds it), in one run:
1. the stage as the pipeline runs it: `msaflow visual --vset facial_like` on a shard table of the
   clips (main process + its worker in .venv-visual);
2. MediaPipe called directly: one python in .venv-visual that decodes the same clips with OpenCV
   and runs the same face mesh (refine_landmarks, max_num_faces 2, reset per clip) on every frame,
   nothing else.
CPU time includes children (resource.getrusage(RUSAGE_CHILDREN) around each subprocess, which
counts the worker under the stage's process), so process start-up and imports count for both. The
two alternate `--repeat` times and the least CPU time of each is kept (a shared machine only ever
adds time).
3. with `--frames-dir work/demo/visual/facial_like` (the stage's outputs of a demo run): the share of
   frames with a face, and a ridge regression from utterance means of facial_like to the demo's
   visual component label_V (fit on train, corr on test).
Goals (issue 10): >= 100 frames per CPU second for the stage, overhead <= 25 % over (2), a face in
>= 98 % of the demo's frames, ridge corr >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIRECT = """
import sys, cv2, mediapipe as mp
mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=2, refine_landmarks=True)
frames = found = 0
for path in sys.argv[1:]:
    mesh.reset()
    cap = cv2.VideoCapture(path)
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        result = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        frames += 1
        found += result.multi_face_landmarks is not None
print(frames, found)
"""


def cpu_of(cmd: list[str], env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.time()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.time() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed: {result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, result


def ridge_check(frames_dir: Path, corpus: Path) -> None:
    import csv

    import numpy as np
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    from msaflow.features import csd

    means, n_frames, n_found = {}, 0, 0
    for path in sorted(frames_dir.glob("*.h5")):
        entries, meta = csd.read_csd(path)
        for uid, (features, _) in entries.items():
            n_frames += len(features)
            n_found += int(np.nansum(features[:, 0]))
            means[uid] = np.nanmean(features[:, 1:], axis=0)  # column 0 is face_found
    with open(corpus / "label.csv", newline="") as handle:
        labels = {f"{r['video_id']}$_${r['clip_id']}": (float(r["label_V"]), r["mode"]) for r in csv.DictReader(handle)}
    ids = sorted(u for u in means if u in labels)
    x = np.nan_to_num(np.array([means[u] for u in ids]))
    y = np.array([labels[u][0] for u in ids])
    mode = np.array([labels[u][1] for u in ids])
    train, test = mode == "train", mode == "test"
    scaler = StandardScaler().fit(x[train])
    model = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(scaler.transform(x[train]), y[train])
    corr = np.corrcoef(model.predict(scaler.transform(x[test])), y[test])[0, 1]
    print(f"frames with a face: {n_found}/{n_frames} = {n_found / n_frames:.1%} (goal >= 98%)")
    print(f"ridge(utterance means of facial_like) -> label_V: test corr {corr:.3f} "
          f"(train {train.sum()}, test {test.sum()}, alpha {model.alpha_:g}; goal >= 0.9)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="work/demo/corpus")
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--python", default=str(REPO / ".venv-visual" / "bin" / "python"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frames-dir", default=None, help="visual/facial_like folder of a demo run (part 3)")
    args = parser.parse_args()
    if args.frames_dir:
        ridge_check(Path(args.frames_dir), Path(args.corpus))
    clips = sorted(Path(args.corpus).glob("Raw/*/*.mp4"))[: args.clips]
    if not clips:
        raise SystemExit(f"no clips under {args.corpus}/Raw: run `make demo` (or pass --corpus)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    from msaflow.common import write_tsv
    from msaflow.features import csd

    with tempfile.TemporaryDirectory(prefix="bench-visual-") as tmp:
        shard = Path(tmp) / "shard.tsv"
        rows = [(f"{p.parent.name}$_${p.stem}", p.parent.name, p.stem, "", 0, "", "train", "s000", str(p.resolve()), "", "")
                for p in clips]
        write_tsv(shard, ["utterance_id", "video_id", "clip_id", "text", "label", "annotation", "mode", "shard",
                          "media_path", "start", "end"], rows)
        stage_cmd = [sys.executable, "-m", "msaflow.cli", "visual", "--vset", "facial_like", "--shard-manifest", str(shard),
                     "--python", args.python, "--out", str(Path(tmp) / "v.h5"), "--qc", str(Path(tmp) / "v.qc.tsv")]
        direct_cmd = [args.python, "-c", DIRECT, *map(str, clips)]
        # warm the file cache and both environments' imports once, then measure
        cpu_of(direct_cmd[:3] + [str(clips[0])], env)
        direct_runs, stage_runs = [], []
        for _ in range(args.repeat):
            direct_runs.append(cpu_of(direct_cmd, env))
            stage_runs.append(cpu_of(stage_cmd, env))
        direct_cpu, direct_wall, direct = min(direct_runs, key=lambda run: run[0])
        stage_cpu, stage_wall, _ = min(stage_runs, key=lambda run: run[0])
        frames, _ = csd.read_csd(Path(tmp) / "v.h5")
        stage_frames = sum(len(f) for f, _ in frames.values())
        found = sum(int(f[:, 0].sum()) for f, _ in frames.values())
    direct_frames, direct_found = map(int, direct.stdout.split())
    print(f"clips: {len(clips)} from {args.corpus} ({direct_frames} frames); least CPU of {args.repeat} runs each")
    print(f"mediapipe directly : {direct_cpu:7.2f} CPU s ({direct_wall:6.1f} s wall)  "
          f"{direct_frames / direct_cpu:6.1f} frames/CPU-s  face in {direct_found}/{direct_frames}")
    print(f"msaflow visual     : {stage_cpu:7.2f} CPU s ({stage_wall:6.1f} s wall)  "
          f"{stage_frames / stage_cpu:6.1f} frames/CPU-s  face in {found}/{stage_frames}")
    print(f"stage frames per CPU second: {stage_frames / stage_cpu:.1f} (goal >= 100)")
    print(f"stage overhead over mediapipe directly: {stage_cpu / direct_cpu - 1:+.1%} (goal <= +25%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
