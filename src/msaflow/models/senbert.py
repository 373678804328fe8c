"""SenBERT: Sense-aware BERT with multi-task fine-tuning.

Reference: Lingyong Fang, Gongshen Liu, Ru Zhang. "Sense-aware BERT and Multi-task Fine-tuning for
Multimodal Sentiment Analysis". IJCNN 2022 (spec: ../shared/seeds/senbert.txt §III-IV).

Forward pass (paper numbering; every attention block is a MAU = `CrossmodalAttentionLayer`):
  Sense block, over the UNALIGNED frame sequences X_V (B, Tv, dv), X_A (B, Ta, da):
    X^_m = Conv1D(X_m, k_m) to width d;  Y_m = X^_m + PE                              (eq. 1-2)
    Z_m^[0] = [mCLS] (+) Y_m,  [mCLS] = masked mean of Y_m                               (eq. 3-4)
    Low-level Cross-Attention: Z_V^[i] = MAU(Z_V^[i-1], Z_A^[0]),  Z_A^[i] likewise     (eq. 6, 4 blocks each)
    Self-Attention Layer over Z_S = [Z_V^CA; Z_A^CA]  (4 blocks) -> Z_S^SA              ([SCLS] = [VCLS; ACLS])
  Language block: Z_L = BERT last layer; [CLS_uni] = Z_L[0]; Conv1D(Z_L) to width d
  One more self-attention block on each of Z_L and Z_S, then the High-level Cross-Attention
  (progressive reinforcement, 4 rounds):
    Z_L^[i] = MAU(Z_L^[i-1], Z_S^[i-1]),  Z_S^[i] = MAU(Z_S^[i-1], Z_L^[i-1])           (eq. 7)
  [CLS_final] = [CLS_HCA; VCLS_HCA; ACLS_HCA; CLS_uni; SCLS_uni] -> Linear -> prediction
Loss (eq. 8): L = sum_t L1_t / (2 sigma_t^2) + ln(1 + sigma_t^2) over t in {mul, lan, sen}, the
unimodal heads (Linear on [CLS_uni] and on [SCLS_uni]) trained on the multimodal label, sigma learnt.

Without vision (an audio-only corpus) the sense block has the audio branch only: no low-level
cross-attention (it needs a partner), [SCLS] = [ACLS]. Choices where the paper is silent are
listed in docs/models.md.
"""

from __future__ import annotations

import torch
from torch import nn

from msaflow.models.base import MsaModel, TextEncoderMixin
from msaflow.models.blocks import (
    AttentionStack,
    Conv1DProjection,
    CrossmodalAttentionLayer,
    PositionalEmbedding,
    RegressionHead,
    l1,
    lengths_to_mask,
    masked_mean,
)

SENSE_INPUTS = ("frames", "words")
AUXILIARY_TASKS = ("language", "sense")
WEIGHTINGS = ("uncertainty", "sum")
SENSE_ORDER = ("vision", "audio")  # Z_S = [Z_V; Z_A] (paper §III-B)

DEFAULTS = {
    "lr_encoder": 5e-5,
    "lr_other": 1e-3,
    "weight_decay": 0.0,  # the paper's optimiser is Adam (no decoupled weight decay)
    "model_dim": 128,
    "heads": 8,
    "low_level_layers": 4,  # per direction: 2 x 4 blocks
    "self_attention_layers": 4,
    "high_level_layers": 4,  # per direction: 2 x 4 blocks
    "pre_fusion_layers": 1,  # "an additional layer of self-attention" on text and sense before the HCA
    "ffn_mult": 4,
    "dropout": 0.3,
    "attention_dropout": 0.0,  # dropout on the attention weights (the paper's 0.3 is read as residual dropout)
    "kernel_text": 1,
    "kernel_audio": 1,
    "kernel_vision": 1,
    "positional": "sinusoidal",
    "max_positions": 4096,
    "sense_input": "frames",  # frames: unaligned frame sequences (paper); words: word-piece aligned features
    "auxiliary": ["language", "sense"],
    "loss_weighting": "uncertainty",
    "freeze_embeddings": False,  # the paper fine-tunes all of BERT
}


class UncertaintyWeighting(nn.Module):
    """Kendall et al. 2018 with Liebel & Koerner's regulariser (SenBERT eq. 8):
    L = sum_t L_t / (2 sigma_t^2) + ln(1 + sigma_t^2), sigma_t learnt, initialised to 1."""

    def __init__(self, tasks: int):
        super().__init__()
        self.sigma = nn.Parameter(torch.ones(tasks))

    def forward(self, losses: list[torch.Tensor]) -> torch.Tensor:
        variance = self.sigma.float() ** 2
        stacked = torch.stack([loss.float() for loss in losses])
        return (stacked / (2 * variance) + torch.log1p(variance)).sum()


class SenseBranch(nn.Module):
    """One sense modality up to Z_m^[0] = [mCLS] (+) (Conv1D(X_m) + PE) (eq. 1-4), with its mask."""

    def __init__(self, in_dim: int, dim: int, kernel: int, positional: PositionalEmbedding):
        super().__init__()
        self.projection = Conv1DProjection(in_dim, dim, kernel, bias=False)
        self.positional = positional

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.positional(self.projection(x.float(), mask))
        cls = masked_mean(y, mask).to(y.dtype).unsqueeze(1)
        ones = torch.ones_like(mask[:, :1], dtype=torch.bool)
        return torch.cat([cls, y], dim=1), torch.cat([ones, mask.bool()], dim=1)


class SenBert(TextEncoderMixin, MsaModel):
    reference = ("Fang, Liu, Zhang. Sense-aware BERT and Multi-task Fine-tuning for Multimodal Sentiment Analysis. "
                 "IJCNN 2022")

    def __init__(self, settings: dict, meta: dict, encoder=None):
        MsaModel.__init__(self, {**DEFAULTS, **settings})
        s = self.settings
        self.require_choice("sense_input", SENSE_INPUTS)
        self.require_choice("loss_weighting", WEIGHTINGS)
        unknown = set(s["auxiliary"]) - set(AUXILIARY_TASKS)
        if unknown:
            raise ValueError(f"senbert auxiliary tasks must be among {AUXILIARY_TASKS}, got {sorted(unknown)}")
        self.sense_dims = self._sense_dims(meta)
        self.sense_modalities = tuple(self.sense_dims)
        self.modalities = ("text", *sorted(self.sense_modalities))
        self._init_encoder(s.get("encoder"), encoder, s.get("random_init", False))
        d, heads, drop, att_drop, ffn = s["model_dim"], s["heads"], s["dropout"], s["attention_dropout"], s["ffn_mult"]

        def stack(layers: int, cross: bool) -> AttentionStack:
            return AttentionStack(d, layers, heads, drop, att_drop, ffn, cross=cross)

        positional = PositionalEmbedding(d, s["positional"], s["max_positions"])
        self.sense_branches = nn.ModuleDict(
            {m: SenseBranch(dim, d, s[f"kernel_{m}"], positional) for m, dim in self.sense_dims.items()}
        )
        # Low-level Cross-Attention: each sense modality reinforced by the other's Z^[0] (eq. 6).
        self.low_level = nn.ModuleDict(
            {m: stack(s["low_level_layers"], cross=True) for m in self.sense_modalities} if len(self.sense_dims) > 1 else {}
        )
        self.self_attention = stack(s["self_attention_layers"], cross=False)
        self.text_projection = Conv1DProjection(self.hidden_size, d, s["kernel_text"], bias=False)
        self.pre_fusion_text = stack(s["pre_fusion_layers"], cross=False)
        self.pre_fusion_sense = stack(s["pre_fusion_layers"], cross=False)
        # High-level Cross-Attention: language and sense reinforce each other progressively (eq. 7).
        self.high_level_text = nn.ModuleList(
            CrossmodalAttentionLayer(d, heads, drop, att_drop, ffn) for _ in range(s["high_level_layers"])
        )
        self.high_level_sense = nn.ModuleList(
            CrossmodalAttentionLayer(d, heads, drop, att_drop, ffn) for _ in range(s["high_level_layers"])
        )
        self.high_level_text_norm = nn.LayerNorm(d)
        self.high_level_sense_norm = nn.LayerNorm(d)
        n_sense = len(self.sense_modalities)
        self.head = RegressionHead(d + n_sense * d + self.hidden_size + n_sense * d, drop)
        self.language_head = RegressionHead(self.hidden_size, drop)
        self.sense_head = RegressionHead(n_sense * d, drop)
        self.loss_weighting = UncertaintyWeighting(1 + len(s["auxiliary"]))

    def _sense_dims(self, meta: dict) -> dict[str, int]:
        """{modality: feature width} of the sense inputs present, in the paper's order (vision, audio)."""
        suffix = "_frames_dim" if self.settings["sense_input"] == "frames" else "_dim"
        dims = {m: int(meta.get(f"{m}{suffix}") or 0) for m in SENSE_ORDER}
        dims = {m: d for m, d in dims.items() if d > 0}
        if not dims:
            hint = ("the tokens file has no frame-level audio or vision (meta audio_frames_dim / vision_frames_dim); "
                    "rebuild the tokens with frames, or set sense_input: words to use the word-level features"
                    if self.settings["sense_input"] == "frames" else "the tokens file has no word-level audio or vision")
            raise ValueError(f"senbert needs a sense modality: {hint}")
        return dims

    def sense_inputs(self, batch: dict, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (B, T, D), mask (B, T) bool) of one sense modality. A frame counts when it is
        within the utterance's length and, if the tokens file says so (`{m}_frames_valid`), held a
        measurement (a window without a face is neither attended to nor averaged into [VCLS])."""
        if self.settings["sense_input"] == "frames":
            x = batch[f"{modality}_frames"]
            mask = lengths_to_mask(batch[f"{modality}_frame_lengths"], x.shape[1])
            valid = batch.get(f"{modality}_frames_valid")
            return x, mask if valid is None else mask & valid[:, : x.shape[1]].bool()
        words = batch["word_index"] >= 0 if "word_index" in batch else batch["attention_mask"].bool()
        return batch[modality], words

    def sense_block(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Z_S^SA (B, S, d), its mask, and the positions of [VCLS]/[ACLS] in it."""
        initial = {m: self.sense_branches[m](*self.sense_inputs(batch, m)) for m in self.sense_modalities}
        reinforced = {}
        for m, (z, mask) in initial.items():
            if self.low_level:
                partner_z, partner_mask = next(v for k, v in initial.items() if k != m)
                z = self.low_level[m](z, source=partner_z, source_mask=partner_mask)
            reinforced[m] = (z, mask)
        z = torch.cat([reinforced[m][0] for m in self.sense_modalities], dim=1)
        mask = torch.cat([reinforced[m][1] for m in self.sense_modalities], dim=1)
        cls_positions, offset = [], 0
        for m in self.sense_modalities:
            cls_positions.append(offset)
            offset += reinforced[m][0].shape[1]
        return self.self_attention(z, mask), mask, cls_positions

    def heads(self, batch: dict) -> dict[str, torch.Tensor]:
        """The multimodal, language and sense predictions, each (B,)."""
        text_mask = batch["attention_mask"].bool()
        language = self.encode(batch)
        language_cls = language[:, 0].float()
        sense, sense_mask, cls_positions = self.sense_block(batch)
        sense_cls = torch.cat([sense[:, p] for p in cls_positions], dim=-1).float()

        z_text = self.pre_fusion_text(self.text_projection(language, text_mask), text_mask)
        z_sense = self.pre_fusion_sense(sense, sense_mask)
        for text_layer, sense_layer in zip(self.high_level_text, self.high_level_sense, strict=True):
            z_text, z_sense = (text_layer(z_text, z_sense, sense_mask), sense_layer(z_sense, z_text, text_mask))
        z_text, z_sense = self.high_level_text_norm(z_text), self.high_level_sense_norm(z_sense)

        final = torch.cat([z_text[:, 0], *(z_sense[:, p] for p in cls_positions)], dim=-1).float()
        final = torch.cat([final, language_cls, sense_cls], dim=-1)
        return {"multimodal": self.head(final), "language": self.language_head(language_cls),
                "sense": self.sense_head(sense_cls)}

    def forward(self, batch: dict) -> torch.Tensor:
        return self.heads(batch)["multimodal"]

    def loss(self, prediction: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return l1(prediction, labels)  # L_mul (validation and model selection)

    def task_losses(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> list[torch.Tensor]:
        """[L_mul, L_lan?, L_sen?]: L1 of each head against the multimodal label."""
        return [l1(outputs["multimodal"], labels)] + [l1(outputs[t], labels) for t in self.settings["auxiliary"]]

    def training_loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = self.heads(batch)
        losses = self.task_losses(outputs, batch["labels"])
        if self.settings["loss_weighting"] == "uncertainty":
            total = self.loss_weighting(losses)
        else:
            total = torch.stack(losses).sum()
        return total, outputs["multimodal"]

    def param_groups(self) -> list[dict]:
        return self.encoder_and_rest_groups("other", self.settings["lr_other"], no_decay=("loss_weighting.",))

    def frozen_patterns(self) -> list[str]:
        patterns = self.encoder_frozen_patterns()
        if self.settings["loss_weighting"] != "uncertainty":
            patterns.append(r"^loss_weighting\.")
        return patterns

    def describe(self) -> dict:
        s = self.settings
        return {
            **super().describe(),
            "sense_input": s["sense_input"],
            "sense_modalities": list(self.sense_modalities),
            "low_level_cross_attention": bool(self.low_level),
            "auxiliary": list(s["auxiliary"]),
            "loss_weighting": s["loss_weighting"],
            "task_sigma": [round(float(v), 4) for v in self.loss_weighting.sigma.detach().cpu()],
        }
