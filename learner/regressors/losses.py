"""Training losses with missing targets masked out (NaN in y), optionally weighted.

`weight` is one non-negative weight per sample, or None (every sample counts the same).
Within each target the weights of its labelled samples are rescaled to mean 1, so only
their ratios matter, and None is computed without them: uniform weights give the
unweighted loss (to rounding; `MLPRegressor` passes None for uniform weights, so its
fit is then exactly the unweighted one).
"""

import torch


def masked_ccc_loss(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """1 - CCC over all labelled entries, per target, averaged over targets ("total CCC").

    pred, target: (n_samples, n_targets); NaN targets are ignored; weight: (n_samples,)
    or None. With weights the CCC's means, variances and covariance are weighted.
    """
    losses = []
    for t in range(pred.shape[-1]):
        mask = ~torch.isnan(target[:, t])
        if mask.sum() < 2:
            continue
        w = None if weight is None else weight[mask]
        if w is not None and not w.sum() > 0:
            continue
        losses.append(1.0 - _ccc(pred[mask, t], target[mask, t], w))
    return torch.stack(losses).mean() if losses else pred.sum() * 0.0


def masked_mse_loss(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error over the labelled entries (weighted mean with `weight`)."""
    mask = ~torch.isnan(target)
    if mask.sum() == 0:
        return pred.sum() * 0.0
    squared = (pred[mask] - target[mask]) ** 2
    if weight is None:
        return torch.mean(squared)
    w = weight[:, None].expand_as(target)[mask]
    if not w.sum() > 0:
        return pred.sum() * 0.0
    return torch.mean(w / w.mean() * squared)


def _ccc(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    if w is None:
        mx, my = x.mean(), y.mean()
        cov = ((x - mx) * (y - my)).mean()
        return 2 * cov / (x.var(unbiased=False) + y.var(unbiased=False) + (mx - my) ** 2 + 1e-8)
    w = w / w.mean()
    mx, my = (w * x).mean(), (w * y).mean()
    dx, dy = x - mx, y - my
    cov = (w * dx * dy).mean()
    return 2 * cov / ((w * dx**2).mean() + (w * dy**2).mean() + (mx - my) ** 2 + 1e-8)


LOSSES = {"ccc_total": masked_ccc_loss, "mse": masked_mse_loss}
