"""Multi-target regressors; targets missing for a clip are NaN and masked out."""

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from learner.regressors.extra import (
    ClippedRegressor,
    PerTargetRegressor,
    PLSRegressor,
    SVRRegressor,
)
from learner.regressors.linear import LinearRegressor
from learner.regressors.torch_models import MLPRegressor

Regressor = (
    LinearRegressor
    | MLPRegressor
    | PLSRegressor
    | SVRRegressor
    | PerTargetRegressor
    | ClippedRegressor
)


def _mlp_per_target(*, random_state: int | None = 0, **params: Any) -> PerTargetRegressor:
    return PerTargetRegressor(MLPRegressor(**params), random_state=random_state)


def _svr_rbf(*, random_state: int | None = 0, **params: Any) -> SVRRegressor:
    return SVRRegressor(kernel="rbf", random_state=random_state, **params)


# The clipped ridge's rank with thousands of clips and features (ComParE 2016: 6,373):
# exact below it, in the leading principal axes above (LinearRegressor's max_rank).
CLIPPED_MAX_RANK = 256


def _linear_clipped(*, random_state: int | None = 0, **params: Any) -> ClippedRegressor:
    params.setdefault("max_rank", CLIPPED_MAX_RANK)
    return ClippedRegressor(LinearRegressor(random_state=random_state, **params))


# name -> factory(random_state=..., **params); the params go to the model's constructor
# (to the per-target or clipped model's inner one).
REGRESSORS: dict[str, Callable[..., Regressor]] = {
    "linear": LinearRegressor,
    "mlp": MLPRegressor,
    "pls": PLSRegressor,
    "svr": SVRRegressor,
    "svr_rbf": _svr_rbf,
    "mlp_per_target": _mlp_per_target,
    "linear_clipped": _linear_clipped,
}


class _Predicts(Protocol):
    """Anything with a scikit-learn style `predict`."""

    def predict(self, X: ArrayLike, /) -> Any: ...


def make_regressor(
    name: str = "linear", *, random_state: int | None = 0, **params: Any
) -> Regressor:
    """A clip-level regressor by name: "linear" (ridge), "mlp" (torch), "pls" (partial
    least squares), "svr" (linear SVR), "svr_rbf" (kernel SVR), "mlp_per_target" (one MLP
    per target) or "linear_clipped" (ridge on robustly scaled, outlier-clipped features, in
    at most `CLIPPED_MAX_RANK` principal axes)."""
    try:
        factory = REGRESSORS[name]
    except KeyError:
        raise ValueError(f"unknown regressor {name!r}; known: {', '.join(REGRESSORS)}") from None
    return factory(random_state=random_state, **params)


def predict_matrix(model: _Predicts, X: NDArray[Any]) -> NDArray[np.float64]:
    """`model.predict(X)` as a float (n_samples, n_targets) matrix, whatever shape the
    model returns for a single target."""
    return np.asarray(model.predict(X), dtype=np.float64).reshape(len(X), -1)


__all__ = [
    "REGRESSORS",
    "ClippedRegressor",
    "LinearRegressor",
    "MLPRegressor",
    "PLSRegressor",
    "PerTargetRegressor",
    "Regressor",
    "SVRRegressor",
    "make_regressor",
    "predict_matrix",
]
