"""Training losses with missing targets masked out (NaN in y)."""

import torch


def masked_ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - CCC over all labelled entries, per target, averaged over targets ("total CCC").

    pred, target: (..., n_targets); NaN targets are ignored.
    """
    pred = pred.reshape(-1, pred.shape[-1])
    target = target.reshape(-1, target.shape[-1])
    losses = []
    for t in range(pred.shape[-1]):
        mask = ~torch.isnan(target[:, t])
        if mask.sum() < 2:
            continue
        losses.append(1.0 - _ccc(pred[mask, t], target[mask, t]))
    return torch.stack(losses).mean() if losses else pred.sum() * 0.0


def masked_ccc_seq_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - CCC per sequence, averaged over sequences and targets ("sum of CCC").

    pred, target: (n_seq, n_steps, n_targets).
    """
    losses = []
    for s in range(pred.shape[0]):
        for t in range(pred.shape[-1]):
            mask = ~torch.isnan(target[s, :, t])
            if mask.sum() < 2:
                continue
            losses.append(1.0 - _ccc(pred[s, mask, t], target[s, mask, t]))
    return torch.stack(losses).mean() if losses else pred.sum() * 0.0


def masked_mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mask = ~torch.isnan(target)
    if mask.sum() == 0:
        return pred.sum() * 0.0
    return torch.mean((pred[mask] - target[mask]) ** 2)


def _ccc(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    return 2 * cov / (x.var(unbiased=False) + y.var(unbiased=False) + (mx - my) ** 2 + 1e-8)


LOSSES = {"ccc_total": masked_ccc_loss, "ccc_seq": masked_ccc_seq_loss, "mse": masked_mse_loss}
