"""LF-BERT: a deliberately simple late-fusion baseline (no paper; a sanity check).

prediction = MLP([BERT [CLS]; mean of the word-level audio over words; mean of the word-level
vision over words]), MLP = Linear -> ReLU -> Dropout -> Linear.

It tells whether the non-text signal of a corpus is reachable at all, independently of the seed
papers' architectures: the utterance-level means enter the output through one hidden layer, so a
signed, utterance-level shift in the voice or the face (which CM-BERT cannot see, docs/models.md)
moves the prediction directly. Without vision (an audio-only corpus) the vision mean is left out.
"""

from __future__ import annotations

import torch
from torch import nn

from msaflow.models.base import MsaModel, TextEncoderMixin
from msaflow.models.blocks import masked_mean

DEFAULTS = {
    "lr_encoder": 2e-5,
    "lr_head": 3e-3,
    "weight_decay": 0.01,
    "hidden": 128,
    "dropout": 0.1,
    "freeze_embeddings": True,  # as T-BERT, so that the paired comparison differs only in the fusion
}


class LfBert(TextEncoderMixin, MsaModel):
    reference = "late-fusion sanity baseline (this project): BERT [CLS] + masked means of word-level audio and vision"

    def __init__(self, settings: dict, meta: dict, encoder=None):
        MsaModel.__init__(self, {**DEFAULTS, **settings})
        s = self.settings
        self.feature_dims = {m: int(meta.get(f"{m}_dim") or 0) for m in ("audio", "vision")}
        self.feature_dims = {m: d for m, d in self.feature_dims.items() if d > 0}
        self.modalities = ("text", *self.feature_dims)
        self._init_encoder(s.get("encoder"), encoder, s.get("random_init", False))
        width = self.hidden_size + sum(self.feature_dims.values())
        self.mlp = nn.Sequential(nn.Dropout(s["dropout"]), nn.Linear(width, s["hidden"]), nn.ReLU(),
                                 nn.Dropout(s["dropout"]), nn.Linear(s["hidden"], 1))

    def forward(self, batch: dict) -> torch.Tensor:
        words = batch["word_index"] >= 0 if "word_index" in batch else batch["attention_mask"].bool()
        parts = [self.encode(batch)[:, 0].float()] + [masked_mean(batch[m], words) for m in self.feature_dims]
        return self.mlp(torch.cat(parts, dim=-1)).squeeze(-1)

    def param_groups(self) -> list[dict]:
        return self.encoder_and_rest_groups("head", self.settings["lr_head"])
