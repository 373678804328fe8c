"""Config helpers for the tokens, train and evaluate rules (pure functions of the config dict).

Kept in the package (not in the .smk files) so that the rule files hold only rules and the
logic is testable; the rules call them through lambdas.
"""

from __future__ import annotations

import json

from msaflow.sdk_entry import SDK_ACOUSTIC_FSET  # word features of SDK datasets: the real COVAREP


def tokens_encoder(config: dict, ds: str) -> str:
    tok = config["tokens"]
    return tok.get("dataset_encoders", {}).get(ds, tok["encoder"])




def tokens_fset(config: dict, ds: str, source: str = "raw") -> str:
    """Word-level audio feature set for `ds`: per-dataset setting, else COVAREP for SDK datasets, else audio_fset."""
    tok = config["tokens"]
    if ds in tok.get("dataset_audio_fsets", {}):
        return tok["dataset_audio_fsets"][ds]
    return SDK_ACOUSTIC_FSET if source == "sdk" else tok["audio_fset"]


def tokens_vset(config: dict, ds: str, source: str = "raw") -> str | None:
    """Visual feature set of `ds` for the tokens file, or None (no vision).

    Per-dataset setting (`null` = no vision, e.g. an audio-only corpus), else for datasets read from
    CMU-MultimodalSDK files the first SDK visual file present in the folder (FACET 4.1/4.2, OpenFace 2;
    none: no vision), else `tokens.vision_fset`.
    """
    tok = config["tokens"]
    if ds in tok.get("dataset_vision_fsets", {}):
        return tok["dataset_vision_fsets"][ds]
    if source == "sdk":
        from msaflow.sdk_entry import sdk_visual_files

        cfg = config["datasets"][ds]
        present = sdk_visual_files(cfg["root"], cfg.get("folds", "none"), cfg.get("sdk_files", {}).get("visual", {}))
        return next(iter(present), None)
    return tok.get("vision_fset")


def tokens_inputs(config: dict, ds: str, fset: str, shards: list[str], source: str = "raw") -> dict:
    """Inputs of the tokens rule: words, alignment, QC, and the frame files of audio (and vision)."""
    work = config["work_dir"]
    files = {
        "manifest": f"{work}/{ds}/manifest.tsv",
        "align": [f"{work}/{ds}/align/{s}.tsv" for s in shards],
        # the audio words QC decides who enters (usable ids); align QC failures are excluded too
        "usable_qc": f"{work}/{ds}/words/{fset}.qc.tsv",
        "upstream_qc": [f"{work}/{ds}/align/{s}.qc.tsv" for s in shards],
        "audio_words": f"{work}/{ds}/words/{fset}.csd",
        "audio_frames": [f"{work}/{ds}/acoustic/{fset}/{s}.h5" for s in shards],
    }
    vset = tokens_vset(config, ds, source)
    if vset:
        files.update(vision_words=f"{work}/{ds}/words/{vset}.csd", vision_qc=f"{work}/{ds}/words/{vset}.qc.tsv",
                     vision_frames=[f"{work}/{ds}/visual/{vset}/{s}.h5" for s in shards])
    return files


def tokens_vision_args(config: dict, ds: str, inputs, source: str = "raw") -> str:
    """`--vision-*` arguments of msaflow tokens (empty without vision)."""
    vset = tokens_vset(config, ds, source)
    if not vset:
        return ""
    return (f"--vision-set {vset} --vision-words {inputs.vision_words} --vision-qc {inputs.vision_qc}"
            f" --vision-frames {' '.join(inputs.vision_frames)}"
            f" --vision-missing {config['tokens'].get('vision_missing', 'exclude')}")


def tokens_path(config: dict, ds: str, source: str = "raw") -> str:
    return f"{config['work_dir']}/{ds}/tokens/{tokens_encoder(config, ds)}/{tokens_fset(config, ds, source)}.pt"


def model_entry(config: dict, model: str) -> dict:
    models = config.get("models", {})
    if model not in models:
        raise ValueError(f"model {model!r} is not in config.yaml 'models' (known: {', '.join(models)})")
    return models[model]


def model_baseline(config: dict, model: str) -> str | None:
    return model_entry(config, model).get("baseline")


def model_code_files(config: dict, model: str) -> list[str]:
    """Package files implementing `model` (its architecture's module and the shared modules it
    imports) for the train rule's code hash: editing one model's module reruns only its jobs.
    The registry (a name table) is left out, so adding a model reruns no other."""
    from msaflow.codehash import with_imports
    from msaflow.models.registry import ARCHITECTURES

    arch = model_entry(config, model).get("arch", model)
    if arch not in ARCHITECTURES:
        raise ValueError(f"model {model!r}: unknown arch {arch!r} (known: {', '.join(ARCHITECTURES)})")
    module = ARCHITECTURES[arch].split(":")[0]
    return with_imports(module.removeprefix("msaflow.").replace(".", "/") + ".py")


# keys of a models: entry that are not the model's own settings
MODEL_ENTRY_NOT_SETTINGS = ("baseline", "train", "dataset_overrides")


def model_settings(config: dict, model: str, ds: str | None = None) -> dict:
    """The model's settings, then its own overrides for dataset `ds` (`models.<model>.dataset_overrides.<ds>`,
    e.g. CMT's learning rate on the 216-clip demo)."""
    entry = model_entry(config, model)
    settings = {k: v for k, v in entry.items() if k not in MODEL_ENTRY_NOT_SETTINGS}
    if ds is not None:
        settings.update((entry.get("dataset_overrides") or {}).get(ds, {}))
    return settings


def model_settings_json(config: dict, model: str, ds: str | None = None) -> str:
    return json.dumps(model_settings(config, model, ds), sort_keys=True)


def train_settings(config: dict, ds: str, model: str | None = None) -> dict:
    """The train section, then the model's own train settings (`models.<model>.train`, e.g. a
    paper's batch size), then the dataset's overrides (they adapt every model to a corpus, e.g.
    the demo's epochs, so they win), then the model's own overrides for that dataset
    (`models.<model>.train.dataset_overrides.<ds>`, e.g. CMT's 25 epochs on the demo)."""
    settings = {k: v for k, v in config["train"].items() if k != "dataset_overrides"}
    own = dict(model_entry(config, model).get("train") or {}) if model is not None else {}
    settings.update({k: v for k, v in own.items() if k != "dataset_overrides"})
    settings.update(config["train"].get("dataset_overrides", {}).get(ds, {}))
    settings.update((own.get("dataset_overrides") or {}).get(ds, {}))
    return settings


def train_settings_json(config: dict, ds: str, model: str | None = None) -> str:
    settings = train_settings(config, ds, model)
    return json.dumps({k: v for k, v in settings.items() if k not in ("seeds", "threads")}, sort_keys=True)


# --- raw audio and pretraining (CMT) ----------------------------------------------------------------

def model_arch(config: dict, model: str) -> str:
    return model_entry(config, model).get("arch", model)


def model_reads_waveforms(config: dict, model: str) -> bool:
    from msaflow.models.registry import RAW_AUDIO_ARCHITECTURES

    return model_arch(config, model) in RAW_AUDIO_ARCHITECTURES


def waveforms_path(config: dict, ds: str, source: str = "raw") -> str:
    """The raw-audio sibling of the tokens file (same utterances, same order)."""
    return tokens_path(config, ds, source)[: -len(".pt")] + ".waveforms.pt"


def cmt_structure(config: dict, ds: str, model: str) -> dict:
    """The settings of a CMT model that fix its pretraining checkpoint, plus `init`."""
    from msaflow.models.registry import CMT_STRUCTURE_DEFAULTS

    entry = model_settings(config, model, ds)
    structure = {k: entry.get(k, v) for k, v in CMT_STRUCTURE_DEFAULTS.items()}
    structure["encoder"] = entry.get("encoder") or tokens_encoder(config, ds)
    return structure


def pretrain_name(structure: dict) -> str:
    """work/pretrain/{name}: text encoder, speech encoder, blocks x heads, e.g. minilm-l6_hubert-small_2x4."""
    from msaflow.encoders import encoder_key, speech_encoder_key

    return (f"{encoder_key(structure['encoder'])}_{speech_encoder_key(structure['speech_encoder'])}_"
            f"{int(structure['layers'])}x{int(structure['heads'])}")


def pretrain_architecture(config: dict, name: str) -> dict:
    """The architecture of work/pretrain/{name}: found among the configured CMT models and datasets."""
    for model in config.get("models") or {}:
        if model_arch(config, model) != "cmt":
            continue
        for ds in config["datasets"]:
            structure = cmt_structure(config, ds, model)
            if pretrain_name(structure) == name:
                return {k: structure[k] for k in ("encoder", "speech_encoder", "layers", "heads")}
    raise ValueError(f"pretraining {name!r} belongs to no configured cmt model (models with arch cmt and a dataset "
                     f"whose text encoder, speech encoder, layers and heads give this name)")


def model_init_checkpoint(config: dict, ds: str, model: str) -> str | None:
    """The checkpoint a model starts from: PT (`init: pt`), PT + TAPT (`init: tapt`), or none."""
    if model_arch(config, model) != "cmt":
        return None
    structure = cmt_structure(config, ds, model)
    name = pretrain_name(structure)
    return {"none": None, "pt": f"{config['work_dir']}/pretrain/{name}/model.pt",
            "tapt": f"{config['work_dir']}/{ds}/tapt/{name}/model.pt"}[structure["init"]]


def train_inputs(config: dict, ds: str, model: str, source: str = "raw") -> dict:
    """The train job's inputs: the tokens file, and for a raw-audio model its waveforms, checkpoint and manifest."""
    files = {"tokens": tokens_path(config, ds, source)}
    if model_reads_waveforms(config, model):
        if source == "sdk":
            raise ValueError(
                f"model {model!r} reads the raw 16 kHz audio, and dataset {ds!r} comes from CMU-MultimodalSDK files, "
                f"which hold features but no media. Put the raw release (label.csv + Raw/<video_id>/<clip_id>.mp4, "
                f"MMSA layout) in {config['datasets'][ds]['root']} (datasets.{ds}.source: raw), or pick a model that "
                f"reads features (tbert, cmbert)."
            )
        files["waveforms"] = waveforms_path(config, ds, source)
        files["manifest"] = f"{config['work_dir']}/{ds}/manifest.tsv"  # speakers (cmt speaker_centering)
        init = model_init_checkpoint(config, ds, model)
        if init:
            files["init"] = init
    return files


def train_extra_args(inputs) -> str:
    """--waveforms / --init-checkpoint / --manifest for msaflow train, from the rule's named inputs."""
    names = {"waveforms": "--waveforms", "init": "--init-checkpoint", "manifest": "--manifest"}
    return " ".join(f"{flag} {inputs[name]}" for name, flag in names.items() if name in inputs.keys())


PRETRAIN_CORPUS_KEYS = ("corpus", "extra_corpora", "synth", "tapt", "threads", "mem_mb", "runtime_min")


def pretrain_corpora(config: dict) -> list[str]:
    """The corpus folders of the pretrain job: `synth` is the synthesised offline corpus (a rule builds it)."""
    section = config["pretrain"]
    corpus = section["corpus"]
    main = f"{config['work_dir']}/pretrain/synth_corpus" if corpus == "synth" else corpus
    return [main, *section.get("extra_corpora", [])]


def pretrain_settings(config: dict) -> dict:
    """What changes the pretraining numbers, besides the corpus: loop and data settings (max_length
    from the tokens section, so pretraining and fine-tuning cut word-pieces alike)."""
    section = {k: v for k, v in config["pretrain"].items() if k not in PRETRAIN_CORPUS_KEYS}
    return {**section, "max_length": config["tokens"]["max_length"]}


def tapt_settings(config: dict) -> dict:
    return {**pretrain_settings(config), **config["pretrain"].get("tapt", {})}


def run_dirs(config: dict, ds: str, model: str) -> list[str]:
    # seeds are per dataset, never per model: a result and its baseline pair the same seeds
    return [f"{config['work_dir']}/{ds}/runs/{model}/seed{seed}" for seed in train_settings(config, ds)["seeds"]]


def evaluate_inputs(config: dict, ds: str, model: str, source: str = "raw") -> dict:
    files = {"tokens": tokens_path(config, ds, source), "summary": f"results/dataset_{ds}.json"}
    for name, m in (("runs", model), ("baseline_runs", model_baseline(config, model))):
        if m:
            files[name] = [f"{d}/{f}" for d in run_dirs(config, ds, m) for f in ("predictions.tsv", "history.json")]
    files["ablation"] = [f"{d}/ablation.tsv" for d in run_dirs(config, ds, model)]
    return files


def evaluate_baseline_args(config: dict, ds: str, model: str) -> str:
    baseline = model_baseline(config, model)
    if not baseline:
        return ""
    return f"--baseline {baseline} --baseline-runs {' '.join(run_dirs(config, ds, baseline))}"


def evaluate_config_json(config: dict, ds: str, model: str, source: str = "raw") -> str:
    """The config subset that produced a result (written into its provenance)."""
    models = [m for m in (model, model_baseline(config, model)) if m]
    subset = {
        "dataset": config["datasets"][ds],
        "tokens": {**config["tokens"], "encoder": tokens_encoder(config, ds), "audio_fset": tokens_fset(config, ds, source),
                   "vision_fset": tokens_vset(config, ds, source)},
        "train": train_settings(config, ds, model),
        "models": {m: model_entry(config, m) for m in models},
        "evaluate": config["evaluate"],
    }
    return json.dumps(subset, sort_keys=True)


def summary_inputs(config: dict, ds: str, shards: list[str], source: str = "raw") -> dict:
    """Everything the dataset summary counts: manifest, word tables and every stage's QC tables."""
    work, fset = config["work_dir"], tokens_fset(config, ds, source)
    tokens_qc = tokens_path(config, ds, source)[: -len(".pt")] + ".qc.tsv"
    files = {
        "manifest": f"{work}/{ds}/manifest.tsv",
        "align": [f"{work}/{ds}/align/{s}.tsv" for s in shards],
        "qc_align": [f"{work}/{ds}/align/{s}.qc.tsv" for s in shards],
        "qc_acoustic": [f"{work}/{ds}/acoustic/{fset}/{s}.qc.tsv" for s in shards],
        "qc_words": [f"{work}/{ds}/words/{fset}.qc.tsv"],
        "qc_tokens": [tokens_qc],
    }
    if source == "sdk":
        files["qc_sdk_manifest"] = [f"{work}/{ds}/sdk_manifest.qc.tsv"]
    else:
        files["qc_audio"] = [f"{work}/{ds}/audio/{s}.qc.tsv" for s in shards]
    return files


def summary_qc_args(inputs) -> str:
    """`--qc stage=path ...` for msaflow summarize, from the named qc_* inputs of the rule."""
    return " ".join(f"'{name[3:]}={path}'" for name in inputs.keys() if name.startswith("qc_")
                    for path in inputs[name])


def pipeline_settings(config: dict, ds: str, source: str = "raw") -> dict:
    """What the stages before tokens did to the data, as the run bundle records it for `msaflow predict`.

    Only settings that change the numbers (no threads, memory or file lists). Word-level statistics
    (z-normalisation, resolved columns) travel in the tokens file's metadata instead: they are data.
    """
    fset = tokens_fset(config, ds, source)
    words = config["words"]
    settings = {
        "dataset": ds,
        "source": source,
        "audio": dict(config["audio"]),
        "align": {k: v for k, v in config["align"].items() if k != "threads"},
        "acoustic": {"fset": fset, "options": dict(config["acoustic"].get("options", {}).get(fset, {}))},
        "words": {"mode": words["mode"], "fill_value": words["fill_value"], "znorm": words["znorm"],
                  "speaker_min_utterances": words.get("speaker_min_utterances", 5),
                  "columns": words["columns"].get(fset, "all"), "presets": words["presets"]},
        "tokens": {"encoder": tokens_encoder(config, ds), "audio_fset": fset, "max_length": config["tokens"]["max_length"]},
    }
    if config.get("visual"):  # where its environment lives or how much memory it gets changes no number
        settings["visual"] = {k: v for k, v in config["visual"].items() if k not in ("python", "mem_mb", "runtime_min")}
    return settings


def pipeline_settings_json(config: dict, ds: str, source: str = "raw") -> str:
    return json.dumps(pipeline_settings(config, ds, source), sort_keys=True)


def report_models(config: dict, ds: str, exists=None) -> list[str]:
    """Models whose result files results/report_{ds}.html shows, in order.

    `report.models` are required (built when missing); with `report.include_existing`, every other
    model of the `models:` section whose result file exists when the workflow starts is added (a
    Snakemake input must be known before the run, so a result built later joins at the next run:
    the report then reruns because its set of inputs changed).
    """
    from pathlib import Path

    exists = exists or (lambda p: Path(p).exists())
    report = config.get("report") or {}
    required = list(report.get("models") or [])
    for m in required:
        model_entry(config, m)  # a clear error for an unknown name
    extra = []
    if report.get("include_existing", True):
        extra = [m for m in config.get("models", {}) if m not in required and exists(f"results/{m}_{ds}.json")]
    return required + extra


def report_inputs(config: dict, ds: str, shards: list[str], source: str = "raw", exists=None) -> dict:
    """Files the report reads: results, the runs' predictions/history (+ first seed's model.pt for the
    attention figures), dataset summary, manifest, alignment tables, tokens, audio QC (wav folders)."""
    work = config["work_dir"]
    models = report_models(config, ds, exists)
    runs = []
    for m in models:
        for name in (m, model_baseline(config, m)):
            if not name:
                continue
            dirs = run_dirs(config, ds, name)
            for d in dirs:
                runs += [f"{d}/predictions.tsv", f"{d}/history.json"]
            runs.append(f"{dirs[0]}/model.pt")
    files = {
        "results": [f"results/{m}_{ds}.json" for m in models],
        "runs": list(dict.fromkeys(runs)),
        "summary": f"results/dataset_{ds}.json",
        "manifest": f"{work}/{ds}/manifest.tsv",
        "align": [f"{work}/{ds}/align/{s}.tsv" for s in shards],
        "tokens": tokens_path(config, ds, source),
    }
    if source == "raw":
        files["audio_qc"] = [f"{work}/{ds}/audio/{s}.qc.tsv" for s in shards]
    return files
