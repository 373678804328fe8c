"""MHMF-BERT: Multimodal Hierarchical Memory Fusion over BERT's intermediate layers.

Reference: Wenwen Zou, Jundi Ding, Chao Wang. "Utilizing BERT Intermediate Layers for Multimodal
Sentiment Analysis". IEEE ICME 2022 (spec: ../shared/seeds/mhmf-bert.txt §2).

The paper's inputs are word-ALIGNED: U_t, U_a, U_v all have the same length T (§2.1), and eq. 6
subtracts a text layer from the fused audio/vision sequence position by position. The model reads
the word-piece aligned `audio` and `vision` of the tokens file.

For each non-verbal modality m in {a, v} (one "path"), with D = len(layers_m):
  H_t^i = BERT layer i                    H_m = SA(Linear(U_m) + PE)     (eq. 1-2, SA = 2 encoder layers)
  G^0 = H_m
  C^i = CA_{t->m}(H_t^{layers_m[i]}, G^{i-1})     query G^{i-1}, keys/values the text layer (eq. 3, 3 layers)
  G~^i = GRU(C^i, G^{i-1})                           a GRU cell per position, over the stages (eq. 5)
  R = H_t^{layer} - G~^i;  a = sigmoid(W2 ReLU(W1 AvgPool(R)));  R+ = aR;  R- = (1-a)R   (eq. 6-9)
  G^i = G~^i + R+                                                                          (eq. 10)
Trimodal: g_m = ReLU(W_m [G_m^D; H_m] + b_m);  F = sum_m g_m * G_m^D                      (eq. 11-13)
Prediction: masked mean over positions of [F; BERT last layer] -> Linear                  (§2.2.4)
Loss: MSE + lambda * sum over paths and stages of the dual restitution loss (eq. 14-17) on one
(or `restitution_triplets`) anchor/positive/negative triplet drawn from the mini-batch, with the
pooled features F = G~, F+ = G~ + R+, F- = G~ + R- and d(x, y) = 0.5 - cos(x, y) / 2.

Layer indices are given for BERT-base (12 layers; the paper's best: audio {7, 11}, vision {6, 10})
and mapped to the encoder's depth N by ceil(i * N / layers_depth) (minilm-l6: audio {4, 6}, vision
{3, 5}). Without vision (an audio-only corpus) only the audio path exists and F = g_a * G_a^D.
Choices where the paper is silent are listed in docs/models.md.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from msaflow.models.base import MsaModel, TextEncoderMixin
from msaflow.models.blocks import (
    AttentionStack,
    Conv1DProjection,
    PositionalEmbedding,
    RegressionHead,
    masked_mean,
    mse,
)

PATHS = ("audio", "vision")
RESTITUTION_LAYERS = ("own", "crossed")
RESTITUTION_CLASSES = ("polarity", "acc7")

DEFAULTS = {
    "lr_encoder": 5e-5,
    "lr_other": 1e-3,
    "weight_decay": 0.01,
    "audio_layers": [7, 11],  # the paper's list2 (Table 3, best row)
    "vision_layers": [6, 10],  # the paper's list1
    "layers_depth": 12,  # the encoder depth the layer indices are written for (BERT-base)
    "restitution_layers": "own",  # own: R uses the text layer fused at that stage; crossed: eq. 6 literally (list1 in the audio path)
    "fusion_dim": None,  # None: the encoder width (eq. 6 subtracts a text layer without a projection)
    "heads": 8,
    "adapter_layers": 2,
    "cross_layers": 3,
    "ffn_mult": 4,
    "dropout": 0.1,
    "attention_dropout": 0.0,
    "positional": "sinusoidal",
    "max_positions": 4096,
    "restitution_weight": 0.1,  # lambda_i (eq. 14), the same for every module
    "restitution_triplets": 1,  # triplets drawn per mini-batch ("three samples from each mini-batch")
    "restitution_classes": "polarity",  # same label = same polarity (>= 0 vs < 0); acc7 = same rounded score
    "restitution_reduction": 16,  # W1: d -> d / r (squeeze-and-excitation, as in the SNR restitution)
    "freeze_embeddings": False,  # the paper fine-tunes all of BERT
}


def map_layers(layers: list[int], reference_depth: int, depth: int) -> list[int]:
    """Layer indices written for a `reference_depth`-layer encoder -> the same relative depth in a
    `depth`-layer one: ceil(i * depth / reference_depth) (1-based; 12 -> 6 gives 7 -> 4, 11 -> 6)."""
    out = []
    for i in layers:
        if not 1 <= int(i) <= reference_depth:
            raise ValueError(f"mhmf layer index {i} is outside 1..{reference_depth} (layers_depth)")
        out.append(max(1, math.ceil(int(i) * depth / reference_depth)))
    return out


def cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d(x, y) = 0.5 - x.y / (2 |x| |y|), row-wise (MHMF-BERT §2.3.1); in [0, 1]."""
    return 0.5 - functional.cosine_similarity(x.float(), y.float(), dim=-1, eps=1e-8) / 2


def dual_restitution_loss(plain: torch.Tensor, plus: torch.Tensor, minus: torch.Tensor,
                          triplets: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Eq. 15-17 averaged over the triplets. `plain`, `plus`, `minus`: (B, d) pooled F, F+, F-;
    `triplets`: (anchor, positive, negative) index tensors of equal length."""
    a, p, n = triplets
    d_ap, d_an = cosine_distance(plain[a], plain[p]), cosine_distance(plain[a], plain[n])
    d_ap_plus, d_an_plus = cosine_distance(plus[a], plus[p]), cosine_distance(plus[a], plus[n])
    d_ap_minus, d_an_minus = cosine_distance(minus[a], minus[p]), cosine_distance(minus[a], minus[n])
    loss_plus = functional.softplus(d_ap_plus - d_ap) + functional.softplus(d_an - d_an_plus)
    loss_minus = functional.softplus(d_ap - d_ap_minus) + functional.softplus(d_an_minus - d_an)
    return (loss_plus + loss_minus).mean()


def label_classes(labels: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "polarity":
        return (labels >= 0).long()
    return torch.round(torch.clamp(labels.float(), -3, 3)).long()


def sample_triplets(labels: torch.Tensor, count: int, kind: str = "polarity"):
    """`count` (anchor, positive, negative) index triplets drawn at random from a mini-batch: the
    positive has the anchor's class, the negative another class. None when the batch has no such
    triplet (all one class, or no class with two members). Draws from torch's global CPU generator
    (seeded by the trainer), so a seed gives the same triplets on every device."""
    classes = label_classes(labels.detach().cpu(), kind)
    same = classes.unsqueeze(0) == classes.unsqueeze(1)
    positive_ok = same & ~torch.eye(len(classes), dtype=torch.bool)
    negative_ok = ~same
    candidates = torch.nonzero(positive_ok.any(1) & negative_ok.any(1)).flatten()
    if len(candidates) == 0 or count < 1:
        return None
    anchors = candidates[torch.randint(len(candidates), (count,))]
    positives = torch.multinomial(positive_ok[anchors].float(), 1).flatten()
    negatives = torch.multinomial(negative_ok[anchors].float(), 1).flatten()
    device = labels.device
    return anchors.to(device), positives.to(device), negatives.to(device)


class Restitution(nn.Module):
    """Eq. 6-10: split the removed information R into R+ = aR and R- = (1-a)R with a channel
    attention a = sigmoid(W2 ReLU(W1 AvgPool(R))), and add R+ back."""

    def __init__(self, dim: int, reduction: int):
        super().__init__()
        hidden = max(1, dim // reduction)
        self.squeeze = nn.Linear(dim, hidden)
        self.excite = nn.Linear(hidden, dim)

    def forward(self, fused: torch.Tensor, text: torch.Tensor, mask: torch.Tensor):
        """-> (G = G~ + R+, (B, d) pooled G~, G~ + R+, G~ + R- for the restitution loss)."""
        removed = text - fused
        pooled_removed = masked_mean(removed, mask)
        gate = torch.sigmoid(self.excite(torch.relu(self.squeeze(pooled_removed)))).to(fused.dtype)
        pooled_fused = masked_mean(fused, mask)
        gate_f = gate.float()
        pooled = (pooled_fused, pooled_fused + gate_f * pooled_removed, pooled_fused + (1 - gate_f) * pooled_removed)
        return fused + gate.unsqueeze(1) * removed, pooled


class FusionPath(nn.Module):
    """One non-verbal modality's path: Self-attention Adapter, then per stage a Cross-attention
    Adapter with a text layer, the GRU memory and the Restitution module; ends with its gate."""

    def __init__(self, in_dim: int, dim: int, stages: int, s: dict, positional: PositionalEmbedding):
        super().__init__()
        drop, att_drop, heads, ffn = s["dropout"], s["attention_dropout"], s["heads"], s["ffn_mult"]
        self.projection = Conv1DProjection(in_dim, dim, 1, bias=True)
        self.positional = positional
        self.adapter = AttentionStack(dim, s["adapter_layers"], heads, drop, att_drop, ffn, cross=False)
        self.cross = nn.ModuleList(
            AttentionStack(dim, s["cross_layers"], heads, drop, att_drop, ffn, cross=True) for _ in range(stages)
        )
        self.memory = nn.GRUCell(dim, dim)
        self.restitution = nn.ModuleList(Restitution(dim, s["restitution_reduction"]) for _ in range(stages))
        self.gate = nn.Linear(2 * dim, dim)

    def forward(self, features: torch.Tensor, mask: torch.Tensor, fuse_text: list[torch.Tensor],
                restitution_text: list[torch.Tensor]):
        """-> (gated G^D (B, L, d), [(F, F+, F-) pooled per stage])."""
        adapted = self.adapter(self.positional(self.projection(features.float(), mask)), mask)
        state, pooled = adapted, []
        for cross, restitution, text, restitution_source in zip(self.cross, self.restitution, fuse_text,
                                                                restitution_text, strict=True):
            attended = cross(state, source=text, source_mask=mask)
            b, length, d = attended.shape
            remembered = self.memory(attended.reshape(b * length, d), state.reshape(b * length, d)).view(b, length, d)
            state, stage_pooled = restitution(remembered, restitution_source.to(remembered.dtype), mask)
            pooled.append(stage_pooled)
        gate = torch.relu(self.gate(torch.cat([state, adapted.to(state.dtype)], dim=-1)))
        return gate * state, pooled


class MhmfBert(TextEncoderMixin, MsaModel):
    reference = "Zou, Ding, Wang. Utilizing BERT Intermediate Layers for Multimodal Sentiment Analysis. ICME 2022"

    def __init__(self, settings: dict, meta: dict, encoder=None):
        MsaModel.__init__(self, {**DEFAULTS, **settings})
        s = self.settings
        self.require_choice("restitution_layers", RESTITUTION_LAYERS)
        self.require_choice("restitution_classes", RESTITUTION_CLASSES)
        dims = {m: int(meta.get(f"{m}_dim") or 0) for m in PATHS}
        self.path_dims = {m: d for m, d in dims.items() if d > 0}
        if not self.path_dims:
            raise ValueError("mhmf needs word-level audio or vision features (meta audio_dim / vision_dim)")
        if s["restitution_layers"] == "crossed" and len(self.path_dims) < 2:
            raise ValueError("mhmf restitution_layers: crossed needs both audio and vision")
        self.modalities = ("text", *self.path_dims)
        self._init_encoder(s.get("encoder"), encoder, s.get("random_init", False))
        depth = self.encoder_depth
        self.layers = {m: map_layers(list(s[f"{m}_layers"]), int(s["layers_depth"]), depth) for m in self.path_dims}
        if any(not layers for layers in self.layers.values()):
            raise ValueError("mhmf audio_layers / vision_layers need at least one layer each")
        if s["restitution_layers"] == "crossed" and len(self.layers["audio"]) != len(self.layers["vision"]):
            raise ValueError("mhmf restitution_layers: crossed needs audio_layers and vision_layers of equal length")
        h = self.hidden_size
        d = int(s["fusion_dim"] or h)
        self.fusion_dim = d
        used = sorted({i for layers in self.layers.values() for i in layers})
        # A text layer enters the fusion as is when the fusion width is the encoder's (the paper's
        # eq. 6); otherwise through one linear projection per layer.
        self.text_projections = nn.ModuleDict(
            {str(i): (nn.Identity() if d == h else nn.Linear(h, d)) for i in used}
        )
        positional = PositionalEmbedding(d, s["positional"], s["max_positions"])
        self.paths = nn.ModuleDict(
            {m: FusionPath(dim, d, len(self.layers[m]), s, positional) for m, dim in self.path_dims.items()}
        )
        self.head = RegressionHead(d + h, s["dropout"])

    def restitution_layers(self, modality: str) -> list[int]:
        if self.settings["restitution_layers"] == "own":
            return self.layers[modality]
        return self.layers["vision" if modality == "audio" else "audio"]

    def fuse(self, batch: dict) -> tuple[torch.Tensor, dict[str, list]]:
        """-> (prediction (B,), {path: [(F, F+, F-) per stage]})."""
        mask = batch["attention_mask"].bool()
        hidden = self.encode_all_layers(batch)
        text = {i: self.text_projections[str(i)](hidden[i]) for i in map(int, self.text_projections)}
        fused, pooled = None, {}
        for m, path in self.paths.items():
            gated, pooled[m] = path(batch[m], mask, [text[i] for i in self.layers[m]],
                                    [text[i] for i in self.restitution_layers(m)])
            fused = gated if fused is None else fused + gated
        final = torch.cat([fused, hidden[-1].to(fused.dtype)], dim=-1)
        return self.head(masked_mean(final, mask)), pooled

    def forward(self, batch: dict) -> torch.Tensor:
        return self.fuse(batch)[0]

    def loss(self, prediction: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return mse(prediction, labels)  # L_task (eq. 18)

    def restitution_loss(self, pooled: dict[str, list], labels: torch.Tensor) -> torch.Tensor:
        """sum over paths and stages of L_restitution (eq. 14-17, before the weight lambda)."""
        s = self.settings
        triplets = sample_triplets(labels, int(s["restitution_triplets"]), s["restitution_classes"])
        total = torch.zeros((), device=labels.device)
        if triplets is None:
            return total
        for stages in pooled.values():
            for plain, plus, minus in stages:
                total = total + dual_restitution_loss(plain, plus, minus, triplets)
        return total

    def training_loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        prediction, pooled = self.fuse(batch)
        loss = self.loss(prediction, batch["labels"])
        if self.settings["restitution_weight"]:
            loss = loss + self.settings["restitution_weight"] * self.restitution_loss(pooled, batch["labels"])
        return loss, prediction

    def param_groups(self) -> list[dict]:
        return self.encoder_and_rest_groups("other", self.settings["lr_other"])

    def describe(self) -> dict:
        s = self.settings
        return {
            **super().describe(),
            "inputs": "word-piece aligned audio/vision (the paper's aligned setting)",
            "encoder_depth": self.encoder_depth,
            "layers": {m: {"given": list(s[f"{m}_layers"]), "used": self.layers[m],
                           "restitution": self.restitution_layers(m)} for m in self.path_dims},
            "fusion_dim": self.fusion_dim,
            "restitution_weight": s["restitution_weight"],
            "restitution_triplets": s["restitution_triplets"],
        }
