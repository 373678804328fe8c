"""The interface every model implements for the shared trainer (msaflow.training)."""

from __future__ import annotations

import torch
from torch import nn

from msaflow.models.blocks import NO_DECAY, grouped_parameters, half_mse


class MsaModel(nn.Module):
    """A sentiment regressor. The trainer only uses this interface:

    * `forward(batch) -> (B,) predictions`; batch keys from the tokens contract
      (input_ids, attention_mask, word_index, audio, vision, ...).
    * `loss(prediction, labels)`: the model's main loss (validation, selection).
    * `training_loss(batch) -> (loss, predictions)`: the training objective (main + auxiliary terms).
    * `param_groups()`: optimizer groups (lr, weight decay) for the trainable parameters.
    * `frozen_patterns()`: regexes of parameter names the model keeps frozen.
    * `describe()`: a dict written into history and results (what exactly ran).
    * `prediction_attention()`: after a forward pass, the (B, L) weights with which the position
      the prediction is read from attended over the word-pieces in its fusion step, or None for a
      model without such an attention (the report and `msaflow predict` show it over words).
    * `prepare_split(batches, role)`: split-level statistics before training on or predicting a split.
    """

    modalities: tuple[str, ...] = ("text",)
    reference: str = ""

    def __init__(self, settings: dict):
        super().__init__()
        self.settings = dict(settings)

    def loss(self, prediction: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return half_mse(prediction, labels)

    def training_loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss to minimise, (B,) predictions) for one training batch.

        Models with auxiliary objectives (SenBERT's unimodal heads, MHMF's restitution loss) override
        this; validation and model selection still use `loss(forward(batch), labels)`.
        """
        prediction = self(batch)
        return self.loss(prediction, batch["labels"]), prediction

    def param_groups(self) -> list[dict]:
        raise NotImplementedError

    def frozen_patterns(self) -> list[str]:
        return []

    def prediction_attention(self) -> torch.Tensor | None:
        return None

    def prepare_split(self, batches, role: str) -> None:
        """Called with a split's batches (on the model's device) before the model trains an epoch on it
        (`role` "train") or predicts it ("predict"): a model that needs statistics of the whole split
        (CMT's per-speaker centring) computes them here. Default: nothing (the batches are not read)."""

    def describe(self) -> dict:
        return {"arch": self.settings.get("arch"), "modalities": list(self.modalities), "reference": self.reference}

    def require_choice(self, key: str, choices: tuple[str, ...]) -> None:
        """A ValueError naming the setting when settings[key] is not one of `choices`."""
        if self.settings[key] not in choices:
            raise ValueError(f"{self.settings.get('arch')} {key} must be one of {choices}, got {self.settings[key]!r}")


class TextEncoderMixin:
    """Holds the pre-trained text encoder (`self.encoder`), built from an encoder name or given."""

    def _init_encoder(self, encoder_name: str | None, encoder: nn.Module | None, random_init: bool = False) -> None:
        if encoder is None:
            from msaflow.encoders import load_text_encoder

            encoder = load_text_encoder(encoder_name, random_init=random_init)
        self.encoder = encoder
        self.hidden_size = int(encoder.config.hidden_size)

    def encode(self, batch: dict) -> torch.Tensor:
        out = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return out.last_hidden_state

    def encode_all_layers(self, batch: dict) -> tuple[torch.Tensor, ...]:
        """(embeddings, layer 1, ..., layer N) outputs of the encoder, each (B, L, H)."""
        out = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
        return out.hidden_states

    @property
    def encoder_depth(self) -> int:
        return int(self.encoder.config.num_hidden_layers)

    def encoder_and_rest_groups(self, rest: str, rest_lr: float, no_decay: tuple[str, ...] = ()) -> list[dict]:
        """Optimizer groups: the encoder at settings lr_encoder, every other parameter (`rest`) at `rest_lr`;
        biases, LayerNorm parameters and names containing a `no_decay` tag get no weight decay."""
        return grouped_parameters(
            self.named_parameters(),
            [("encoder", lambda n: n.startswith("encoder."), self.settings["lr_encoder"]), (rest, lambda n: True, rest_lr)],
            self.settings["weight_decay"],
            NO_DECAY + tuple(no_decay),
        )

    def encoder_frozen_patterns(self) -> list[str]:
        return [r"^encoder\.embeddings\."] if self.settings.get("freeze_embeddings", True) else []

    def frozen_patterns(self) -> list[str]:
        return self.encoder_frozen_patterns()
