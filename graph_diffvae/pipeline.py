"""Links between cells (paper Fig. 4) as one call: train a graph model, predict links, evaluate.

:func:`link_cells` trains Graph-DiffVAE (or the multitask model) on the cells of an AnnData and
their input graph, predicts each cell's most probable partners, embeds the representation with
t-SNE and, with reference labels, says what the links join (cell types, progenitors); with graph
attention, the attention each input link gets. It returns a :class:`CellLinks` whose
:meth:`~CellLinks.figures` draws Fig. 4; ``diffvae graph`` writes the same result to files.

The data may be in memory or on disk (``backed="r"``, or an .h5ad path): above
:data:`~diffvae.defaults.TSNE_MAX_CELLS` cells the t-SNE embeds a seeded sample (the figure
only), and from disk the co-expression comparison reads a seeded sample of
:data:`~graph_diffvae.neighbours.EXACT_NEIGHBOURS_MAX_CELLS` cells.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from diffvae import defaults
from diffvae.analysis import tsne, tsne_sample
from diffvae.distributed import device_shards
from diffvae.errors import InputError
from diffvae.io import as_anndata, open_h5ad
from diffvae.progress import step
from diffvae.stopping import best_epoch, training_note
from diffvae.streaming import ScaledRows

from . import evaluation, neighbours, plots
from .estimator import GraphEstimator


@dataclass
class CellLinks:
    """Everything :func:`link_cells` computed.

    ``predicted`` is the sparse cells x cells matrix of predicted links; ``representation`` the
    model's representation (Z* for Graph-DiffVAE, mu for the multitask model); ``embedding`` its
    t-SNE, of the cells ``embedded`` (indices; None: all cells, in order). ``expression`` is the
    scaled expression the co-expression comparison read, of the cells ``coexpression_cells``
    (None: all). ``progenitor_attention`` (graph attention) is indexed by the progenitor cells'
    positions. ``notes`` say in a sentence each what the figures leave out and why.
    """

    model: GraphEstimator
    predicted: sp.csr_matrix
    representation: np.ndarray
    embedding: np.ndarray
    metrics: dict
    embedded: np.ndarray | None = None
    labels: np.ndarray | None = None
    progenitors: list[str] = field(default_factory=list)
    expression: np.ndarray | None = None
    coexpression_cells: np.ndarray | None = None
    link_importance: pd.DataFrame | None = None
    progenitor_attention: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def annotate(self, adata: ad.AnnData) -> ad.AnnData:
        """``adata`` with the results: ``obsm["X_graph_diffvae"]`` (node features), the model's
        representation, ``obsm["X_tsne"]`` (when every cell was embedded), ``obsp["input_graph"]``
        and ``obsp["predicted_graph"]``. An AnnData on disk gives a new one with its annotations
        and without the matrix, which stays in its file; a view is copied."""
        annotated = (ad.AnnData(obs=adata.obs.copy(), var=adata.var.copy()) if adata.isbacked
                     else adata.copy() if adata.is_view else adata)
        annotated.obsm["X_graph_diffvae"] = self.model.node_features_
        annotated.obsm[self.model.default_key] = self.representation
        if self.embedded is None:  # a sample's t-SNE is the figure's only
            annotated.obsm["X_tsne"] = self.embedding
        annotated.obsp["input_graph"] = self.model.adjacency_
        annotated.obsp["predicted_graph"] = self.predicted
        return annotated

    def figures(self) -> dict:
        """Fig. 4 as matplotlib figures by file name: ``training.png`` always; with labels
        ``links_tsne.png`` (4b; when a progenitor links to another type), ``adjacency.png``
        (4c-d) and ``coexpression.png`` (4e, for every cell up to
        :data:`~graph_diffvae.plots.COEXPRESSION_LIMIT`); with graph attention and progenitors,
        ``progenitor_attention.png``."""
        figures = {}
        if self.labels is not None:
            order = np.argsort(self.labels, kind="stable")
            drawn = plots.links_on_tsne(self.embedding, self.labels, self.predicted,
                                        self.progenitors, cells=self.embedded)
            if drawn is not None:
                figures["links_tsne.png"] = drawn
            figures["adjacency.png"] = plots.adjacency_panels(self.model.adjacency_,
                                                              self.predicted, self.labels, order)
            if (self.coexpression_cells is None
                    and len(self.expression) <= plots.COEXPRESSION_LIMIT):
                figures["coexpression.png"] = plots.coexpression(self.expression, self.labels, order)
        if self.progenitor_attention is not None:
            figures["progenitor_attention.png"] = plots.attention_mass(self.progenitor_attention,
                                                                       self.labels)
        figures["training.png"] = plots.training_curves(self.model.history_)
        return figures


def link_cells(adata: ad.AnnData | str, model: GraphEstimator, *, adjacency=None,
               labels: Sequence | None = None, progenitors: Sequence[str] = (),
               k: int | None = None, tsne_max_cells: int = defaults.TSNE_MAX_CELLS,
               seed: int | None = 0, layer: str | None = None, **fit_kwargs) -> CellLinks:
    """Train ``model`` on ``adata`` (unless it is fitted already, on these cells), predict each
    cell's ``k`` most probable partners (default: the model's ``k``), embed and evaluate.

    ``adjacency``: the input graph instead of the model's (``graph="pearson"`` or ``"knn"``).
    ``labels`` (one per cell) add what the links join: the same-type share of predicted, input
    and co-expression links, the k-means ARI of the representation and, for the
    ``progenitors`` among the labels, where progenitors link to. ``fit_kwargs`` go to the
    model's ``fit`` (``epochs``, ``learning_rate``, ``batch_size``, ``loss``,
    ``early_stopping``, ``verbose``, ...).
    """
    backed = open_h5ad(adata)  # a path is opened once, here
    adata = adata if backed is None else backed
    labels = None if labels is None else np.asarray(labels).astype(str)
    progenitors = [str(p) for p in progenitors]
    if labels is not None:
        if len(labels) != adata.n_obs:
            raise InputError(f"{len(labels)} labels for {adata.n_obs} cells")
        if set(progenitors) - set(labels):
            raise InputError(f"progenitor type(s) {sorted(set(progenitors) - set(labels))} are "
                             f"not among the labels ({sorted(set(labels))})")
    k = model.k if k is None else k
    epochs = fit_kwargs.get("epochs") or model.default_epochs
    if not hasattr(model, "node_features_"):
        name = "the multitask DiffVAE" if model.model_type == "multitask_diffvae" else "Graph-DiffVAE"
        with step(f"training {name} for {epochs} epochs"):
            model.fit(adata, adjacency=adjacency, seed=seed, layer=layer, **fit_kwargs)
    elif len(model.node_features_) != adata.n_obs:
        raise InputError(f"the model was fitted on {len(model.node_features_)} cells, not these "
                         f"{adata.n_obs}: fit it here (pass an unfitted model)")
    with step("predicted links"):
        predicted = model.predict_links(k=k)
    representation = model.transform()
    embedded = tsne_sample(adata.n_obs, tsne_max_cells, seed)
    with step(f"t-SNE of {adata.n_obs if embedded is None else len(embedded)} cells"):
        embedding = tsne(representation if embedded is None else representation[embedded], seed=seed)
    history = model.history_
    early = fit_kwargs.get("early_stopping") is not None
    metrics = {"model": model.model_type, "graph": model.graph if adjacency is None else "precomputed",
               "k": k, "n_cells": adata.n_obs, "batch_size": model.batch_size_,
               "devices": device_shards()[2],
               "tsne_cells": adata.n_obs if embedded is None else len(embedded),
               "n_input_edges": int(evaluation.edge_list(model.adjacency_).shape[0]),
               "n_predicted_edges": int(evaluation.edge_list(predicted).shape[0]),
               "link_prediction": model.link_metrics_,
               "best_epoch": best_epoch(history, "val_auc"),
               "training": training_note(history, epochs, "val_auc", early_stopping=early)}
    result = CellLinks(model, predicted, representation, embedding, metrics, embedded, labels,
                       progenitors)
    if labels is not None and len(set(labels)) < 2:
        # every link would join cells "of the same type": shares and ARI of 1.0 that mean nothing
        result.notes.append(f"Every cell has the same label ({labels[0]}), so the report cannot "
                            "say which types the links join; give labels with several types.")
        result.labels = None
    elif labels is not None:
        _what_links_join(result, adata, seed, layer)
    if model.conv == "gat":
        links = model.link_importance(adata, layer=layer)
        if result.labels is not None and progenitors:
            result.progenitor_attention = evaluation.progenitor_attention(links, result.labels,
                                                                          progenitors)
        links.insert(0, "target_cell", adata.obs_names[links["target"]])
        links.insert(1, "source_cell", adata.obs_names[links["source"]])
        result.link_importance = links
    return result


def _what_links_join(result: CellLinks, adata: ad.AnnData, seed: int | None,
                     layer: str | None) -> None:
    """Same-type shares, progenitor links and their notes (needs labels); the co-expression
    comparison reads the expression: from disk, of a seeded sample of cells."""
    model = result.model
    sampled = (tsne_sample(adata.n_obs, neighbours.EXACT_NEIGHBOURS_MAX_CELLS, seed)
               if adata.isbacked else None)
    x = (ScaledRows(adata, model.preprocessor_)(np.arange(adata.n_obs) if sampled is None else sampled)
         if adata.isbacked else model.preprocessor_.transform(as_anndata(adata, layer=layer)))
    lineages = adata.obs.filter(regex=r"^weight_lineage")
    with step("what the links join (cell types, progenitors)"):
        result.metrics.update(evaluation.biological_metrics(
            model, x, result.predicted, result.labels, result.progenitors, seed, lineages,
            cells=sampled, k=result.metrics["k"]))
    if sampled is not None:
        result.metrics["coexpression_cells"] = len(sampled)
    result.expression, result.coexpression_cells = x, sampled
    if not result.progenitors:
        result.notes.append("No progenitor types are known for these data (the dataset registry "
                            "names none; `--progenitors TYPE ...` chooses them), so the progenitor "
                            "link split and its figure (links_tsne.png) are left out.")
    elif not len(evaluation.progenitor_crossings(result.predicted, result.labels,
                                                 result.progenitors, result.embedded)):
        result.notes.append("No predicted link joins a progenitor to a cell of another type"
                            + ("" if result.embedded is None else " within the t-SNE's sample")
                            + ", so the figure of such links (links_tsne.png) is not drawn.")
