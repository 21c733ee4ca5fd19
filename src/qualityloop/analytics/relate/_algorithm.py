"""The PLS-PM algorithm on indicator correlation matrices, for a batch of samples at once.

Everything the path model estimates (weights, loadings, path coefficients, R², HTMT) is a
function of the correlation matrix of the standardised indicators, so one fit and a whole
bootstrap share this code: the full sample is a batch of one, a bootstrap is a batch of B
correlation matrices made from resampling counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCHEMES = ("path", "centroid", "factorial")


@dataclass(frozen=True)
class Layout:
    """The model as index arrays: which indicator belongs to which construct, and the paths.

    ``blocks[j]`` holds the indicator columns of construct j; ``adjacency[i, j]`` is 1 for a path
    i -> j; ``mode_b[j]`` is True for a formative (Mode B) construct.
    """

    blocks: tuple[np.ndarray, ...]
    adjacency: np.ndarray
    mode_b: np.ndarray

    @property
    def n_indicators(self) -> int:
        return int(max(b.max() for b in self.blocks)) + 1

    @property
    def n_constructs(self) -> int:
        return len(self.blocks)

    def mask(self) -> np.ndarray:
        """(p, k) 0/1 matrix: indicator i belongs to construct j."""
        mask = np.zeros((self.n_indicators, self.n_constructs))
        for j, block in enumerate(self.blocks):
            mask[block, j] = 1.0
        return mask

    def predecessors(self, j: int) -> np.ndarray:
        return np.flatnonzero(self.adjacency[:, j])

    def endogenous(self) -> list[int]:
        return [j for j in range(self.n_constructs) if self.adjacency[:, j].any()]


@dataclass
class BatchFit:
    """Converged estimates for a batch: weights (B, p, k), score correlations (B, k, k),
    iterations used and which samples converged."""

    weights: np.ndarray
    score_corr: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def correlation_batch(z: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Correlation matrices (B, p, p) of the rows of ``z`` weighted by ``counts`` (B, n).

    ``z`` should already be centred and scaled on the full sample (it keeps the products small
    and the subtraction below accurate). The variance denominator does not matter here: a
    correlation is the same with n or n - 1.
    """
    n_rows, p = z.shape
    totals = counts.sum(axis=1, keepdims=True)
    means = counts @ z / totals
    products = (z[:, :, None] * z[:, None, :]).reshape(n_rows, p * p)
    second = (counts @ products / totals).reshape(-1, p, p)
    cov = second - means[:, :, None] * means[:, None, :]
    sd = np.sqrt(np.clip(np.einsum("bii->bi", cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / (sd[:, :, None] * sd[:, None, :])


def leave_one_out_correlations(z: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Correlation matrices (len(rows), p, p) of ``z`` without row i, for each i in ``rows``:
    the full sums less row i's terms (no (n, n) weight matrix, so any n fits in memory)."""
    n_rows = len(z)
    means = (z.sum(axis=0) - z[rows]) / (n_rows - 1)
    second = (z.T @ z - z[rows, :, None] * z[rows, None, :]) / (n_rows - 1)
    cov = second - means[:, :, None] * means[:, None, :]
    sd = np.sqrt(np.clip(np.einsum("bii->bi", cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / (sd[:, :, None] * sd[:, None, :])


def _normalise(weights: np.ndarray, corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each construct's weights so that its composite has unit variance; returns the
    weights and corr @ weights (which the next step needs anyway)."""
    product = corr @ weights
    variance = (weights * product).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 1.0 / np.sqrt(variance)[:, None, :]
    return weights * scale, product * scale


def _score_corr(weights: np.ndarray, product: np.ndarray) -> np.ndarray:
    """Correlations of the composites (B, k, k), given ``product = corr @ weights``."""
    return weights.transpose(0, 2, 1) @ product


def _regression(score_corr: np.ndarray, predictors: np.ndarray, target: int) -> np.ndarray:
    """Standardised OLS coefficients (B, len(predictors)) of ``target`` on ``predictors``."""
    lhs = score_corr[:, predictors[:, None], predictors[None, :]]
    rhs = score_corr[:, predictors, target]
    return np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]


def inner_weights(score_corr: np.ndarray, layout: Layout, scheme: str) -> np.ndarray:
    """Inner weights E (B, k, k): the proxy of construct j is sum_i score_i * E[i, j]."""
    linked = layout.adjacency + layout.adjacency.T
    if scheme == "centroid":
        return np.sign(score_corr) * linked
    if scheme == "factorial":
        return score_corr * linked
    # path weighting: predecessors by the regression of j on them, successors by correlation
    weights = score_corr * layout.adjacency.T
    for j in layout.endogenous():
        before = layout.predecessors(j)
        weights[:, before, j] = _regression(score_corr, before, j)
    return weights


def _block_inverses(corr: np.ndarray, layout: Layout) -> dict[int, np.ndarray]:
    """Inverses of the within-block correlation matrices of the Mode B constructs."""
    inverses = {}
    for j, block in enumerate(layout.blocks):
        if layout.mode_b[j]:
            within = corr[:, block[:, None], block[None, :]]
            try:
                inverses[j] = np.linalg.inv(within)
            except np.linalg.LinAlgError:  # one singular resample must not sink the batch
                inverses[j] = np.linalg.pinv(within)
    return inverses


def _outer_update(
    corr: np.ndarray, product: np.ndarray, inner: np.ndarray, mask: np.ndarray,
    layout: Layout, inverses: dict[int, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """New outer weights: Mode A the covariances of the indicators with the inner proxy, Mode B
    the multiple regression of the proxy on the block's indicators."""
    proxy_cov = product @ inner  # cov(indicator, proxy of construct), (B, p, k)
    updated = proxy_cov * mask
    for j, inverse in inverses.items():
        block = layout.blocks[j]
        updated[:, block, j] = np.einsum("bqr,br->bq", inverse, proxy_cov[:, block, j])
    return _normalise(updated, corr)


def fit_batch(
    corr: np.ndarray,
    layout: Layout,
    scheme: str,
    start: np.ndarray,
    max_iter: int,
    tol: float,
) -> BatchFit:
    """Iterate the PLS-PM outer/inner estimation to convergence for every sample of the batch.

    Converged samples drop out of the work set; convergence is the largest absolute change of a
    normalised outer weight falling below ``tol``.
    """
    mask = layout.mask()
    start = np.broadcast_to(start * mask, corr.shape[:1] + mask.shape)
    weights, product = _normalise(np.array(start), corr)
    n_iter = np.zeros(len(corr), dtype=int)
    converged = np.zeros(len(corr), dtype=bool)
    active = np.flatnonzero(np.isfinite(weights).all(axis=(1, 2)))
    inverses = _block_inverses(corr, layout)
    for step in range(1, max_iter + 1):
        if active.size == 0:
            break
        everyone = active.size == len(corr)
        sub_corr = corr if everyone else corr[active]
        sub_weights = weights if everyone else weights[active]
        sub_product = product if everyone else product[active]
        inner = inner_weights(_score_corr(sub_weights, sub_product), layout, scheme)
        sub_inverses = {j: inv if everyone else inv[active] for j, inv in inverses.items()}
        new, new_product = _outer_update(sub_corr, sub_product, inner, mask, layout,
                                         sub_inverses)
        change = np.abs(new - sub_weights).max(axis=(1, 2))
        weights[active] = new
        product[active] = new_product
        n_iter[active] = step
        done = change < tol
        converged[active[done]] = True
        active = active[~done & np.isfinite(change)]
    return BatchFit(weights, _score_corr(weights, product), n_iter, converged)


def path_coefficients(score_corr: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Path coefficients (B, k, k) from OLS of each endogenous construct on its predecessors,
    and R² (B, k) (NaN for exogenous constructs)."""
    batch, k = score_corr.shape[:2]
    paths = np.zeros((batch, k, k))
    r2 = np.full((batch, k), np.nan)
    for j in layout.endogenous():
        before = layout.predecessors(j)
        coefs = _regression(score_corr, before, j)
        paths[:, before, j] = coefs
        r2[:, j] = np.einsum("bi,bi->b", coefs, score_corr[:, before, j])
    return paths, r2


def total_effects(paths: np.ndarray) -> np.ndarray:
    """Total effects (B, k, k): the sum over all directed paths, (I - P)^-1 - I."""
    k = paths.shape[-1]
    identity = np.eye(k)
    return np.linalg.inv(identity - paths) - identity


def loadings(corr: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Correlations (B, p, k) of every indicator with every construct score (cross-loadings)."""
    return corr @ weights


def htmt_from_corr(corr: np.ndarray, blocks: tuple[np.ndarray, ...]) -> np.ndarray:
    """Heterotrait-monotrait ratios (B, k, k) from indicator correlations, in absolute value,
    a single indicator's monotrait mean taken as 1 (the conventions of
    qualityloop.analytics.assessment.reliability.htmt, semTools and seminr); NaN diagonal."""
    absolute = np.abs(corr)
    k = len(blocks)
    mono = np.ones((corr.shape[0], k))
    for j, block in enumerate(blocks):
        if len(block) > 1:
            upper = np.triu_indices(len(block), 1)
            mono[:, j] = absolute[:, block[upper[0]], block[upper[1]]].mean(axis=1)
    ratio = np.full((corr.shape[0], k, k), np.nan)
    for a in range(k):
        for b in range(a + 1, k):
            hetero = absolute[:, blocks[a][:, None], blocks[b][None, :]].mean(axis=(1, 2))
            ratio[:, a, b] = ratio[:, b, a] = hetero / np.sqrt(mono[:, a] * mono[:, b])
    return ratio
