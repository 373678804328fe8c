"""BertAdam: the Adam variant of the BERT reference code, as the published CM-BERT code trains with it.

Semantics of `pytorch_pretrained_bert.optimization.BertAdam` in version 0.6.1 (the version pinned
by github thuiar/Cross-Modal-BERT), written here from its documented behaviour:

* no bias correction of the moment estimates (update = m / (sqrt(v) + eps));
* gradient clipping per parameter tensor (each tensor's gradient to norm `max_grad_norm`, in
  place, before the moments are updated), not over all parameters together;
* decoupled weight decay added to the update: update += weight_decay * p (before the lr);
* the learning rate of a group is lr * warmup_linear(step / t_total, warmup), where `step` counts
  the updates of that parameter tensor (starting at 0, so the first update has lr 0) and
  warmup_linear(x, w) = x / w for x < w, else 1 - x. After the warmup the factor drops from ~1 to
  1 - w, and beyond t_total it is negative (run_classifier.py computes t_total as
  int(n_train / batch) * epochs, fewer than the steps it runs, so its last steps ascend slightly);
* parameters without a gradient are skipped (no decay, no step count).
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer


def bert_warmup_linear(progress: float, warmup: float) -> float:
    """pytorch_pretrained_bert 0.6.1's `warmup_linear(x, warmup)`: x / warmup, then 1 - x (unclipped)."""
    if progress < warmup:
        return progress / warmup
    return 1.0 - progress


class BertAdam(Optimizer):
    def __init__(self, params, lr: float, warmup: float = -1.0, t_total: float = -1, b1: float = 0.9,
                 b2: float = 0.999, eps: float = 1e-6, weight_decay: float = 0.01, max_grad_norm: float = 1.0):
        if lr < 0.0:
            raise ValueError(f"invalid learning rate {lr}")
        if not (0.0 <= warmup < 1.0 or warmup == -1):
            raise ValueError(f"invalid warmup {warmup}: use a proportion in [0, 1) or -1")
        defaults = dict(lr=lr, warmup=warmup, t_total=t_total, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
                        max_grad_norm=max_grad_norm)
        super().__init__(params, defaults)

    @staticmethod
    def scheduled_lr(group: dict, step: int) -> float:
        if group["t_total"] == -1:
            return group["lr"]
        return group["lr"] * bert_warmup_linear(step / group["t_total"], group["warmup"])

    def current_lrs(self) -> list[float]:
        """The learning rate each group's next update will use (from its first parameter's step count)."""
        out = []
        for group in self.param_groups:
            steps = [self.state[p]["step"] for p in group["params"] if self.state.get(p)]
            out.append(self.scheduled_lr(group, steps[0] if steps else 0))
        return out

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("BertAdam does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["next_m"] = torch.zeros_like(p)
                    state["next_v"] = torch.zeros_like(p)
                next_m, next_v = state["next_m"], state["next_v"]
                if group["max_grad_norm"] > 0:
                    torch.nn.utils.clip_grad_norm_(p, group["max_grad_norm"])
                next_m.mul_(group["b1"]).add_(grad, alpha=1 - group["b1"])
                next_v.mul_(group["b2"]).addcmul_(grad, grad, value=1 - group["b2"])
                update = next_m / (next_v.sqrt() + group["eps"])
                if group["weight_decay"] > 0.0:
                    update += group["weight_decay"] * p
                p.sub_(self.scheduled_lr(group, state["step"]) * update)
                state["step"] += 1
        return loss
