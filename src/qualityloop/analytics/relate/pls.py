"""Partial least squares path modelling (PLS-PM, Wold's algorithm with Lohmöller's inner
schemes): construct scores, path coefficients, measurement quality and bootstrap inference."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qualityloop.analytics.exceptions import ConvergenceWarning, check_is_fitted
from qualityloop.analytics.relate import _algorithm as alg
from qualityloop.analytics.relate import _bootstrap as boot
from qualityloop.analytics.relate import _parameters as params
from qualityloop.analytics.relate import _quality as quality
from qualityloop.analytics.relate import _spec as spec

LEVEL = 0.95


@dataclass(frozen=True)
class _Estimator:
    """The statistic a bootstrap or jackknife sample is reduced to (picklable for processes)."""

    z: np.ndarray
    layout: alg.Layout
    scheme: str
    start: np.ndarray
    max_iter: int
    tol: float
    cat: params.Catalogue

    def __call__(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.on_correlations(alg.correlation_batch(self.z, counts))

    def jackknife(self) -> np.ndarray:
        """The parameters (n, m) with each row left out in turn, in batches."""
        n_rows, p = self.z.shape
        size = boot.batch_size(0, p)  # no counts matrix here: only the (size, p, p) arrays
        parts = [self.on_correlations(alg.leave_one_out_correlations(
            self.z, np.arange(start, min(start + size, n_rows))))[0]
            for start in range(0, n_rows, size)]
        return np.concatenate(parts)

    def on_correlations(self, corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Parameters (B, m) and success flags (B,) for a batch of correlation matrices."""
        usable = np.isfinite(corr).all(axis=(1, 2))
        out = np.full((len(corr), len(self.cat.index)), np.nan)
        ok = np.zeros(len(corr), dtype=bool)
        if usable.any():
            sub = corr[usable]
            fit = alg.fit_batch(sub, self.layout, self.scheme, self.start, self.max_iter, self.tol)
            out[usable] = params.values(fit, sub, self.layout, self.cat)
            ok[usable] = fit.converged
        out[~ok] = np.nan
        return out, ok


class PLSPathModel:
    """Partial least squares path model (PLS-PM) with bootstrap inference.

    Parameters
    ----------
    measurement : dict of str to list of str
        Each construct (latent variable) and the data columns that measure it (its indicators).
    structural : list of (str, str)
        The paths between constructs as (from, to) pairs. The model must be recursive (no
        cycles) and every construct must be on at least one path.
    modes : dict of str to {"A", "B"}, optional
        Mode A (reflective: weights are the indicators' covariances with the inner proxy) or
        Mode B (formative: weights from the multiple regression of the proxy on the indicators)
        per construct; default Mode A for all.
    scheme : {"path", "centroid", "factorial"}, default "path"
        Inner weighting scheme. ``"path"``: predecessors weighted by the regression of the
        construct on them, successors by correlation; ``"centroid"``: the sign of the
        correlation; ``"factorial"``: the correlation.
    missing : {"mean", "listwise"}, default "mean"
        Missing indicator values: replaced by the column mean, or rows with any missing
        indicator dropped. What was done is in ``missing_``.
    max_iter : int, default 300
        Iteration limit of the outer/inner estimation.
    tol : float, default 1e-7
        Convergence: the largest change of an outer weight between iterations.

    Attributes
    ----------
    path_coefficients_ : pandas.DataFrame
        Rows = from, columns = to; 0 where there is no path.
    r2_, r2_adjusted_ : pandas.Series
        R² and adjusted R² of the endogenous constructs.
    outer_loadings_, outer_weights_ : pandas.DataFrame
        Rows = indicators, columns = constructs; NaN outside a construct's block.
    cross_loadings_ : pandas.DataFrame
        Correlation of every indicator with every construct score.
    construct_scores_ : pandas.DataFrame
        Standardised construct scores (mean 0, variance 1 with denominator n - 1), one row per
        data row used.
    reliability_ : pandas.DataFrame
        Per construct: ``alpha`` (Cronbach), ``rho_a`` (Dijkstra-Henseler), ``rho_c``
        (composite reliability), ``ave`` (average variance extracted).
    htmt_ : pandas.DataFrame
        Heterotrait-monotrait ratios, construct x construct.
    f2_ : pandas.DataFrame
        Cohen's f² of each path (rows = from, columns = to; NaN where there is no path).
    vif_ : dict of pandas.DataFrame
        ``"inner"``: VIF of each predictor construct in its target's regression (rows = from,
        columns = to); ``"outer"``: VIF of each indicator within its block (indicators x
        constructs).
    total_effects_, indirect_effects_ : pandas.DataFrame
        Rows = from, columns = to (mediation: indirect = total - direct).
    n_iter_ : int
        Iterations the estimation took.
    n_obs_ : int
        Rows used.
    missing_ : dict
        The missing-value rule and what it did (rows, rows_used, rows_dropped, values_replaced,
        missing_values per column).
    bootstrap_ : pandas.DataFrame or None
        With ``fit(..., bootstrap=N)``: one row per parameter (index kind, from, to; kinds path,
        loading, weight, indirect, total, htmt, r2) with ``estimate``, ``boot_mean``,
        ``std_error``, ``t``, ``p`` and 95% percentile (``ci_lower``, ``ci_upper``) and BCa
        (``bca_lower``, ``bca_upper``) bounds.
    bootstrap_draws_ : pandas.DataFrame or None
        The bootstrap values (resamples x parameters); failed resamples are dropped.

    See Also
    --------
    pls_predict : out-of-sample predictive power (PLSpredict).

    Notes
    -----
    Indicators are standardised to mean 0 and variance 1 with denominator n - 1 (as seminr and
    SmartPLS); construct scores use the same denominator, so the outer weights are those of
    seminr. Paths, loadings, R² and HTMT do not depend on the denominator. The algorithm runs
    on the indicators' correlation matrix, so a bootstrap resample costs one weighted
    correlation matrix and a few small matrix products, and all resamples run as one batch,
    starting from the full-sample weights. Resamples are drawn from the rows used (after the
    missing-value rule: with ``missing="mean"`` the mean-replaced data). Bootstrap p values
    are two-sided from the t distribution with B - 1 degrees of freedom (as SmartPLS); BCa
    intervals take their acceleration from the jackknife (Efron 1987).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> quality, noise = rng.normal(size=(2, 200))
    >>> loyalty = 0.6 * quality + 0.8 * noise
    >>> data = pd.DataFrame({f"q{i}": quality + rng.normal(0, .5, 200) for i in range(3)}
    ...                     | {f"l{i}": loyalty + rng.normal(0, .5, 200) for i in range(3)})
    >>> model = PLSPathModel({"Quality": ["q0", "q1", "q2"], "Loyalty": ["l0", "l1", "l2"]},
    ...                      [("Quality", "Loyalty")]).fit(data)
    >>> round(float(model.path_coefficients_.loc["Quality", "Loyalty"]), 2)
    0.54
    >>> booted = model.fit(data, bootstrap=500, seed=1)
    >>> table = booted.summary(["path"])
    >>> list(table.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['estimate', 'boot_mean', 'std_error', 't', 'p', 'ci_lower', 'ci_upper', 'bca_lower',
     'bca_upper']
    >>> bool(table["bca_lower"].iloc[0] > 0)
    True
    """

    def __init__(
        self,
        measurement: Mapping[str, Sequence[str]],
        structural: Sequence[tuple[str, str]],
        modes: Mapping[str, str] | None = None,
        scheme: str = "path",
        missing: str = "mean",
        max_iter: int = 300,
        tol: float = 1e-7,
    ) -> None:
        self.measurement = measurement
        self.structural = structural
        self.modes = modes
        self.scheme = scheme
        self.missing = missing
        self.max_iter = max_iter
        self.tol = tol

    # fitting -----------------------------------------------------------------------------------

    def fit(
        self, data: Any, bootstrap: int = 0, seed: int | None = None, n_jobs: int = 1
    ) -> PLSPathModel:
        """Estimate the model, and with ``bootstrap=N`` its bootstrap distribution.

        Parameters
        ----------
        data : pandas or polars DataFrame, or Ibis table
            One row per respondent (or unit); the indicator columns must be numeric.
        bootstrap : int, default 0
            Number of bootstrap resamples (0: none). 5,000 is the usual choice for reporting.
        seed : int, optional
            Seed of the resampling, for reproducible intervals.
        n_jobs : int, default 1
            Processes for the bootstrap (the resamples are split between them; same draws as
            one process). The batch algorithm is already vectorised and numpy's BLAS uses the
            cores, so on the ECSI model (5,000 resamples, 2 cores) two processes are slower
            than one; try it for much larger models.

        Returns
        -------
        PLSPathModel
            self, fitted.
        """
        self._prepare()
        values, self.missing_ = spec.indicator_frame(
            data, self._blocks, self._indicators, self.missing
        )
        raw = values.to_numpy(dtype=float)
        z = (raw - raw.mean(axis=0)) / raw.std(axis=0, ddof=1)
        corr = (z.T @ z / (len(z) - 1))[None]
        spec.check_mode_b_blocks(corr[0], self._blocks, self._indicators, self._layout.mode_b)
        result = alg.fit_batch(corr, self._layout, self.scheme, np.ones(1), self.max_iter,
                               self.tol)
        self._warn_if_not_converged(result)
        self._store(values, z, corr, result)
        self._catalogue = params.catalogue(self._layout, self._constructs, self._indicators)
        self._estimate = params.values(result, corr, self._layout, self._catalogue)[0]
        self.bootstrap_: pd.DataFrame | None = None
        self.bootstrap_draws_: pd.DataFrame | None = None
        if bootstrap:
            self._bootstrap(z, result.weights[0], int(bootstrap), seed, n_jobs)
        return self

    def _prepare(self) -> None:
        spec.check_options(self.scheme, self.missing, self.max_iter, self.tol)
        self._blocks = spec.check_measurement(self.measurement)
        self._constructs = list(self._blocks)
        self._paths = spec.check_structural(self.structural, self._constructs)
        mode_b = spec.check_modes(self.modes, self._constructs)
        self._layout, self._indicators = spec.build_layout(self._blocks, self._paths, mode_b)

    def _warn_if_not_converged(self, result: alg.BatchFit) -> None:
        if not result.converged[0]:
            warnings.warn(
                f"PLS estimation did not converge in {self.max_iter} iterations (tol={self.tol}); "
                "the estimates are from the last iteration. Try a larger max_iter, another "
                "scheme, or check for Mode B blocks with nearly collinear indicators.",
                ConvergenceWarning, stacklevel=3,
            )

    def _store(self, values: pd.DataFrame, z: np.ndarray, corr: np.ndarray,
               result: alg.BatchFit) -> None:
        layout, constructs, indicators = self._layout, self._constructs, self._indicators
        mask = layout.mask().astype(bool)
        weights = result.weights[0]
        paths, r2 = alg.path_coefficients(result.score_corr, layout)
        total = alg.total_effects(paths)[0]
        self.n_iter_ = int(result.n_iter[0])
        self.n_obs_ = len(values)
        self._standardised = pd.DataFrame(z, index=values.index, columns=indicators)
        by_construct = lambda m: pd.DataFrame(m, index=constructs, columns=constructs)  # noqa: E731
        self.path_coefficients_ = by_construct(paths[0])
        self.total_effects_ = by_construct(total)
        self.indirect_effects_ = by_construct(total - paths[0])
        endogenous = [constructs[j] for j in layout.endogenous()]
        self.r2_ = pd.Series(r2[0], index=constructs).loc[endogenous].rename("r2")
        n_pred = layout.adjacency.sum(axis=0)[layout.endogenous()]
        adjusted = 1 - (1 - self.r2_.to_numpy()) * (self.n_obs_ - 1) / (self.n_obs_ - n_pred - 1)
        self.r2_adjusted_ = pd.Series(adjusted, index=endogenous, name="r2_adjusted")
        cross = alg.loadings(corr, result.weights)[0]
        by_indicator = lambda m: pd.DataFrame(m, index=indicators, columns=constructs)  # noqa: E731
        self.cross_loadings_ = by_indicator(cross)
        self.outer_loadings_ = by_indicator(np.where(mask, cross, np.nan))
        self.outer_weights_ = by_indicator(np.where(mask, weights, np.nan))
        self.construct_scores_ = pd.DataFrame(z @ weights, index=values.index, columns=constructs)
        self.f2_ = by_construct(quality.f_squared(result.score_corr[0], layout))
        self.vif_ = {
            "inner": by_construct(quality.inner_vif(result.score_corr[0], layout)),
            "outer": by_indicator(quality.outer_vif(corr[0], layout)),
        }
        self.reliability_ = quality.reliability_table(self._standardised, self._blocks,
                                                      self.outer_loadings_, self.outer_weights_)
        self.htmt_ = quality.htmt_table(values, self._blocks)

    def _bootstrap(self, z: np.ndarray, start: np.ndarray, n_boot: int, seed: int | None,
                   n_jobs: int) -> None:
        if n_boot < 2:
            raise ValueError(f"bootstrap must be 0 or at least 2 resamples; got {n_boot}")
        estimator = _Estimator(z, self._layout, self.scheme, start, self.max_iter, self.tol,
                               self._catalogue)
        n_rows = len(z)
        indices = boot.resample_indices(np.random.default_rng(seed), n_rows, n_boot)
        draws, ok = boot.draw(estimator, indices, n_rows, z.shape[1], n_jobs)
        jackknife = estimator.jackknife()
        failed = int((~ok).sum())
        if failed:
            warnings.warn(
                f"{failed} of {n_boot} bootstrap resamples gave no estimate (an indicator "
                "without variance in the resample, or no convergence) and were left out",
                ConvergenceWarning, stacklevel=3,
            )
        index = self._catalogue.index
        table = boot.summarise(self._estimate, draws[ok], jackknife, index, LEVEL)
        table.attrs.update(n_boot=n_boot, failed=failed, level=LEVEL, seed=seed)
        self.bootstrap_draws_ = pd.DataFrame(draws[ok], columns=index)
        self.bootstrap_ = table

    # results -----------------------------------------------------------------------------------

    def summary(self, kinds: Sequence[str] | None = None) -> pd.DataFrame:
        """Every parameter with its estimate, and with a bootstrap its inference.

        Parameters
        ----------
        kinds : list of str, optional
            Keep only these kinds (``path``, ``loading``, ``weight``, ``indirect``, ``total``,
            ``htmt``, ``r2``); default all.

        Returns
        -------
        pandas.DataFrame
            Index (kind, from, to); column ``estimate`` and, after a bootstrap, ``boot_mean``,
            ``std_error``, ``t``, ``p``, ``ci_lower``, ``ci_upper``, ``bca_lower``,
            ``bca_upper``.
        """
        check_is_fitted(self, "path_coefficients_")
        table = self.bootstrap_
        if table is None:
            table = pd.DataFrame({"estimate": self._estimate}, index=self._catalogue.index)
        if kinds is not None:
            unknown = set(kinds) - set(params.KINDS)
            if unknown:
                raise ValueError(f"unknown kinds {sorted(unknown)}; choose from {params.KINDS}")
            table = table[table.index.get_level_values("kind").isin(list(kinds))]
        return table.copy()
