"""Model registry: architecture name -> class; config entry -> settings."""

from __future__ import annotations

import importlib

from msaflow.common import MsaflowError

ARCHITECTURES: dict[str, str] = {
    "tbert": "msaflow.models.tbert:TBert",
    "cmbert": "msaflow.models.cmbert:CMBert",
    "lfbert": "msaflow.models.lfbert:LfBert",
    "senbert": "msaflow.models.senbert:SenBert",
    "mhmf": "msaflow.models.mhmf:MhmfBert",
    "cmt": "msaflow.models.cmt:CMT",
}


# What the workflow must know about a model before building it (Snakemake imports no torch): models
# that read the raw waveform (the train job then needs the waveforms file) and the CMT settings that fix
# its pretraining checkpoint (models/cmt.py takes its defaults from here).
RAW_AUDIO_ARCHITECTURES = ("cmt",)
CMT_STRUCTURE_DEFAULTS = {"speech_encoder": "hubert-small", "layers": 2, "heads": 4, "init": "tapt"}


def model_class(arch: str):
    if arch not in ARCHITECTURES:
        raise MsaflowError(f"unknown model architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    module_name, class_name = ARCHITECTURES[arch].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def model_settings(name: str, models_config: dict) -> dict:
    """The settings of model `name` from the `models:` config section (arch defaults to the name)."""
    if name not in models_config:
        if name in ARCHITECTURES:
            return {"arch": name}
        raise MsaflowError(f"model {name!r} is not in config 'models' (known: {', '.join(models_config)})")
    settings = dict(models_config[name] or {})
    settings.setdefault("arch", name)
    return settings


def build_model(settings: dict, meta: dict, encoder=None):
    """Instantiate the model; `encoder` (a transformers model) overrides `settings['encoder']`."""
    cls = model_class(settings.get("arch", ""))
    try:
        return cls(settings, meta, encoder=encoder)
    except ValueError as error:
        raise MsaflowError(f"model {settings.get('arch')}: {error}") from None
