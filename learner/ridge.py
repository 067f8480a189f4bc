"""Closed-form ridge regression of one target, the solver of the learner's linear models.

Used by `learner.regressors.LinearRegressor` (weighted, penalty chosen per target) and by
`learner.online.RidgeEnsemble` (unweighted bootstrap members). It lives outside
`learner.regressors` so that the online ranker does not import torch.
"""

import numpy as np
from numpy.typing import NDArray


def ridge(
    Z: NDArray[np.float64],
    y: NDArray[np.float64],
    alpha: float,
    sample_weight: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], float]:
    """Coefficients and intercept minimising `sum w (y - Z coef - b)**2 + alpha |coef|**2`.

    Z (n_samples, n_features) and y (n_samples,) must be finite; the intercept is not
    penalised. Weights are rescaled to mean 1, so `alpha` means the same whatever their
    scale; None is the unweighted case (every weight 1), computed without the weights.
    With fewer samples than features the dual form is solved (an n x n system instead of
    d x d); both forms give the same coefficients.
    """
    if sample_weight is None:
        z_mean = Z.mean(axis=0)
        y_mean = float(y.mean())
        Zc, yc = Z - z_mean, y - y_mean
        Zw = Zc
    else:
        w = sample_weight / sample_weight.mean()
        z_mean = np.average(Z, axis=0, weights=w)
        y_mean = float(np.average(y, weights=w))
        Zc, yc = Z - z_mean, y - y_mean
        Zw = Zc * w[:, None]
    n, d = Zc.shape
    if n < d:  # dual form: cheaper with fewer samples than features
        coef = Zw.T @ np.linalg.solve(Zc @ Zw.T + alpha * np.eye(n), yc)
    else:
        coef = np.linalg.solve(Zc.T @ Zw + alpha * np.eye(d), Zw.T @ yc)
    return coef, y_mean - float(z_mean @ coef)


class RidgePath:
    """Ridge solutions for any number of penalties (> 0) and targets from one SVD.

    `RidgePath(Z, sample_weight)` decomposes the weighted, centred design once
    (`A = sqrt(w) (Z - mean_w) = U diag(s) V^T`, thin SVD: O(n d min(n, d))); `solve(y,
    alphas)` then gives, for every penalty, the coefficients and intercept that `ridge`
    gives for it (the same minimiser: `coef = V diag(s / (s**2 + alpha)) U^T sqrt(w)
    (y - mean_w y)`), at O(min(n, d) (n + d)) per target and penalty. The penalty search of
    `learner.regressors.LinearRegressor` (K folds x 13 penalties x targets) costs one
    SVD per fold instead of one linear solve per fold, penalty and target.

    With fewer rows than features (a few hundred clips of ComParE's 6,373) the same
    factors come from the rows' Gram matrix, `A A^T = U diag(s**2) U^T` (one n x n
    eigendecomposition, and `diag(s) V^T = U^T A`), several times cheaper than the SVD;
    the solution is then the dual one, `coef = (U^T A)^T diag(1 / (s**2 + alpha)) U^T y`,
    which never divides by a small singular value.
    """

    def __init__(
        self, Z: NDArray[np.float64], sample_weight: NDArray[np.float64] | None = None
    ) -> None:
        if sample_weight is None:
            self.z_mean = Z.mean(axis=0)
            self.root_w: NDArray[np.float64] | None = None
            A = Z - self.z_mean
        else:
            w = sample_weight / sample_weight.mean()
            self.z_mean = np.average(Z, axis=0, weights=w)
            self.root_w = np.sqrt(w)
            A = (Z - self.z_mean) * self.root_w[:, None]
        self.w = None if sample_weight is None else sample_weight / sample_weight.mean()
        # s**2 and diag(s) V^T of A's thin SVD, with U.
        self.U: NDArray[np.float64]
        self.s2: NDArray[np.float64]
        self.sVt: NDArray[np.float64]
        if A.shape[0] < A.shape[1]:
            from scipy.linalg import eigh

            self.s2, self.U = eigh(A @ A.T, check_finite=False)
            self.s2 = np.maximum(self.s2, 0.0)  # the centring's null direction: about 0
            self.sVt = self.U.T @ A
        else:
            self.U, s, Vt = np.linalg.svd(A, full_matrices=False)
            self.s2, self.sVt = s**2, s[:, None] * Vt

    def solve(
        self, y: NDArray[np.float64], alphas: NDArray[np.float64] | list[float] | tuple[float, ...]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Coefficients (n_alphas, n_features) and intercepts (n_alphas,) for target y."""
        y_mean = float(y.mean() if self.w is None else np.average(y, weights=self.w))
        yc = y - y_mean
        b = self.U.T @ (yc if self.root_w is None else yc * self.root_w)
        a = np.asarray(alphas, dtype=np.float64)[:, None]
        coefs: NDArray[np.float64] = (b / (self.s2 + a)) @ self.sVt
        return coefs, y_mean - coefs @ self.z_mean


class GramRidge:
    """Ridge fits of many resamples of the rows of one matrix, from its Gram matrix.

    `GramRidge(Z)` computes `G = Z Z^T` once (O(n^2 d) for n rows of d features);
    `solve(rows, counts, y, alpha)` then gives the ridge fit of the sample that holds row
    `rows[i]` of Z `counts[i]` times (a bootstrap sample: the objective of repeated rows
    is that of rows weighted by their count), the minimiser `ridge(Z[sample], y_sample,
    alpha)` gives, in the dual form from G alone: O(k^3) for k distinct rows, nothing
    of order d. With more features than rows, bootstrap ensembles of ridges cost one
    Gram matrix instead of one per member.

    The coefficients come back as dual weights `c` on the rows (`coef = Z[rows].T @ c`)
    so that a caller with many fits maps them to feature space in one matrix product.
    """

    def __init__(self, Z: NDArray[np.float64]) -> None:
        self.gram = Z @ Z.T

    def solve(
        self,
        rows: NDArray[np.int64],
        counts: NDArray[np.float64],
        y: NDArray[np.float64],
        alpha: float,
    ) -> tuple[NDArray[np.float64], float]:
        """Dual weights (len(rows),) and intercept of the ridge on `rows` repeated `counts`
        times (counts > 0; `y` holds one value per row of `rows`)."""
        from scipy.linalg import cho_factor, cho_solve

        G = self.gram[np.ix_(rows, rows)]
        p = counts / counts.sum()  # each distinct row's share of the sample
        y_mean = float(p @ y)
        # Gram matrix of the rows centred on the sample's mean: (I - 1 p^T) G (I - p 1^T).
        g = G @ p
        centred = G - g[:, None] - g[None, :] + float(p @ g)
        # Weighted dual: (W^1/2 K W^1/2 + alpha I) b = W^1/2 (y - y_mean), a = W^1/2 b and
        # coef = Zc^T a = Z^T a - mean(Z) sum(a), where sum(a) = 0: W^1/2 1 spans the
        # system's null space (the centring), orthogonal to W^1/2 (y - y_mean).
        root = np.sqrt(counts)
        system = centred * root[:, None] * root[None, :]
        system[np.diag_indices_from(system)] += alpha
        factor = cho_factor(system, lower=True, check_finite=False)
        weights: NDArray[np.float64] = root * cho_solve(
            factor, root * (y - y_mean), check_finite=False
        )
        # intercept = y_mean - (sample mean of Z) . coef = y_mean - p^T G weights
        return weights, y_mean - float(p @ (G @ weights))


# Rows the principal axes of a reduced-rank ridge are computed from, at most.
BASIS_ROWS = 2000


def principal_axes(
    Z: NDArray[np.float64], rank: int, *, random_state: int | None = 0, max_rows: int = BASIS_ROWS
) -> NDArray[np.float64]:
    """The `rank` leading principal axes (n_features, rank) of the rows of `Z` (centred
    on their mean), from at most `max_rows` of them (a random subset, fixed by
    `random_state`, when there are more).

    Computed from the rows' Gram matrix (max_rows^2 n_features, then the top `rank`
    eigenpairs of a max_rows x max_rows matrix): with thousands of features and clips,
    cheaper than an SVD of the whole matrix, and unsupervised (no label is used).
    """
    from scipy.linalg import eigh

    rows = Z
    if len(Z) > max_rows:
        pick = np.random.default_rng(random_state).choice(len(Z), max_rows, replace=False)
        rows = Z[np.sort(pick)]
    centred = rows - rows.mean(axis=0)
    m = len(centred)
    rank = min(rank, m - 1, Z.shape[1])
    values, vectors = eigh(centred @ centred.T, subset_by_index=[m - rank, m - 1])
    order = np.argsort(values)[::-1]
    values, vectors = np.maximum(values[order], 0.0), vectors[:, order]
    keep = values > values[0] * 1e-12 if values.size and values[0] > 0 else values > 0
    axes: NDArray[np.float64] = (centred.T @ vectors[:, keep]) / np.sqrt(values[keep])
    return axes
