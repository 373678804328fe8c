"""T-BERT: BERT fine-tuned on text alone, [CLS] (or the pooler) -> dropout -> linear.

Reference: Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding", NAACL 2019; the text-only baseline of CM-BERT (Yang et al., ACM MM 2020, Table 1)
and of every later BERT-based MSA paper.

`head: cls` (default) reads the last layer's [CLS] vector, as CM-BERT's own output does, so that
the paired comparison with CM-BERT differs only in the fusion. `head: pooler` is BERT's
sequence-level classifier as its reference code and pytorch-pretrained-bert's
`BertForSequenceClassification` build it: the checkpoint's pooler (tanh(dense([CLS])),
pre-trained on next-sentence prediction), dropout 0.1, linear; the CM-BERT code descends from that
class (its `model.py` still computes the pooled output, then ignores it). Why cls is the default:
docs/models.md (T-BERT).
"""

from __future__ import annotations

import torch

from msaflow.models.base import MsaModel, TextEncoderMixin
from msaflow.models.blocks import RegressionHead, init_linear_like_bert

HEADS = ("pooler", "cls")

DEFAULTS = {
    "head": "cls",
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
        if self.settings["head"] not in HEADS:
            raise ValueError(f"tbert head must be one of {HEADS}, got {self.settings['head']!r}")
        self._init_encoder(self.settings.get("encoder"), encoder, self.settings.get("random_init", False))
        if self.settings["head"] == "pooler" and getattr(self.encoder, "pooler", None) is None:
            raise ValueError("tbert head: pooler, but the encoder has no pooler layer; set head: cls")
        self.head = RegressionHead(self.hidden_size, self.settings["dropout"])
        init_linear_like_bert(self.head)

    def forward(self, batch: dict) -> torch.Tensor:
        out = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        features = out.pooler_output if self.settings["head"] == "pooler" else out.last_hidden_state[:, 0]
        return self.head(features.float())

    def param_groups(self) -> list[dict]:
        return self.encoder_and_rest_groups("head", self.settings["lr_head"])

    def frozen_patterns(self) -> list[str]:
        return self.encoder_frozen_patterns()

    def describe(self) -> dict:
        return {**super().describe(), "head": self.settings["head"]}
