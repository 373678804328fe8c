"""Linear probe: how much of the demo's vocal sentiment can be read from CMT's speech encoder (printed).

    PYTHONPATH=src HF_HUB_OFFLINE=1 python benchmarks/probe_speech_encoder.py [--work work] [--ridge 100]

Needs a built demo with CMT's pretraining (`snakemake --cores 2 results/cmt_demo.json`). For each
speech encoder (hubert-small with random weights, after PT, after PT + TAPT) every utterance becomes
the mean and standard deviation of the encoder's output frames; a ridge regression fitted on the
train split predicts the label's audio component (`label_A` = s_audio in the demo's label.csv) on
the test split, whose speakers are unseen. The COVAREP-style frames of the tokens file (normalised
as the config says, per speaker by default) give the same summary as a reference: they are what
LF-BERT reads. Prints test corr and MAE per encoder, and the MAE of predicting the train mean.
Each encoder row is printed twice: as is, and with every speaker's mean of the summary subtracted
(the speakers of the manifest; what CMT's `speaker_centering` does to the pooled audio).
Used in docs/models.md (CMT, "What the speech encoder knows").
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from msaflow.corpus import read_manifest
from msaflow.encoders import load_speech_encoder
from msaflow.models.cmt import SpeechEncoder
from msaflow.speakers import utterance_speakers

ENCODER_NAME = "minilm-l6_hubert-small_2x4"


def summary(frames: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, H) frames, (B, T) or (B, T, H) validity -> (B, 2H) mean and standard deviation over valid frames."""
    weight = (valid if valid.dim() == 3 else valid.unsqueeze(-1)).float()
    count = weight.sum(1).clamp_min(1)
    mean = (frames * weight).sum(1) / count
    std = (((frames - mean.unsqueeze(1)) ** 2) * weight).sum(1).div(count).sqrt()
    return torch.cat([mean, std], -1)


def encoder_features(encoder: SpeechEncoder, split: dict, batch: int = 8) -> np.ndarray:
    encoder.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(split["ids"]), batch):
            lengths = split["audio_waveform_lengths"][start : start + batch]
            waveform = split["audio_waveform"][start : start + batch, : int(lengths.max())].float()
            parts.append(summary(*encoder(waveform, lengths)))
    return torch.cat(parts).numpy()


def centre_per_speaker(features: np.ndarray, speakers: list[str]) -> np.ndarray:
    out = features.copy()
    speakers = np.asarray(speakers)
    for speaker in np.unique(speakers):
        out[speakers == speaker] -= features[speakers == speaker].mean(0)
    return out


def ridge_scores(train_x, train_y, test_x, test_y, strength: float) -> tuple[float, float]:
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = (train_x - mu) / sd, (test_x - mu) / sd
    weights = np.linalg.solve(a.T @ a + strength * np.eye(a.shape[1]), a.T @ (train_y - train_y.mean()))
    prediction = b @ weights + train_y.mean()
    return float(np.corrcoef(prediction, test_y)[0, 1]), float(np.abs(prediction - test_y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="work")
    parser.add_argument("--encoder", default="minilm-l6", help="the tokens encoder folder")
    parser.add_argument("--ridge", type=float, default=100.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    tokens_dir = work / "demo" / "tokens" / args.encoder
    waveforms = torch.load(tokens_dir / "covarep_like.waveforms.pt", weights_only=False)
    tokens = torch.load(tokens_dir / "covarep_like.pt", weights_only=False)
    with open(work / "demo" / "corpus" / "label.csv", newline="") as f:
        s_audio = {f"{r['video_id']}$_${r['clip_id']}": float(r["label_A"]) for r in csv.DictReader(f)}

    manifest = work / "demo" / "manifest.tsv"
    rows = read_manifest(manifest) if manifest.exists() else []
    speakers = {s: utterance_speakers(waveforms[s]["ids"], rows) for s in ("train", "test")}

    def targets(split: dict) -> np.ndarray:
        return np.array([s_audio[i] for i in split["ids"]])

    def report(name: str, train_x, test_x, train_y, test_y) -> None:
        corr, mae = ridge_scores(train_x, train_y, test_x, test_y, args.ridge)
        print(f"{name:48s} test corr {corr:.3f}  MAE {mae:.3f}", flush=True)

    constant = float(np.abs(targets(tokens["test"]) - targets(tokens["train"]).mean()).mean())
    print(f"s_audio on test, predicting the train mean: MAE {constant:.3f}")
    report("COVAREP-style frames (tokens file normalisation)",
           *(summary(tokens[s]["audio_frames"].float(), tokens[s]["audio_frames_valid"]).numpy() for s in ("train", "test")),
           targets(tokens["train"]), targets(tokens["test"]))
    checkpoints = {"hubert-small, random weights": None,
                   "hubert-small after PT": work / "pretrain" / ENCODER_NAME / "model.pt",
                   "hubert-small after PT + TAPT": work / "demo" / "tapt" / ENCODER_NAME / "model.pt"}
    for name, checkpoint in checkpoints.items():
        torch.manual_seed(0)
        encoder = SpeechEncoder(load_speech_encoder("hubert-small"))
        if checkpoint is not None:
            backbone = torch.load(checkpoint, weights_only=False)["backbone"]
            encoder.load_state_dict({k.removeprefix("speech."): v for k, v in backbone.items() if k.startswith("speech.")})
        train_x, test_x = encoder_features(encoder, waveforms["train"]), encoder_features(encoder, waveforms["test"])
        report(name, train_x, test_x, targets(waveforms["train"]), targets(waveforms["test"]))
        report(f"{name}, per-speaker centred", centre_per_speaker(train_x, speakers["train"]),
               centre_per_speaker(test_x, speakers["test"]), targets(waveforms["train"]), targets(waveforms["test"]))


if __name__ == "__main__":
    main()
