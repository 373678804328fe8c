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

Two presets (`fidelity`): `paper` (default) is the sane reading of the paper: each utterance is
scaled by its own Frobenius norm over its real tokens, with gradient. `code` reproduces the
published code (github thuiar/Cross-Modal-BERT, `model.py` + `run_classifier.py`), checked to
<= 1e-5 on the same weights and batch (tests/test_cmbert_code_fidelity.py): the whole padded batch
divided by sqrt of one Frobenius norm computed without gradient (text only), dropout 0.1 between
the fusion's dense layer and its LayerNorm, torch's default init of the Conv1D projections, the
code's optimiser groups (every `bias` at the encoder lr without decay, the fusion LayerNorm weight
with decay), the final linear layer frozen at its random init, one parameter tensor per modality
weight; train it with `train.optimizer: bertadam` (docs/models.md).

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
    scale_by_sqrt_frobenius_of_batch,
)

CLS_AUDIO_CHOICES = ("zero", "mean")
SCALE_CHOICES = ("paper", "code")
CHOICES = {
    "cls_audio": CLS_AUDIO_CHOICES,
    "scale": SCALE_CHOICES,
    "fidelity": ("paper", "code"),
    "norm": ("paper", "code"),
    "optimizer_groups": ("paper", "code"),
    "projection_init": ("bert", "torch"),
}

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
    "fidelity": "paper",
}

# What `fidelity` sets (each key can still be set on its own in the model's config entry).
PRESETS = {
    "paper": {
        "norm": "paper",  # per utterance, its real tokens only, with gradient
        "scale": "paper",  # text and audio (eq. 2-3)
        "fusion_dropout": 0.0,
        "optimizer_groups": "paper",  # fusion parameters at lr_fusion, biases/LayerNorm without decay
        "freeze_head": False,
        "projection_init": "bert",  # N(0, 0.02) like the other new layers
    },
    "code": {
        "norm": "code",  # whole padded batch, one norm, no gradient
        "scale": "code",  # text only
        "fusion_dropout": 0.1,  # between the fusion's dense layer and its LayerNorm
        "optimizer_groups": "code",  # every `bias` at lr_encoder without decay; fusion LayerNorm weight decayed
        "freeze_head": True,  # the code never unfreezes its final classifier
        "projection_init": "torch",  # the code's Conv1d layers keep torch's default init
    },
}
# run_classifier.py's no-decay list; its fusion LayerNorm is named `LayerNorm1`, so its weight is decayed
CODE_NO_DECAY = ("bias", "LayerNorm.bias", "LayerNorm.weight")

FUSION_PREFIXES = ("proj_text.", "proj_audio.", "fusion_attention.", "dense.", "layer_norm.")


class CMBert(TextEncoderMixin, MsaModel):
    modalities = ("text", "audio")
    reference = "Yang, Xu, Gao. CM-BERT: Cross-Modal BERT for Text-Audio Sentiment Analysis. ACM MM 2020"

    def __init__(self, settings: dict, meta: dict, encoder=None):
        fidelity = settings.get("fidelity", DEFAULTS["fidelity"])
        if fidelity not in PRESETS:
            raise ValueError(f"cmbert fidelity must be one of {tuple(PRESETS)}, got {fidelity!r}")
        MsaModel.__init__(self, {**DEFAULTS, **PRESETS[fidelity], **settings})
        s = self.settings
        for key, choices in CHOICES.items():
            if s[key] not in choices:
                raise ValueError(f"cmbert {key} must be one of {choices}, got {s[key]!r}")
        audio_dim = int(meta["audio_dim"])
        if audio_dim < 1:
            raise ValueError("cmbert needs word-level audio features (audio_dim >= 1)")
        self._init_encoder(s.get("encoder"), encoder, s.get("random_init", False))
        h = self.hidden_size
        self.proj_text = Conv1DProjection(h, s["fusion_dim"], s["kernel_text"], bias=False)
        self.proj_audio = Conv1DProjection(audio_dim, s["fusion_dim"], s["kernel_audio"], bias=bool(s["audio_bias"]))
        self.fusion_attention = MaskedMultimodalAttention(2, s["attention_dropout"], s["mask_value"],
                                                          separate_weights=fidelity == "code")
        self.dense = nn.Linear(h, h)
        self.fusion_dropout = nn.Dropout(s["fusion_dropout"])
        self.layer_norm = nn.LayerNorm(h, eps=1e-12)
        self.head = RegressionHead(h, s["dropout"])
        new_layers = [self.dense, self.layer_norm, self.head]
        if s["projection_init"] == "bert":
            new_layers += [self.proj_text, self.proj_audio]
        init_linear_like_bert(nn.ModuleList(new_layers))

    @property
    def padding_invariant(self) -> bool:
        """False under `norm: code`: the batch norm includes the padding, so the trainer must not trim it."""
        return self.settings["norm"] != "code"

    def scale(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """X / sqrt(||X||_F): per utterance (`norm: paper`) or one norm for the padded batch (`norm: code`)."""
        if self.settings["norm"] == "code":
            return scale_by_sqrt_frobenius_of_batch(x)
        return scale_by_sqrt_frobenius(x, mask)

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
        t_hat = self.scale(t_hat, mask)
        if self.settings["scale"] == "paper":
            a_hat = self.scale(a_hat, mask)
        attended = self.fusion_attention([t_hat, a_hat], text, mask)
        fused = self.layer_norm(self.fusion_dropout(self.dense(attended + text)))
        return self.head(fused[:, 0])

    def prediction_attention(self) -> torch.Tensor | None:
        """Row [CLS] of the last forward's fusion attention W_m (before its dropout): (B, L)."""
        attention = self.fusion_attention.last_attention
        return None if attention is None else attention[:, 0, :]

    def param_groups(self) -> list[dict]:
        s = self.settings
        if s["optimizer_groups"] == "code":
            # run_classifier.py: names containing `bias` are matched first (no decay, base lr 2e-5),
            # then the `BertFinetun` (fusion) weights at 0.01 with BertAdam's default decay 0.01
            return grouped_parameters(
                self.named_parameters(),
                [
                    ("encoder", lambda n: n.startswith("encoder.") or "bias" in n, s["lr_encoder"]),
                    ("fusion", lambda n: n.startswith(FUSION_PREFIXES), s["lr_fusion"]),
                    ("head", lambda n: True, s["lr_head"]),
                ],
                s["weight_decay"],
                no_decay=CODE_NO_DECAY,
            )
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
        return self.encoder_frozen_patterns() + ([r"^head\."] if self.settings["freeze_head"] else [])

    def describe(self) -> dict:
        s = self.settings
        audio_reaches_output = s["cls_audio"] != "zero" or s["kernel_audio"] > 1 or bool(s["audio_bias"])
        return {
            **super().describe(),
            "cls_audio": s["cls_audio"],
            "audio_reaches_output": audio_reaches_output,
            "scale": s["scale"],
            "fidelity": s["fidelity"],
            "norm": s["norm"],
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
