"""Masking for the CMT pretraining objectives (Chu et al. 2022, §3.2.2).

Text (RoBERTa, Liu et al. 2019): every maskable token (not special, not padding) is selected with
probability 0.15, anew for every batch (dynamic masking); a selected token becomes the mask token
with probability 0.8, a uniformly random vocabulary token with 0.1, and stays unchanged with 0.1.
The loss is computed on the selected tokens only.

Audio (wav2vec 2.0, Baevski et al. 2020; HuBERT, Hsu et al. 2021): every frame that can start a
whole span (t <= length - M) is a span start with probability p; the M frames from each start are
masked, spans may overlap, and at least `min_starts` starts are drawn per utterance (fairseq's
HuBERT uses min_masks = 2). With p = 0.075 and M = 10 a frame far from the edges is masked with
probability 1 - (1 - p)^M = 0.54 (p * M = 0.75 if the spans never overlapped); wav2vec 2.0 quotes
about 49 % for its p = 0.065.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100


def mask_tokens(input_ids: torch.Tensor, maskable: torch.Tensor, mask_token_id: int, vocab_size: int,
                generator: torch.Generator, prob: float = 0.15, mask_fraction: float = 0.8,
                random_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked input ids, labels): labels hold the original id at selected positions, IGNORE_INDEX elsewhere.

    `maskable` (B, L) bool: real word-pieces (not [CLS]/[SEP]/<s>/</s>, not padding).
    """
    if not 0.0 <= mask_fraction + random_fraction <= 1.0:
        raise ValueError("mask_fraction + random_fraction must lie in [0, 1]")
    shape = input_ids.shape
    selected = (torch.rand(shape, generator=generator) < prob) & maskable.bool()
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    action = torch.rand(shape, generator=generator)
    random_ids = torch.randint(0, vocab_size, shape, generator=generator, dtype=input_ids.dtype)
    masked = input_ids.clone()
    to_mask = selected & (action < mask_fraction)
    to_random = selected & (action >= mask_fraction) & (action < mask_fraction + random_fraction)
    masked[to_mask] = mask_token_id
    masked[to_random] = random_ids[to_random]
    return masked, labels


def span_mask(lengths: torch.Tensor, max_length: int, generator: torch.Generator, prob: float = 0.075,
              span: int = 10, min_starts: int = 2) -> torch.Tensor:
    """(B, max_length) bool mask of audio frames; nothing at or beyond each row's length."""
    lengths = lengths.to(torch.long).cpu()
    batch = len(lengths)
    positions = torch.arange(max_length).unsqueeze(0)
    # A span start must leave room for the whole span (fairseq); a row shorter than the span has one
    # possible start, 0, whose span is cut at the row's end.
    last_start = (lengths - span).clamp_min(0).unsqueeze(1)
    can_start = (positions <= last_start) & (positions < lengths.unsqueeze(1))
    starts = (torch.rand((batch, max_length), generator=generator) < prob) & can_start
    scores = torch.rand((batch, max_length), generator=generator)  # for topping up rows with too few starts
    for i in range(batch):
        missing = min(min_starts, int(can_start[i].sum())) - int(starts[i].sum())
        if missing > 0:
            free = (can_start[i] & ~starts[i]).nonzero().squeeze(1)
            chosen = free[scores[i, free].argsort()[:missing]]
            starts[i, chosen] = True
    # frame t is masked when a span starts in (t - span, t]: a running count of starts over a window
    counts = torch.nn.functional.pad(starts.to(torch.int32).cumsum(1), (span, 0))
    covered = (counts[:, span:] - counts[:, :-span]) > 0
    return covered & (positions < lengths.unsqueeze(1))
