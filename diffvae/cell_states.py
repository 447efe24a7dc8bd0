"""Changing cell states (paper Fig. 2-3) as one call on a fitted DiffVAE.

:func:`change_cell_states` trains the cell-state classifier on the mature (target) types, shifts
the source cells' mu along each target's top latent dimensions by lambda standard deviations,
decodes and classifies them, with lambda = 0 (decoding alone) and random dimensions as
controls, and finds how many genes each converted cell needs changed. It returns a
:class:`CellStateChange` whose :meth:`~CellStateChange.figures` draws Fig. 3; ``diffvae perturb``
writes the same result to files. The steps are the functions of :mod:`diffvae.perturbation`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd

from . import defaults, perturbation
from .analysis import UNASSIGNED, plots, tsne
from .analysis.pipeline import identify_cell_types
from .checks import positive_int
from .classifier import CellStateClassifier
from .errors import InputError
from .models import pca_of_input
from .progress import step

BASELINE = "PCA baseline"  # the conversions table's rows for PCA of the same input


@dataclass
class CellStateChange:
    """Everything :func:`change_cell_states` computed; tables are pandas DataFrames.

    ``conversions``: source cells called each target per lambda: targeted, random and the
    same shift on PCA of the same input ("PCA baseline");
    ``converted``: per target and lambda, which source cells the classifier calls the target
    after the shift; ``dimensions``: each target's shifted latent dimensions;
    ``genes_to_flip`` (per converted cell) and ``flip_genes`` (genes most often changed): the
    genes-to-change analysis at ``flip_lambda``; ``source``: the source cells (boolean mask);
    ``embedding``: the t-SNE of every cell's mu; ``states``: each cell's state.
    """

    classifier: CellStateClassifier
    conversions: pd.DataFrame
    converted: dict
    dimensions: dict
    genes_to_flip: pd.DataFrame
    flip_genes: pd.DataFrame
    source: np.ndarray
    embedding: np.ndarray
    sources: list[str]
    targets: list[str]
    lambdas: list[float]
    n_genes: int
    metrics: dict
    states: np.ndarray | None = None

    @property
    def converted_by_decoding(self) -> dict[str, float]:
        """Targets that decoding alone (lambda = 0) converts above
        :data:`~diffvae.defaults.PERTURBATION_DECODING_FLAG` of the source cells: their
        conversions are the decoder's and the classifier's, not the shift's."""
        return perturbation.converted_by_decoding(self.conversions)

    def figures(self) -> dict:
        """Fig. 3 as matplotlib figures by file name: ``conversions_tsne.png`` (converted
        source cells on the t-SNE, at lambda 0, 0.5, 1 and 2 where tried),
        ``conversion_curves.png`` and, when some cell needed genes changed,
        ``genes_to_flip.png``."""
        shown = [lam for lam in (0.0, 0.5, 1.0, 2.0) if lam in self.lambdas] or self.lambdas[:3]
        figures = {"conversions_tsne.png": plots.conversion_tsne(
                       self.embedding, self.source, self.converted, self.targets, shown,
                       self.states),
                   "conversion_curves.png": plots.conversion_curves(self.conversions)}
        if len(self.genes_to_flip):
            figures["genes_to_flip.png"] = plots.flip_distribution(self.genes_to_flip, self.n_genes)
        return figures


def check_states(groups: Sequence, sources: Sequence[str],
                 targets: Sequence[str] | None = None) -> list[str]:
    """The target types (default: every type that is not a source), after refusing sources or
    targets that are not among ``groups`` and fewer than two targets distinct from the sources."""
    known = sorted(set(np.asarray(groups).astype(str).tolist()))
    unknown = [t for t in [*sources, *(targets or [])] if t not in known]
    if unknown:
        raise InputError(f"unknown cell type(s) {unknown}; types: {known}")
    targets = list(targets or [t for t in known if t not in sources])
    if set(targets) & set(sources) or len(targets) < 2:
        raise InputError(f"need 2 or more target types distinct from the sources; got targets "
                         f"{targets} and sources {list(sources)}")
    return targets


def check_options(lambdas: Sequence[float], n_dims: int, latent_dim: int, *,
                  flip_lambda: float = defaults.FLIP_LAMBDA, n_random: int = 5,
                  classifier_epochs: int = defaults.CLASSIFIER_EPOCHS) -> None:
    """Refuse perturbation options that cannot work, before any data are read or model trained."""
    for lam in [*lambdas, flip_lambda]:
        if not math.isfinite(lam):
            raise InputError(f"lambda values must be finite numbers, got {lam}")
    if positive_int("--n-dims", n_dims) >= latent_dim:
        # the random-dimension control draws from the other dimensions: it needs some left
        raise InputError(f"--n-dims {n_dims} leaves no other dimension of the latent size "
                         f"{latent_dim} for the random control; use fewer")
    if n_random < 0:
        raise InputError(f"--n-random must be 0 or more, got {n_random}")
    positive_int("--classifier-epochs", classifier_epochs)


def cluster_states(adata: ad.AnnData, model, markers: str | Mapping[str, Sequence[str]], *,
                   labels: Sequence | None = None, n_clusters: int | None = None,
                   seed: int | None = 0, layer: str | None = None) -> np.ndarray:
    """Each cell's state from the identification pipeline instead of reference labels: k-means
    clusters of mu named by ``markers``; a cluster no marker set names is "cluster N"."""
    result = identify_cell_types(adata, model, labels=labels, n_clusters=n_clusters,
                                 cluster_on="latent", markers=markers, seed=seed, layer=layer,
                                 differential=False, baseline=False, embed=False)
    names = {c: (n if n != UNASSIGNED else f"cluster {c}") for c, n in result.cluster_names.items()}
    return np.array([names[c] for c in result.clusters.tolist()])


def change_cell_states(
    adata: ad.AnnData, model, groups: Sequence, sources: Sequence[str],
    targets: Sequence[str] | None = None, *,
    lambdas: Sequence[float] = defaults.PERTURBATION_LAMBDAS,
    n_dims: int = defaults.PERTURBATION_N_DIMS, sd_from: str = "all", n_random: int = 5,
    flip_lambda: float = defaults.FLIP_LAMBDA,
    classifier_epochs: int = defaults.CLASSIFIER_EPOCHS, seed: int | None = 0,
    layer: str | None = None, verbose: str | int = "auto",
) -> CellStateChange:
    """Run Fig. 2-3 with a fitted DiffVAE ``model`` on ``adata``, whose cells are in the states
    ``groups`` (one per cell: reference labels, or :func:`cluster_states`).

    ``sources``: the states to convert (for example progenitors); ``targets``: the mature
    states (default: every other one). Each target's top ``n_dims`` dimensions (highest share
    of D_k in the target) are shifted by lambda x their standard deviation over all cells
    (``sd_from="all"``, the paper) or over the source cells (``"source"``, the original code);
    ``n_random`` draws of as many random dimensions are the control.
    """
    if sd_from not in ("all", "source"):
        raise InputError(f"sd_from must be 'all' or 'source', got {sd_from!r}")
    lambdas = [float(lam) for lam in lambdas]
    check_options(lambdas, n_dims, model.latent_dim, flip_lambda=flip_lambda, n_random=n_random,
                  classifier_epochs=classifier_epochs)
    groups = np.asarray(groups).astype(str)
    if len(groups) != adata.n_obs:
        raise InputError(f"{len(groups)} cell states for {adata.n_obs} cells")
    sources = [str(s) for s in sources]
    targets = check_states(groups, sources, targets)
    x = model.preprocess(adata, layer=layer)
    mu = model.transform(adata, layer=layer)
    source, mature = np.isin(groups, sources), np.isin(groups, targets)
    with step(f"training the cell-state classifier on {mature.sum()} mature cells"):
        classifier = CellStateClassifier().fit(x[mature], groups[mature], epochs=classifier_epochs,
                                               seed=seed, verbose=verbose)
    dims = perturbation.target_dimensions(mu, groups, targets, n_dims)
    sd = (mu if sd_from == "all" else mu[source]).std(axis=0)
    with step(f"shifting {source.sum()} source cells towards {len(targets)} targets"):
        table, converted = perturbation.conversions(
            model.decode, classifier.predict, mu[source], dims, lambdas, sd, n_random=n_random,
            seed=seed)
    with step(f"the same shifts on PCA({model.latent_dim}) of the same input (the baseline)"):
        baseline = _pca_conversions(adata, model, classifier, groups, source, targets,
                                    lambdas=lambdas, n_dims=n_dims, sd_from=sd_from, seed=seed,
                                    layer=layer)
    table = pd.concat([table, baseline], ignore_index=True)
    with step("genes to change for each converted cell"):
        needed, flip_genes = perturbation.flip_analysis(
            model.decode, classifier.predict, x[source], mu[source], dims, flip_lambda, sd,
            model.genes_, adata.obs_names[source])
    # how the classifier calls the source cells from their own expression (the baseline)
    own_call = pd.Series(classifier.predict(x[source])).value_counts()
    metrics = {"held_out_accuracy": classifier.test_accuracy_,
               "classes": classifier.classes_.tolist(),
               "n_held_out": int(classifier.confusion_.to_numpy().sum()),
               "sources": sources, "n_source_cells": int(source.sum()), "sd_from": sd_from,
               "source_cells_called": {str(k): int(v) for k, v in own_call.items()},
               "pca_dims": model.latent_dim,
               "pca_baseline": {t: dict(zip(map(str, g["lambda"]), g["fraction"]))
                                for t, g in baseline.groupby("target", sort=False)}}
    with step(f"t-SNE of {adata.n_obs} cells"):
        embedding = tsne(mu, seed=seed)
    return CellStateChange(classifier, table, converted, dims, needed, flip_genes, source,
                           embedding, sources, targets, lambdas, x.shape[1], metrics, groups)


def _pca_conversions(adata: ad.AnnData, model, classifier: CellStateClassifier,
                     groups: np.ndarray, source: np.ndarray, targets: Sequence[str], *,
                     lambdas: Sequence[float], n_dims: int, sd_from: str, seed: int | None,
                     layer: str | None) -> pd.DataFrame:
    """The same shifts with PCA of the model's input in place of DiffVAE: each target's top
    dimensions of the PCA scores, moved by lambda standard deviations towards the target,
    decoded by the inverse PCA and called by the same classifier."""
    pca = pca_of_input(model, adata, layer=layer, seed=seed)
    scores = pca.transform(adata, layer=layer)
    dims = perturbation.target_dimensions(scores, groups, targets, n_dims)
    sd = (scores if sd_from == "all" else scores[source]).std(axis=0)
    tables = []
    for target in targets:
        signed = sd * perturbation.towards(scores, source, groups == target)
        table, _ = perturbation.conversions(pca.decode, classifier.predict, scores[source],
                                            {target: dims[target]}, lambdas, signed,
                                            n_random=0, seed=seed)
        tables.append(table.assign(dimensions=BASELINE))
    return pd.concat(tables, ignore_index=True)
