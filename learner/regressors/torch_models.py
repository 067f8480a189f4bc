"""A torch regressor on the CPU: an MLP on clip functionals, scikit-learn style.

It pickles as parameters plus a state_dict of plain arrays and rebuilds its network with
a strict load, so a mismatched state fails loudly instead of loading half a model.
"""

from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from learner.regressors.losses import LOSSES
from learner.standardise import fit_standardiser, standardise
from learner.validation import check_features, check_sample_weight, check_targets


class MLPRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    """Feed-forward network on clip functionals, multi-target, CCC or MSE loss.

    Trained with Adam and early stopping on a held-out `dev_fraction` of the samples
    (none below 10 samples). `sample_weight` weights every sample's part of the loss,
    on the training batches and on the held-out ones alike (see `losses`). NaN targets
    are masked out. The network ends in tanh: targets are expected in [-1, 1].

    `random_state` seeds everything random in a fit (the split, the batches, the initial
    weights, dropout): a fit is deterministic, and it neither reads nor changes torch's
    global random state (it runs under `torch.random.fork_rng`; threads that use torch's
    global generator while a fit runs in the same process would still see it move).

    Attributes
    ----------
    mean_, scale_ : feature standardisation
    n_features_in_, n_targets_ : input and output widths
    module_ : the trained torch network (in eval mode)
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (128, 64),
        dropout: float = 0.2,
        loss: str = "ccc_total",
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        max_epochs: int = 200,
        patience: int = 15,
        dev_fraction: float = 0.15,
        random_state: int | None = 0,
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.loss = loss
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.dev_fraction = dev_fraction
        self.random_state = random_state

    def _build(self, n_features: int, n_targets: int) -> nn.Module:
        layers: list[nn.Module] = []
        width = n_features
        for size in self.hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(self.dropout)]
            width = size
        layers += [nn.Linear(width, n_targets), nn.Tanh()]
        return nn.Sequential(*layers)

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> "MLPRegressor":
        """Train on X (n_samples, n_features) and y (n_samples[, n_targets]), NaN = missing."""
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; known: {', '.join(LOSSES)}")
        X = check_features(self, X)
        y = check_targets(y, len(X))
        self._y_1d = y.ndim == 1
        y = y.reshape(len(X), -1)
        w = check_sample_weight(sample_weight, len(X))
        seed = int(self.random_state or 0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # initial weights and dropout, on the forked state
            self._fit(X, y, w, torch.Generator().manual_seed(seed))
        return self

    def _fit(
        self,
        X: NDArray[np.float64],
        y: NDArray[np.float64],
        w: NDArray[np.float64] | None,
        generator: torch.Generator,
    ) -> None:
        loss_fn = LOSSES[self.loss]
        self.mean_, self.scale_ = fit_standardiser(X)
        Z = torch.from_numpy(standardise(X, self.mean_, self.scale_).astype(np.float32))
        Y = torch.from_numpy(y.astype(np.float32))
        # Uniform weights are no weights: the loss is then exactly the unweighted one.
        W = None if w is None or (w == w[0]).all() else torch.from_numpy(w.astype(np.float32))
        self.n_targets_ = y.shape[1]
        self.module_ = self._build(self.n_features_in_, self.n_targets_)
        order = torch.randperm(len(Z), generator=generator)
        n_dev = max(1, int(self.dev_fraction * len(Z))) if len(Z) >= 10 else 0
        dev, train = order[:n_dev], order[n_dev:]
        optimiser = torch.optim.Adam(
            self.module_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        best, best_state, patience = np.inf, None, 0
        for _ in range(self.max_epochs):
            self.module_.train()
            shuffled = train[torch.randperm(len(train), generator=generator)]
            for start in range(0, len(shuffled), self.batch_size):
                batch = shuffled[start : start + self.batch_size]
                optimiser.zero_grad()
                loss = loss_fn(self.module_(Z[batch]), Y[batch], None if W is None else W[batch])
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
            if n_dev == 0:
                continue
            self.module_.eval()
            with torch.inference_mode():
                dev_loss = float(
                    loss_fn(self.module_(Z[dev]), Y[dev], None if W is None else W[dev])
                )
            if dev_loss < best - 1e-4:
                best, patience = dev_loss, 0
                best_state = {k: v.clone() for k, v in self.module_.state_dict().items()}
            else:
                patience += 1
                if patience >= self.patience:
                    break
        if best_state is not None:
            self.module_.load_state_dict(best_state, strict=True)
        self.module_.eval()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        # Predictions are bounded by tanh to a rating scale's [-1, 1]: the score that
        # scikit-learn's checks expect on their unbounded targets is out of reach.
        tags.regressor_tags.poor_score = True
        return tags

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """(n_samples, n_targets) predictions; (n_samples,) if fitted on a 1-d y."""
        check_is_fitted(self, "module_")
        X = check_features(self, X, reset=False)
        Z = torch.from_numpy(standardise(X, self.mean_, self.scale_).astype(np.float32))
        with torch.inference_mode():
            pred: NDArray[np.float64] = self.module_(Z).numpy().astype(np.float64)
        return pred[:, 0] if getattr(self, "_y_1d", False) else pred  # older pickles: 2-d

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if "module_" in state:
            state["module_"] = {k: v.numpy().copy() for k, v in self.module_.state_dict().items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        module_state = state.pop("module_", None)
        self.__dict__.update(state)
        if module_state is not None:
            self.module_ = self._build(self.n_features_in_, self.n_targets_)
            self.module_.load_state_dict(
                {k: torch.from_numpy(v) for k, v in module_state.items()}, strict=True
            )
            self.module_.eval()
