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


def half_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0.5 * mean squared error (the CM-BERT code's loss)."""
    return 0.5 * torch.mean((prediction.float() - target.float()) ** 2)


NO_DECAY = ("bias", "LayerNorm.weight", "LayerNorm.bias", "layer_norm", "norm.weight", "norm.bias")


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
    "Conv1DProjection", "MaskedMultimodalAttention", "RegressionHead", "additive_key_mask", "grouped_parameters",
    "half_mse", "init_linear_like_bert", "scale_by_sqrt_frobenius", "scale_by_sqrt_frobenius_of_batch", "math",
]
