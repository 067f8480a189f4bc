"""Multi-target regressors; targets missing for a clip are NaN and masked out."""

import numpy as np
from numpy.typing import NDArray

from learner.regressors.linear import LinearRegressor
from learner.regressors.torch_models import MLPRegressor

REGRESSORS = {"linear": LinearRegressor, "mlp": MLPRegressor}


def make_regressor(name: str = "linear", *, random_state: int | None = 0, **params):
    """A clip-level regressor by name: "linear" (ridge) or "mlp" (torch)."""
    try:
        cls = REGRESSORS[name]
    except KeyError:
        raise ValueError(f"unknown regressor {name!r}; known: {', '.join(REGRESSORS)}") from None
    return cls(random_state=random_state, **params)


def predict_matrix(model, X) -> NDArray[np.float64]:
    """`model.predict(X)` as a float (n_samples, n_targets) matrix, whatever shape the
    model returns for a single target."""
    return np.asarray(model.predict(X), dtype=np.float64).reshape(len(X), -1)


__all__ = [
    "LinearRegressor",
    "MLPRegressor",
    "make_regressor",
    "predict_matrix",
]
