"""Multi-target regressors; targets missing for a clip are NaN and masked out."""

from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from learner.regressors.linear import LinearRegressor
from learner.regressors.torch_models import MLPRegressor

REGRESSORS: dict[str, type[LinearRegressor | MLPRegressor]] = {
    "linear": LinearRegressor,
    "mlp": MLPRegressor,
}


class _Predicts(Protocol):
    """Anything with a scikit-learn style `predict`."""

    def predict(self, X: ArrayLike, /) -> Any: ...


def make_regressor(
    name: str = "linear", *, random_state: int | None = 0, **params: Any
) -> LinearRegressor | MLPRegressor:
    """A clip-level regressor by name: "linear" (ridge) or "mlp" (torch)."""
    try:
        cls = REGRESSORS[name]
    except KeyError:
        raise ValueError(f"unknown regressor {name!r}; known: {', '.join(REGRESSORS)}") from None
    model: LinearRegressor | MLPRegressor = cls(random_state=random_state, **params)
    return model


def predict_matrix(model: _Predicts, X: NDArray[Any]) -> NDArray[np.float64]:
    """`model.predict(X)` as a float (n_samples, n_targets) matrix, whatever shape the
    model returns for a single target."""
    return np.asarray(model.predict(X), dtype=np.float64).reshape(len(X), -1)


__all__ = [
    "LinearRegressor",
    "MLPRegressor",
    "make_regressor",
    "predict_matrix",
]
