"""CM-BERT: Cross-Modal BERT for text-audio sentiment analysis.

Reference: Kaicheng Yang, Hua Xu, Kai Gao. "CM-BERT: Cross-Modal BERT for Text-Audio Sentiment
Analysis". ACM Multimedia 2020, pp. 521-528. doi:10.1145/3394171.3413690 (spec:
../shared/seeds/cm-bert.txt §3), plus the published code's facts listed in DESIGN.md §5.

Forward pass (paper §3.2-3.3):
  X_t = BERT last layer (B, L, H);  X_a = word-piece aligned audio (B, L, Da), X_a[CLS] = 0
  X^_t, X^_a = Conv1D(X_t, k_t), Conv1D(X_a, k_a)              (eq. 1; no bias on audio)
  X^'_m = X^_m / sqrt(||X^_m||_F)                               (eq. 2-3; `scale`)
  W_f = w_t ReLU(X^'_t X^'_t^T) + w_a ReLU(X^'_a X^'_a^T) + b   (eq. 4-6)
  X_att = Dropout(Softmax(W_f + M)) X_t                          (eq. 7-8, M = -10000 at padding)
  Y = LayerNorm(Dense(X_t + X_att));  prediction = Linear(Y[CLS])

Finding (docs/models.md): with A_[CLS] = 0 and a kernel-1 projection, row [CLS] of the audio
attention matrix is ReLU(0 . A_j) = 0 for every j, so W_f[CLS, :] and therefore Y[CLS] and the
prediction do not depend on the audio at all. `cls_audio: zero` reproduces this faithfully;
`cls_audio: mean` puts the mean of the utterance's word-piece audio vectors at [CLS] so the audio
path reaches the output. The result file records which one ran.
"""

from __future__ import annotations

import torch
from torch import nn

from msaflow.models.base import MsaModel, TextEncoderMixin
from msaflow.models.blocks import (
    Conv1DProjection,
    MaskedMultimodalAttention,
    RegressionHead,
    grouped_parameters,
    init_linear_like_bert,
    scale_by_sqrt_frobenius,
)

CLS_AUDIO_CHOICES = ("zero", "mean")
SCALE_CHOICES = ("paper", "code")

DEFAULTS = {
    "lr_encoder": 2e-5,
    "lr_fusion": 0.01,
    "lr_head": 2e-5,
    "weight_decay": 0.01,
    "dropout": 0.1,
    "attention_dropout": 0.3,
    "fusion_dim": 30,
    "kernel_text": 1,
    "kernel_audio": 1,
    "scale": "paper",  # paper: scale text and audio (eq. 2-3); code: text only
    "cls_audio": "zero",
    "audio_bias": False,  # the published code's audio Conv1D has no bias; True lets audio reach [CLS] and its sign through
    "mask_value": -10000.0,
    "freeze_embeddings": True,
}

FUSION_PREFIXES = ("proj_text.", "proj_audio.", "fusion_attention.", "dense.", "layer_norm.")


class CMBert(TextEncoderMixin, MsaModel):
    modalities = ("text", "audio")
    reference = "Yang, Xu, Gao. CM-BERT: Cross-Modal BERT for Text-Audio Sentiment Analysis. ACM MM 2020"

    def __init__(self, settings: dict, meta: dict, encoder=None):
        MsaModel.__init__(self, {**DEFAULTS, **settings})
        s = self.settings
        if s["cls_audio"] not in CLS_AUDIO_CHOICES:
            raise ValueError(f"cmbert cls_audio must be one of {CLS_AUDIO_CHOICES}, got {s['cls_audio']!r}")
        if s["scale"] not in SCALE_CHOICES:
            raise ValueError(f"cmbert scale must be one of {SCALE_CHOICES}, got {s['scale']!r}")
        audio_dim = int(meta["audio_dim"])
        if audio_dim < 1:
            raise ValueError("cmbert needs word-level audio features (audio_dim >= 1)")
        self._init_encoder(s.get("encoder"), encoder, s.get("random_init", False))
        h = self.hidden_size
        self.proj_text = Conv1DProjection(h, s["fusion_dim"], s["kernel_text"], bias=False)
        self.proj_audio = Conv1DProjection(audio_dim, s["fusion_dim"], s["kernel_audio"], bias=bool(s["audio_bias"]))
        self.fusion_attention = MaskedMultimodalAttention(2, s["attention_dropout"], s["mask_value"])
        self.dense = nn.Linear(h, h)
        self.layer_norm = nn.LayerNorm(h, eps=1e-12)
        self.head = RegressionHead(h, s["dropout"])
        init_linear_like_bert(nn.ModuleList([self.proj_text, self.proj_audio, self.dense, self.layer_norm, self.head]))

    def audio_with_cls(self, audio: torch.Tensor, word_index: torch.Tensor) -> torch.Tensor:
        """The audio sequence X_a with the [CLS] row set per `cls_audio`."""
        audio = audio.float()
        if self.settings["cls_audio"] == "zero":
            return torch.cat([torch.zeros_like(audio[:, :1]), audio[:, 1:]], dim=1)
        words = (word_index >= 0).unsqueeze(-1).float()
        mean = (audio * words).sum(1, keepdim=True) / words.sum(1, keepdim=True).clamp_min(1.0)
        return torch.cat([mean, audio[:, 1:]], dim=1)

    def forward(self, batch: dict) -> torch.Tensor:
        mask = batch["attention_mask"]
        text = self.encode(batch).float()  # X_t = V_m
        audio = self.audio_with_cls(batch["audio"], batch["word_index"])
        t_hat = self.proj_text(text)
        a_hat = self.proj_audio(audio)
        t_hat = scale_by_sqrt_frobenius(t_hat, mask)
        if self.settings["scale"] == "paper":
            a_hat = scale_by_sqrt_frobenius(a_hat, mask)
        attended = self.fusion_attention([t_hat, a_hat], text, mask)
        fused = self.layer_norm(self.dense(text + attended))
        return self.head(fused[:, 0])

    def param_groups(self) -> list[dict]:
        s = self.settings
        return grouped_parameters(
            self.named_parameters(),
            [
                ("encoder", lambda n: n.startswith("encoder."), s["lr_encoder"]),
                ("fusion", lambda n: n.startswith(FUSION_PREFIXES), s["lr_fusion"]),
                ("head", lambda n: True, s["lr_head"]),
            ],
            s["weight_decay"],
        )

    def frozen_patterns(self) -> list[str]:
        return self.encoder_frozen_patterns()

    def describe(self) -> dict:
        s = self.settings
        audio_reaches_output = s["cls_audio"] != "zero" or s["kernel_audio"] > 1 or bool(s["audio_bias"])
        return {
            **super().describe(),
            "cls_audio": s["cls_audio"],
            "audio_reaches_output": audio_reaches_output,
            "scale": s["scale"],
            "audio_bias": bool(s["audio_bias"]),
            "note": (
                "faithful: zero audio vector at [CLS]; the prediction cannot depend on audio"
                if not audio_reaches_output
                else f"variant: [CLS] audio = {s['cls_audio']}"
                + (" of the word-piece audio vectors" if s["cls_audio"] == "mean" else " vector")
                + (", audio Conv1D with bias" if s["audio_bias"] else "")
                + (f", audio kernel {s['kernel_audio']}" if s["kernel_audio"] > 1 else "")
                + "; audio reaches the output"
            ),
        }
