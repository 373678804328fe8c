"""Stage `train`: one model, one seed -> runs/{model}/seed{seed}/ (model.pt, predictions.tsv, history.json,
ablation.tsv, bundle.json: what `msaflow predict` needs to score a new clip, msaflow.bundle).

Model selection uses the validation split only; predictions are written for valid and test with
the selected epoch's weights. A killed job resumes from runs/.../checkpoint.pt. With the same
weights, the test split is predicted again with each non-text modality zeroed and shuffled
(msaflow.training.ablation) -> ablation.tsv.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from msaflow.common import MsaflowError, atomic_path, atomic_write_text, get_logger, write_tsv


def _json_arg(text: str) -> dict:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError as error:
        raise MsaflowError(f"settings are not valid JSON ({error}): {text[:200]}") from None
    if not isinstance(value, dict):
        raise MsaflowError("settings must be a JSON object")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokens", required=True, help="tokens/{encoder}/{fset}.pt")
    parser.add_argument("--model", required=True, help="model name (config 'models' entry)")
    parser.add_argument("--model-settings", default="{}", help="JSON: the model's config entry")
    parser.add_argument("--train-settings", default="{}", help="JSON: the 'train' config section (minus seeds)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out-dir", required=True, help="runs/{model}/seed{seed}")
    parser.add_argument("--dataset", default="", help="dataset name (for the run bundle)")
    parser.add_argument("--pipeline", default="{}",
                        help="JSON: settings of the stages before tokens (audio, align, acoustic, words), for the run bundle")
    parser.add_argument("--waveforms", default=None,
                        help="tokens/{encoder}/{fset}.waveforms.pt: raw 16 kHz audio for models that read it (cmt)")
    parser.add_argument("--init-checkpoint", default=None,
                        help="a pretraining checkpoint the model starts from (cmt: work/pretrain/.../model.pt or tapt)")
    parser.add_argument("--manifest", default=None,
                        help="work/{ds}/manifest.tsv: the speakers, for models that centre per speaker (cmt "
                             "speaker_centering); without it the video part of each utterance id")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--log", default=None)


def _attach_speakers(data: dict, args, log) -> None:
    """Speaker indices for a model that normalises per speaker: from the manifest, else the utterance ids."""
    from msaflow.corpus import read_manifest
    from msaflow.speakers import attach_speaker_index

    rows = read_manifest(args.manifest) if args.manifest else []
    names = attach_speaker_index(data, ("train", "valid", "test"), rows)
    log.info("speakers for per-speaker centring: %d, from %s", len(names),
             args.manifest or "the utterance ids (video part; no --manifest)")


def main(args) -> int:
    import torch

    from msaflow.bundle import bundle_record, write_bundle
    from msaflow.models import build_model, model_settings
    from msaflow.tokenize import load_tokens
    from msaflow.training import TrainConfig, Trainer, seed_everything
    from msaflow.training.ablation import ABLATION_COLUMNS, run_ablation

    log = get_logger("train", args.log)
    t0 = time.time()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = model_settings(args.model, {args.model: _json_arg(args.model_settings)})
    train_settings = _json_arg(args.train_settings)
    train_settings.pop("seeds", None)
    if args.threads:
        train_settings["threads"] = args.threads
    config = TrainConfig.from_dict(train_settings)
    data = load_tokens(args.tokens)
    meta = data["meta"]
    settings.setdefault("encoder", meta.get("encoder"))
    if settings["encoder"] != meta.get("encoder"):
        raise MsaflowError(f"model {args.model} wants encoder {settings['encoder']!r} but {args.tokens} was tokenised "
                           f"with {meta.get('encoder')!r}")
    seed_everything(args.seed)
    model = build_model(settings, meta)
    if getattr(model, "reads_waveforms", False):
        if not args.waveforms:
            raise MsaflowError(f"model {args.model} reads raw audio: pass --waveforms (the tokens file's .waveforms.pt)")
        from msaflow.waveforms import attach_waveforms, load_waveforms

        attach_waveforms(data, load_waveforms(args.waveforms), args.waveforms)
    if getattr(model, "needs_speakers", False):
        _attach_speakers(data, args, log)
    if args.init_checkpoint:
        if not hasattr(model, "load_pretrained"):
            raise MsaflowError(f"model {args.model} ({settings.get('arch')}) cannot start from a pretraining checkpoint")
        model.load_pretrained(args.init_checkpoint)
    trainer = Trainer(model, config, args.seed, out_dir, log)
    history = trainer.fit(data["train"], data["valid"], fingerprint_extra={"model": settings, "tokens": str(args.tokens),
                                                                          "counts": meta.get("counts"),
                                                                          **({"init": args.init_checkpoint}
                                                                             if args.init_checkpoint else {})})
    rows = []
    for split in ("valid", "test"):
        preds, loss = trainer.predict(data[split])
        history[f"{split}_loss_selected"] = loss
        for uid, label, pred in zip(data[split]["ids"], data[split]["labels"].tolist(), preds.tolist(), strict=True):
            rows.append((uid, split, f"{label:.6g}", f"{pred:.8g}"))
    ablation_rows, ablation_summary = run_ablation(trainer.predict, model, data["test"])
    history["ablation_mean_abs_change"] = ablation_summary
    for condition, change in ablation_summary.items():
        log.info("ablation %s: mean |prediction change| on test %.4g", condition, change)
    history.update(model=args.model, settings=settings, describe=model.describe(), train_config=vars(config),
                   tokens=str(args.tokens), wall_time_s=round(time.time() - t0, 3),
                   torch=torch.__version__, python=platform.python_version())
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "settings": settings,
                    "meta": {k: v for k, v in meta.items() if k != "counts"}}, tmp)
    write_bundle(out_dir, bundle_record(args.model, args.seed, args.dataset, settings, model.describe(), meta,
                                        _json_arg(args.pipeline), vars(config)))
    write_tsv(out_dir / "predictions.tsv", ("utterance_id", "split", "label", "prediction"), rows)
    write_tsv(out_dir / "ablation.tsv", ABLATION_COLUMNS, ablation_rows)
    atomic_write_text(out_dir / "history.json", json.dumps(history, indent=2, default=str) + "\n")
    trainer.finish()
    log.info("seed %d done in %.1f s; best epoch %s", args.seed, time.time() - t0, history.get("best_epoch"))
    return 0
