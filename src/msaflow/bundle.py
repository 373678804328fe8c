"""The run bundle (DESIGN §3): a training run folder that can score a new clip on its own.

`runs/{model}/seed{seed}/` holds `model.pt` (the selected epoch's weights, the model settings and
the tokens metadata) and `bundle.json`, written by the train stage next to it:

* `model`, `seed`, `dataset`, `model_settings` (architecture, encoder, every hyper-parameter),
  `describe` (what exactly ran);
* `tokens_meta`: the tokens file's metadata (encoder, max_length, feature widths and column names,
  and per modality `audio_words` / `vision_words`: feature set, kept columns, fill step and the
  train-split z-normalisation statistics the words stage applied);
* `pipeline`: the settings of the stages before tokens (audio, align, acoustic set and extractor
  options, word averaging; visual when configured), from msaflow.training.workflow_config;
* `train`: the train settings; `versions`: library versions.

`msaflow predict` reads only this folder (and the packages), never the dataset or config.yaml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from msaflow.common import MsaflowError, atomic_write_text

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = "msaflow-run-bundle/1"
CHECKPOINT_FILE = "model.pt"


def bundle_record(model: str, seed: int, dataset: str, settings: dict, describe: dict, tokens_meta: dict,
                  pipeline: dict, train: dict) -> dict:
    from msaflow.evaluation.results import library_versions

    return {
        "format": BUNDLE_FORMAT,
        "model": model,
        "seed": int(seed),
        "dataset": dataset,
        "checkpoint": CHECKPOINT_FILE,
        "model_settings": settings,
        "describe": describe,
        "tokens_meta": {k: v for k, v in tokens_meta.items() if k != "counts"},
        "pipeline": pipeline,
        "train": train,
        "versions": library_versions(),
    }


def write_bundle(run_dir, record: dict) -> Path:
    path = Path(run_dir) / BUNDLE_FILE
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return path


@dataclass
class RunBundle:
    run_dir: Path
    record: dict

    @property
    def model(self) -> str:
        return self.record["model"]

    @property
    def seed(self) -> int:
        return int(self.record["seed"])

    @property
    def settings(self) -> dict:
        return self.record["model_settings"]

    @property
    def meta(self) -> dict:
        return self.record["tokens_meta"]

    @property
    def pipeline(self) -> dict:
        return self.record.get("pipeline") or {}

    @property
    def modalities(self) -> list[str]:
        return list((self.record.get("describe") or {}).get("modalities") or ["text"])

    def inference_key(self) -> str:
        """Everything that decides how a clip becomes model input: runs that agree can share features."""
        meta = {k: v for k, v in self.meta.items() if k not in ("wall_time_s", "audio_source", "vision_source")}
        for key in ("audio_words", "vision_words"):
            if meta.get(key):
                meta[key] = {k: v for k, v in meta[key].items() if k != "source"}
        return json.dumps({"pipeline": self.pipeline, "meta": meta}, sort_keys=True, default=str)


def load_bundle(run_dir) -> RunBundle:
    run_dir = Path(run_dir)
    path = run_dir / BUNDLE_FILE
    if not path.is_file():
        if (run_dir / CHECKPOINT_FILE).is_file():
            raise MsaflowError(f"{run_dir} has {CHECKPOINT_FILE} but no {BUNDLE_FILE}: it was trained before runs "
                               f"recorded what inference needs; retrain it (snakemake --forcerun train <its model.pt>)")
        raise MsaflowError(f"{run_dir} is not a training run folder (no {BUNDLE_FILE}); give runs/<model>/seed<seed>, "
                           "runs/<model> or --result results/<model>_<dataset>.json")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MsaflowError(f"{path} is not valid JSON ({error}); retrain the run") from None
    if record.get("format") != BUNDLE_FORMAT:
        raise MsaflowError(f"{path}: format {record.get('format')!r}, expected {BUNDLE_FORMAT!r}")
    if not (run_dir / record.get("checkpoint", CHECKPOINT_FILE)).is_file():
        raise MsaflowError(f"{run_dir}: {record.get('checkpoint', CHECKPOINT_FILE)} is missing; retrain the run")
    return RunBundle(run_dir, record)


def bundle_dirs(run: str | None = None, result: str | None = None) -> list[Path]:
    """Run folders to load: one seed folder, every seed folder under runs/<model>, or a result's seeds."""
    if bool(run) == bool(result):
        raise MsaflowError("give exactly one of --run runs/<model>[/seed<seed>] or --result results/<model>_<ds>.json")
    if run:
        path = Path(run)
        if (path / BUNDLE_FILE).is_file() or (path / CHECKPOINT_FILE).is_file():
            return [path]
        seeds = sorted(p for p in path.glob("seed*") if p.is_dir())
        if not seeds:
            raise MsaflowError(f"{path}: neither a run folder (runs/<model>/seed<seed>) nor a folder of them")
        return seeds
    path = Path(result)
    if not path.is_file():
        raise MsaflowError(f"{path} does not exist (build it with: snakemake --cores 2 {path})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MsaflowError(f"{path} is not valid JSON ({error})") from None
    runs = data.get("runs")
    if runs:
        dirs = [Path(runs[str(s)]) for s in data["seeds"]]
    else:  # result files written before they listed their runs: the workflow's layout
        work = (data.get("provenance", {}).get("config", {}) or {}).get("work_dir", "work")
        dirs = [Path(work) / data["dataset"] / "runs" / data["model"] / f"seed{s}" for s in data["seeds"]]
    # relative run folders are relative to the workflow folder: try the result's grandparent too
    out = []
    for d in dirs:
        if not d.is_absolute() and not d.exists() and (path.resolve().parent.parent / d).exists():
            d = path.resolve().parent.parent / d
        out.append(d)
    return out


def load_model_file(path, device: str = "cpu", fast: bool = True):
    """A trained model from a run's model.pt (weights, settings, tokens metadata), in eval mode.

    With `fast` the encoder is built from its config instead of its pre-trained weights: the
    checkpoint holds every weight (loaded strictly), so nothing is read twice."""
    import torch

    from msaflow.models import build_model

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        settings, meta = dict(state["settings"]), state["meta"]
    except (KeyError, TypeError) as error:
        raise MsaflowError(f"{path} is not an msaflow model file ({error}); retrain the run") from None
    except Exception as error:
        raise MsaflowError(f"{path} cannot be read ({error}); retrain the run") from None
    if fast:
        settings["random_init"] = True
    model = build_model(settings, meta)
    try:
        model.load_state_dict(state["state_dict"], strict=True)
    except RuntimeError as error:
        raise MsaflowError(f"{path} does not fit model {settings.get('arch')} ({str(error)[:300]}); retrain the run") from None
    model.settings.pop("random_init", None)
    return model.to(device).eval()


def load_model(bundle: RunBundle, device: str = "cpu"):
    return load_model_file(bundle.run_dir / bundle.record.get("checkpoint", CHECKPOINT_FILE), device)
