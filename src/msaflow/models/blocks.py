"""Shared building blocks of the models (each defined once here):

* CM-BERT: `MaskedMultimodalAttention`, `scale_by_sqrt_frobenius`;
* every fusion model: `Conv1DProjection` (MulT / CM-BERT / SenBERT eq. 1), `PositionalEmbedding`,
  `CrossmodalAttentionLayer` (MulT's crossmodal attention block; with no source it is a transformer
  encoder layer), `AttentionStack` (a transformer adapter or a MulT crossmodal transformer),
  `masked_mean`, `lengths_to_mask`, `RegressionHead`;
* losses and optimizer groups: `half_mse`, `grouped_parameters`, `init_linear_like_bert`.

Masks are (B, T) with 1/True at real positions and 0/False at padding, everywhere.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Conv1DProjection(nn.Module):
    """(B, L, D_in) -> (B, L, D_out) temporal convolution (MulT / CM-BERT eq. 1).

    `kernel_size` 1 is a position-wise linear map; a larger odd kernel mixes neighbouring
    positions ("same" padding, so the length is kept).
    """

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int = 1, bias: bool = False):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"Conv1D kernel size must be odd and positive, got {kernel_size}")
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size=kernel_size, padding=kernel_size // 2, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """`mask` (B, L): positions where it is 0 are zeroed first, so that a kernel > 1 sees the same
        zeros at the end of a sequence whether or not padding (of any content) follows it."""
        if mask is not None:
            x = x.masked_fill(~mask.bool().unsqueeze(-1), 0.0)
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


def lengths_to_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_length) bool, True at positions < length."""
    positions = torch.arange(max_length, device=lengths.device)
    return positions.unsqueeze(0) < lengths.to(positions.device).unsqueeze(1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) averaged over the positions where `mask` (B, T) is set -> (B, D) in float32.

    A sequence with no set position averages to zero. Padding may hold anything (even NaN).
    """
    keep = mask.bool().unsqueeze(-1)
    total = x.float().masked_fill(~keep, 0.0).sum(1)
    return total / keep.sum(1).clamp_min(1).to(total.dtype)


class PositionalEmbedding(nn.Module):
    """Adds position information to (B, T, D): `sinusoidal` (Vaswani et al. 2017, as in MulT; no
    parameters, any length) or `learned` (one trained vector per position, up to `max_positions`)."""

    KINDS = ("sinusoidal", "learned")

    def __init__(self, dim: int, kind: str = "sinusoidal", max_positions: int = 4096):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"positional embedding must be one of {self.KINDS}, got {kind!r}")
        self.dim, self.kind, self.max_positions = dim, kind, max_positions
        self.table = nn.Embedding(max_positions, dim) if kind == "learned" else None

    def encoding(self, length: int, device, dtype) -> torch.Tensor:
        if self.kind == "learned":
            if length > self.max_positions:
                raise ValueError(f"sequence of {length} positions exceeds max_positions {self.max_positions}")
            return self.table.weight[:length].to(dtype)
        position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
        rate = torch.exp(torch.arange(0, self.dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / self.dim))
        table = torch.zeros(length, self.dim, device=device, dtype=torch.float32)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate[: self.dim // 2])
        return table.to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.encoding(x.shape[1], x.device, x.dtype).unsqueeze(0)


class CrossmodalAttentionLayer(nn.Module):
    """MulT's crossmodal attention block (Tsai et al., ACL 2019, §3.2), pre-LayerNorm:

        x <- x + Dropout(MultiHead(LN_q(x), LN_s(s), LN_s(s)))      queries from x, keys/values from s
        x <- x + Dropout(FFN(LN_f(x)))                               FFN = Linear-ReLU-Dropout-Linear (ffn_mult x)

    With `cross=False` the source is x itself: a (pre-LN) transformer encoder layer. Padded source
    positions (`source_mask` 0) get zero attention weight; padded query rows are computed but never
    read by a caller that masks them. `ffn_mult=0` leaves out the FFN sublayer.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.1, attention_dropout: float | None = None,
                 ffn_mult: int = 4, cross: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.cross = cross
        self.query_norm = nn.LayerNorm(dim)
        self.source_norm = nn.LayerNorm(dim) if cross else None
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout if attention_dropout is None else attention_dropout,
                                               batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ffn_norm = nn.LayerNorm(dim) if ffn_mult else None
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_mult * dim), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_mult * dim, dim)) if ffn_mult else None

    def forward(self, x: torch.Tensor, source: torch.Tensor | None = None,
                source_mask: torch.Tensor | None = None) -> torch.Tensor:
        query = self.query_norm(x)
        if self.cross:
            if source is None:
                raise ValueError("a crossmodal attention layer needs a source sequence")
            source = self.source_norm(source)
        else:
            source = query
        padding = None if source_mask is None else ~source_mask.bool()
        attended, _ = self.attention(query, source, source, key_padding_mask=padding, need_weights=False)
        x = x + self.dropout(attended)
        if self.ffn is not None:
            x = x + self.dropout(self.ffn(self.ffn_norm(x)))
        return x


class AttentionStack(nn.Module):
    """`layers` CrossmodalAttentionLayers and a final LayerNorm (pre-LN transformers end with one).

    * `cross=False`: a transformer adapter (self-attention encoder); keys masked by `mask`.
    * `cross=True`: a MulT crossmodal transformer; every layer attends to the same `source`
      (keys masked by `source_mask`) and refines x.
    """

    def __init__(self, dim: int, layers: int, heads: int, dropout: float = 0.1,
                 attention_dropout: float | None = None, ffn_mult: int = 4, cross: bool = False):
        super().__init__()
        self.cross = cross
        self.layers = nn.ModuleList(
            CrossmodalAttentionLayer(dim, heads, dropout, attention_dropout, ffn_mult, cross) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, source: torch.Tensor | None = None,
                source_mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, source, source_mask) if self.cross else layer(x, None, mask)
        return self.norm(x)


def scale_by_sqrt_frobenius(x: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """x / sqrt(||x||_F) per sample (CM-BERT eq. 2-3); the norm runs over the unmasked positions."""
    sq = x.float().pow(2)
    if mask is not None:
        sq = sq * mask.unsqueeze(-1).to(sq.dtype)
    norm = sq.sum(dim=(1, 2), keepdim=True).sqrt()
    return x / norm.clamp_min(eps).sqrt().to(x.dtype)


def scale_by_sqrt_frobenius_of_batch(x: torch.Tensor) -> torch.Tensor:
    """x / sqrt(||x||_F) with ONE norm for the whole tensor, padding included, and no gradient
    through the norm: what the published CM-BERT code does (it computes the norm in numpy).

    The result of one utterance therefore depends on the other utterances of its batch and on
    the padded length; `scale_by_sqrt_frobenius` is the per-utterance reading of the paper.
    """
    with torch.no_grad():
        norm = x.detach().float().pow(2).sum().sqrt().sqrt()
    return x / norm.to(x.dtype)


def additive_key_mask(attention_mask: torch.Tensor, mask_value: float = -10000.0) -> torch.Tensor:
    """(B, L) 1/0 -> (B, 1, L): 0 at tokens, `mask_value` at padding (added before the softmax)."""
    return (1.0 - attention_mask.float()).unsqueeze(1) * mask_value


class MaskedMultimodalAttention(nn.Module):
    """CM-BERT's masked multimodal attention (Yang et al. 2020, §3.3, eq. 4-8), for any number of
    modalities: W_f = sum_m w_m * ReLU(Q_m K_m^T) + b; W_m = softmax(W_f + M); X_att = W_m V.

    Queries and keys of each modality are its (scaled) projected features; V is given (the text
    encoder's last layer in CM-BERT). The modality weights and the bias are scalars.
    """

    def __init__(self, n_modalities: int = 2, dropout: float = 0.3, mask_value: float = -10000.0, init_weight: float = 1.0,
                 separate_weights: bool = False):
        super().__init__()
        if separate_weights:
            # one parameter tensor per modality weight, as in the published CM-BERT code; it matters
            # for optimisers that act per parameter tensor (BertAdam's per-parameter clipping)
            self.modality_weights = nn.ParameterList(
                nn.Parameter(torch.full((1,), float(init_weight))) for _ in range(n_modalities)
            )
        else:
            self.modality_weights = nn.Parameter(torch.full((n_modalities,), float(init_weight)))
        self.bias = nn.Parameter(torch.zeros(1))
        self.dropout = nn.Dropout(dropout)
        self.mask_value = mask_value
        self.last_attention: torch.Tensor | None = None

    def forward(self, queries: list[torch.Tensor], value: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if len(queries) != len(self.modality_weights):
            raise ValueError(f"expected {len(self.modality_weights)} modalities, got {len(queries)}")
        fused = 0.0
        for weight, q in zip(self.modality_weights, queries, strict=True):
            q = q.float()
            fused = fused + weight * torch.relu(q @ q.transpose(1, 2))
        scores = fused + self.bias + additive_key_mask(attention_mask, self.mask_value)
        attention = torch.softmax(scores, dim=-1)
        self.last_attention = attention.detach()
        return self.dropout(attention) @ value.float()


class RegressionHead(nn.Module):
    """Dropout then a linear map to one value per sample."""

    def __init__(self, in_dim: int, dropout: float = 0.1, out_dim: int = 1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(x)).squeeze(-1)


class CrossModalTransformerBlock(nn.Module):
    """One block of a symmetric cross-modal transformer (Chu et al. 2022, CMT, eq. 1-5), generic in the
    widths of the query stream (`dim`) and of the other modality (`other_dim`):

        h^  = SelfAttn(Q=K=V=h)                 h.  = LN(h + h^)
        h.. = CrossAttn(Q=h., K=V=other)        h~  = LN(h. + h..)
        out = LN(h~ + FFN(h~))                  FFN = Linear -> GELU -> Dropout -> Linear

    Post-LN residual blocks, dropout on each sub-layer's output (Vaswani et al.). Masks are (B, L) with
    1/True at real positions; padded keys get no attention, padded query rows are computed but
    meaningless (callers pool over real positions only). Kept separate from MulT-style crossmodal layers
    (pre-LN, no self-attention) on purpose: the CMT paper's block differs in both respects.
    """

    def __init__(self, dim: int, other_dim: int, heads: int, ffn_dim: int | None = None, dropout: float = 0.1,
                 attention_dropout: float = 0.1, eps: float = 1e-5):
        super().__init__()
        if dim % heads:
            raise ValueError(f"cross-modal block width {dim} is not divisible by {heads} heads")
        ffn_dim = ffn_dim or 4 * dim
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=attention_dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, dropout=attention_dropout, kdim=other_dim, vdim=other_dim,
                                                batch_first=True)
        self.norm_self = nn.LayerNorm(dim, eps=eps)
        self.norm_cross = nn.LayerNorm(dim, eps=eps)
        self.norm_ffn = nn.LayerNorm(dim, eps=eps)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, other: torch.Tensor, other_mask: torch.Tensor) -> torch.Tensor:
        pad = ~x_mask.bool()
        attended, _ = self.self_attn(x, x, x, key_padding_mask=pad, need_weights=False)
        x = self.norm_self(x + self.dropout(attended))
        crossed, _ = self.cross_attn(x, other, other, key_padding_mask=~other_mask.bool(), need_weights=False)
        x = self.norm_cross(x + self.dropout(crossed))
        return self.norm_ffn(x + self.dropout(self.ffn(x)))


def cosine_orthogonality(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """|a . b| / (||a|| ||b||) per row (CMT eq. 7, after Li et al. 2021), averaged over the batch."""
    cos = (a * b).sum(-1).abs() / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(eps)
    return cos.mean()


def half_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0.5 * mean squared error (the CM-BERT code's loss)."""
    return 0.5 * torch.mean((prediction.float() - target.float()) ** 2)


NO_DECAY = ("bias", "LayerNorm.weight", "LayerNorm.bias", "layer_norm", "norm.weight", "norm.bias")


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error (MHMF-BERT eq. 18)."""
    return torch.mean((prediction.float() - target.float()) ** 2)


def l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error (SenBERT's L1 losses)."""
    return torch.mean((prediction.float() - target.float()).abs())


def grouped_parameters(named, groups: list[tuple[str, callable, float]], weight_decay: float,
                       no_decay: tuple[str, ...] = NO_DECAY) -> list[dict]:
    """Split named parameters into optimizer groups.

    `groups` = [(group name, predicate(name) -> bool, lr), ...]; the first matching predicate wins.
    Parameters whose name contains one of `no_decay` get no weight decay (default: biases and
    LayerNorm parameters, BERT's convention). Frozen parameters are left out. Every trainable
    parameter must match a group.
    """
    out: dict[tuple[str, bool], dict] = {}
    for name, param in named:
        if not param.requires_grad:
            continue
        match = next(((g, lr) for g, predicate, lr in groups if predicate(name)), None)
        if match is None:
            raise ValueError(f"parameter {name} matches no optimizer group")
        group_name, lr = match
        decay = not any(tag in name for tag in no_decay)
        key = (group_name, decay)
        if key not in out:
            out[key] = {"name": f"{group_name}{'' if decay else '_no_decay'}", "params": [], "lr": lr,
                        "weight_decay": weight_decay if decay else 0.0}
        out[key]["params"].append(param)
    return list(out.values())


def init_linear_like_bert(module: nn.Module, std: float = 0.02) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d)):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


__all__ = [
    "AttentionStack", "Conv1DProjection", "CrossModalTransformerBlock", "CrossmodalAttentionLayer",
    "MaskedMultimodalAttention", "PositionalEmbedding", "RegressionHead", "additive_key_mask", "cosine_orthogonality",
    "grouped_parameters", "half_mse", "init_linear_like_bert", "l1", "lengths_to_mask", "masked_mean", "mse",
    "scale_by_sqrt_frobenius", "scale_by_sqrt_frobenius_of_batch", "math",
]
