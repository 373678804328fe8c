"""T-BERT: BERT fine-tuned on text alone, [CLS] -> linear.

Reference: Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding", NAACL 2019; the text-only baseline of CM-BERT (Yang et al., ACM MM 2020, Table 1)
and of every later BERT-based MSA paper.
"""

from __future__ import annotations

import torch

from msaflow.models.base import MsaModel, TextEncoderMixin
from msaflow.models.blocks import RegressionHead, init_linear_like_bert

DEFAULTS = {
    "lr_encoder": 2e-5,
    "lr_head": 2e-5,
    "weight_decay": 0.01,
    "dropout": 0.1,
    "freeze_embeddings": True,
}


class TBert(TextEncoderMixin, MsaModel):
    modalities = ("text",)
    reference = "Devlin et al. 2019 (BERT), fine-tuned text-only baseline as in Yang et al. 2020 (CM-BERT) Table 1"

    def __init__(self, settings: dict, meta: dict, encoder=None):
        MsaModel.__init__(self, {**DEFAULTS, **settings})
        self._init_encoder(self.settings.get("encoder"), encoder, self.settings.get("random_init", False))
        self.head = RegressionHead(self.hidden_size, self.settings["dropout"])
        init_linear_like_bert(self.head)

    def forward(self, batch: dict) -> torch.Tensor:
        hidden = self.encode(batch)
        return self.head(hidden[:, 0].float())

    def param_groups(self) -> list[dict]:
        return self.encoder_and_rest_groups("head", self.settings["lr_head"])
