"""The catalogue of a path model's parameters (paths, loadings, weights, effects, HTMT, R²) and
their values for a batch of fits, as one (B, parameters) matrix that the point estimate, the
bootstrap and the jackknife share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qualityloop.analytics.relate import _algorithm as alg

KINDS = ("path", "loading", "weight", "indirect", "total", "htmt", "r2")
INDEX_NAMES = ["kind", "from", "to"]


@dataclass(frozen=True)
class Catalogue:
    """Which entries of the batch arrays each parameter is, in KINDS order."""

    index: pd.MultiIndex
    paths: tuple[np.ndarray, ...]
    outer: tuple[np.ndarray, ...]
    indirect: tuple[np.ndarray, ...]
    total: tuple[np.ndarray, ...]
    htmt: tuple[np.ndarray, ...]
    endogenous: np.ndarray


def catalogue(layout: alg.Layout, constructs: list[str], indicators: list[str]) -> Catalogue:
    """Every parameter of the model, with its (kind, from, to) label."""
    k = layout.n_constructs
    paths = np.nonzero(layout.adjacency)
    outer = (np.concatenate(layout.blocks),
             np.concatenate([np.full(len(b), j) for j, b in enumerate(layout.blocks)]))
    reach = _reachability(layout.adjacency)
    total = np.nonzero(reach[1])
    indirect = np.nonzero(reach[2])
    htmt = np.triu_indices(k, 1)
    endogenous = np.array(layout.endogenous(), dtype=int)
    c, i = np.asarray(constructs), np.asarray(indicators)
    labels = (
        [("path", c[a], c[b]) for a, b in zip(*paths, strict=True)]
        + [("loading", c[j], i[m]) for m, j in zip(*outer, strict=True)]
        + [("weight", i[m], c[j]) for m, j in zip(*outer, strict=True)]
        + [("indirect", c[a], c[b]) for a, b in zip(*indirect, strict=True)]
        + [("total", c[a], c[b]) for a, b in zip(*total, strict=True)]
        + [("htmt", c[a], c[b]) for a, b in zip(*htmt, strict=True)]
        + [("r2", c[j], "") for j in endogenous]
    )
    index = pd.MultiIndex.from_tuples(labels, names=INDEX_NAMES)
    return Catalogue(index, paths, outer, indirect, total, htmt, endogenous)


def _reachability(adjacency: np.ndarray) -> dict[int, np.ndarray]:
    """{1: pairs joined by any directed path, 2: pairs joined by a path of two or more steps}."""
    k = len(adjacency)
    step = adjacency.astype(bool)
    longer = np.zeros((k, k), dtype=bool)
    power = step.copy()
    for _ in range(k):
        power = (power.astype(int) @ step.astype(int)) > 0
        longer |= power
    return {1: step | longer, 2: longer}


def values(fit: alg.BatchFit, corr: np.ndarray, layout: alg.Layout, cat: Catalogue) -> np.ndarray:
    """The (B, parameters) matrix of estimates for a converged batch."""
    paths, r2 = alg.path_coefficients(fit.score_corr, layout)
    total = alg.total_effects(paths)
    indirect = total - paths
    load = alg.loadings(corr, fit.weights)
    htmt = alg.htmt_from_corr(corr, layout.blocks)
    return np.concatenate([
        paths[:, cat.paths[0], cat.paths[1]],
        load[:, cat.outer[0], cat.outer[1]],
        fit.weights[:, cat.outer[0], cat.outer[1]],
        indirect[:, cat.indirect[0], cat.indirect[1]],
        total[:, cat.total[0], cat.total[1]],
        htmt[:, cat.htmt[0], cat.htmt[1]],
        r2[:, cat.endogenous],
    ], axis=1)
