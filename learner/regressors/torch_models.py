"""Torch regressors on the CPU: an MLP on clip functionals, an (B)LSTM on feature sequences.

Both are scikit-learn-style estimators. They pickle as parameters plus a state_dict of
plain arrays and rebuild their network with a strict load, so a mismatched state fails
loudly instead of loading half a model.
"""

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from torch import nn

from learner.regressors.losses import LOSSES


class _TorchRegressor(RegressorMixin, BaseEstimator):
    def _build(self, n_features: int, n_targets: int) -> nn.Module:
        raise NotImplementedError

    def _standardise(self, X: np.ndarray, fit: bool) -> np.ndarray:
        axes = tuple(range(X.ndim - 1))
        if fit:
            self.mean_ = X.mean(axis=axes)
            self.scale_ = X.std(axis=axes)
            self.scale_[self.scale_ == 0] = 1.0
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def fit(self, X, y, sample_weight=None) -> "_TorchRegressor":
        """Train with early stopping on a held-out `dev_fraction` of the samples."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(*X.shape[:-1], -1)
        loss_fn = LOSSES[self.loss]
        generator = torch.Generator().manual_seed(int(self.random_state or 0))
        torch.manual_seed(int(self.random_state or 0))
        Z = torch.from_numpy(self._standardise(X, fit=True))
        Y = torch.from_numpy(y.astype(np.float32))
        self.n_features_in_, self.n_targets_ = X.shape[-1], y.shape[-1]
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
                loss = loss_fn(self.module_(Z[batch]), Y[batch])
                loss.backward()
                optimiser.step()
            if n_dev == 0:
                continue
            self.module_.eval()
            with torch.inference_mode():
                dev_loss = float(loss_fn(self.module_(Z[dev]), Y[dev]))
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
        return self

    def predict(self, X) -> NDArray[np.float64]:
        Z = torch.from_numpy(self._standardise(np.asarray(X, dtype=np.float64), fit=False))
        with torch.inference_mode():
            return self.module_(Z).numpy().astype(np.float64)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if "module_" in state:
            state["module_"] = {k: v.numpy().copy() for k, v in self.module_.state_dict().items()}
        return state

    def __setstate__(self, state: dict) -> None:
        module_state = state.pop("module_", None)
        self.__dict__.update(state)
        if module_state is not None:
            self.module_ = self._build(self.n_features_in_, self.n_targets_)
            self.module_.load_state_dict(
                {k: torch.from_numpy(v) for k, v in module_state.items()}, strict=True
            )
            self.module_.eval()


class MLPRegressor(_TorchRegressor):
    """Feed-forward network on clip functionals, multi-target, CCC or MSE loss."""

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


class _Recurrent(nn.Module):
    def __init__(
        self,
        n_features: int,
        n_targets: int,
        hidden: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        self.rnn = nn.LSTM(
            n_features, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), n_targets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return torch.tanh(self.head(self.dropout(out)))


class SequenceRegressor(_TorchRegressor):
    """LSTM/BLSTM over sequences: (n_seq, n_steps, n_features) -> (..., n_targets).

    loss "ccc_seq" is 1 - CCC per sequence averaged ("sum of CCC"); "ccc_total" pools the
    batch; "mse" is squared error. Missing targets (NaN) are masked.
    """

    def __init__(
        self,
        hidden: int = 64,
        layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.3,
        loss: str = "ccc_seq",
        learning_rate: float = 2e-3,
        weight_decay: float = 0.0,
        batch_size: int = 16,
        max_epochs: int = 60,
        patience: int = 10,
        dev_fraction: float = 0.15,
        random_state: int | None = 0,
    ) -> None:
        self.hidden = hidden
        self.layers = layers
        self.bidirectional = bidirectional
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
        return _Recurrent(
            n_features, n_targets, self.hidden, self.layers, self.bidirectional, self.dropout
        )
