"""Shared building blocks (used by CM-BERT now; SenBERT, MHMF-BERT and the RoBERTa+HuBERT
cross-modal transformer reuse them): Conv1D projection, the masked cross-modal attention unit,
the regression head, the loss and parameter-group helpers."""

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


def scale_by_sqrt_frobenius(x: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """x / sqrt(||x||_F) per sample (CM-BERT eq. 2-3); the norm runs over the unmasked positions."""
    sq = x.float().pow(2)
    if mask is not None:
        sq = sq * mask.unsqueeze(-1).to(sq.dtype)
    norm = sq.sum(dim=(1, 2), keepdim=True).sqrt()
    return x / norm.clamp_min(eps).sqrt().to(x.dtype)


def additive_key_mask(attention_mask: torch.Tensor, mask_value: float = -10000.0) -> torch.Tensor:
    """(B, L) 1/0 -> (B, 1, L): 0 at tokens, `mask_value` at padding (added before the softmax)."""
    return (1.0 - attention_mask.float()).unsqueeze(1) * mask_value


class MaskedMultimodalAttention(nn.Module):
    """CM-BERT's masked multimodal attention (Yang et al. 2020, §3.3, eq. 4-8), for any number of
    modalities: W_f = sum_m w_m * ReLU(Q_m K_m^T) + b; W_m = softmax(W_f + M); X_att = W_m V.

    Queries and keys of each modality are its (scaled) projected features; V is given (the text
    encoder's last layer in CM-BERT). The modality weights and the bias are scalars.
    """

    def __init__(self, n_modalities: int = 2, dropout: float = 0.3, mask_value: float = -10000.0, init_weight: float = 1.0):
        super().__init__()
        self.modality_weights = nn.Parameter(torch.full((n_modalities,), float(init_weight)))
        self.bias = nn.Parameter(torch.zeros(1))
        self.dropout = nn.Dropout(dropout)
        self.mask_value = mask_value
        self.last_attention: torch.Tensor | None = None

    def forward(self, queries: list[torch.Tensor], value: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if len(queries) != len(self.modality_weights):
            raise ValueError(f"expected {len(self.modality_weights)} modalities, got {len(queries)}")
        fused = self.bias
        for weight, q in zip(self.modality_weights, queries, strict=True):
            q = q.float()
            fused = fused + weight * torch.relu(q @ q.transpose(1, 2))
        scores = fused + additive_key_mask(attention_mask, self.mask_value)
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


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L, D), (B, L) 1/0 -> (B, D): the mean over real positions (zero for an all-padding row)."""
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def cosine_orthogonality(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """|a . b| / (||a|| ||b||) per row (CMT eq. 7, after Li et al. 2021), averaged over the batch."""
    cos = (a * b).sum(-1).abs() / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(eps)
    return cos.mean()


def half_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0.5 * mean squared error (the CM-BERT code's loss)."""
    return 0.5 * torch.mean((prediction.float() - target.float()) ** 2)


NO_DECAY = ("bias", "LayerNorm.weight", "LayerNorm.bias", "layer_norm", "norm.weight", "norm.bias")


def grouped_parameters(named, groups: list[tuple[str, callable, float]], weight_decay: float) -> list[dict]:
    """Split named parameters into optimizer groups.

    `groups` = [(group name, predicate(name) -> bool, lr), ...]; the first matching predicate wins.
    Biases and LayerNorm parameters get no weight decay (BERT's convention). Frozen parameters are
    left out. Every trainable parameter must match a group.
    """
    out: dict[tuple[str, bool], dict] = {}
    for name, param in named:
        if not param.requires_grad:
            continue
        match = next(((g, lr) for g, predicate, lr in groups if predicate(name)), None)
        if match is None:
            raise ValueError(f"parameter {name} matches no optimizer group")
        group_name, lr = match
        decay = not any(tag in name for tag in NO_DECAY)
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
    "Conv1DProjection", "CrossModalTransformerBlock", "MaskedMultimodalAttention", "RegressionHead", "additive_key_mask",
    "cosine_orthogonality", "grouped_parameters", "half_mse", "init_linear_like_bert", "masked_mean",
    "scale_by_sqrt_frobenius", "math",
]
