"""The base of the graph estimators (:class:`~graph_diffvae.GraphDiffVAE` and
:class:`~graph_diffvae.MultitaskDiffVAE`): the input graph, GAE's held-out edge split and link
metrics, training through ``keras.Model.fit`` (full batch, or subgraph minibatches), the
embedding of every cell, predicted links, graph attention and the bundle's graph files.

A subclass says which network it trains (:meth:`GraphEstimator._build_network`), which of the
network's outputs it keeps (:meth:`GraphEstimator._keep_outputs`), its own parameter checks and
its training defaults (``default_epochs``, ``default_learning_rate``).
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import keras
import numpy as np
import pandas as pd
import scipy.sparse as sp

from diffvae import defaults, stopping
from diffvae.base import BaseEstimator, fit_network, keras_backend, read_file
from diffvae.checks import check_training, choice, optional, positive_int, positive_number
from diffvae.distributed import device_shards
from diffvae.errors import InputError
from diffvae.io import as_anndata, no_layer_on_disk, open_h5ad
from diffvae.preprocessing import Preprocessor
from diffvae.progress import keras_verbose
from diffvae.streaming import ScaledRows, streamed_pca

from . import graphs, neighbours, subgraphs
from .callbacks import EpochProgbar, LinkMetrics
from .layers import sparse_adjacency
from .links import link_metrics, split_edges, top_partners
from .network import CONVS

GRAPHS = ("pearson", "knn", "precomputed")
BACKENDS = ("tensorflow", "jax")
LOSSES = ("auto", "dense", "sparse")
_ADJACENCY, _NODE_FEATURES = "adjacency.npz", "node_features.npy"


class GraphEstimator(BaseEstimator):
    """What every graph model of the package shares. Use a subclass.

    Subclasses store the shared parameters ``graph``, ``k``, ``use_rep``, ``n_top_genes``,
    ``conv`` and ``heads`` (see :class:`~graph_diffvae.GraphDiffVAE`) under those names.
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = ("network_", "node_features_")
    json_attributes = ("link_metrics_", "batch_size_")
    default_epochs: ClassVar[int]
    default_learning_rate: ClassVar[float]

    graph: str
    k: int
    use_rep: str | None
    n_top_genes: int | None
    conv: str
    heads: int

    def build_graph(self, x: np.ndarray, representation: np.ndarray | None = None) -> sp.csr_matrix:
        """The input graph the settings describe, on the scaled expression ``x`` (or, for
        ``"knn"``, on ``representation`` when given)."""
        if self.graph == "pearson":
            return graphs.pearson_graph(x, self.k)
        if self.graph == "knn" and representation is not None:
            return graphs.knn_graph(representation, self.k)
        if self.graph == "knn":
            from sklearn.decomposition import PCA

            n_comps = min(graphs.N_COMPONENTS, *x.shape) - 1
            return graphs.knn_graph(PCA(n_comps, random_state=0).fit_transform(x), self.k)
        if self.graph == "precomputed":
            raise InputError("graph='precomputed' needs the graph: pass adjacency= to fit")
        raise InputError(f"graph must be one of {GRAPHS}, got {self.graph!r}")

    def fit(self, data, *, adjacency=None, epochs: int | None = None,
            learning_rate: float | None = None, batch_size: int | str | None = "auto",
            seed: int | None = 0, loss: str = "auto", negative_ratio: float = 1.0,
            evaluate_links: bool = True, early_stopping: int | None = None,
            callbacks: list | None = None,
            verbose: str | int = "auto", layer: str | None = None) -> "GraphEstimator":
        """Train on the cells of ``data`` and the graph (built, or ``adjacency``) with
        ``keras.Model.fit``.

        ``data``: AnnData, a DataFrame or a matrix in memory, or an AnnData opened with
        ``backed="r"`` or the path of an .h5ad: then the expression stays on disk (the
        preprocessing is fitted over blocks of cells, the input graph built as
        :meth:`_input_graph` says, and every step reads its cells' rows), unless full-batch
        training reads the scaled matrix into memory.

        ``epochs`` and ``learning_rate`` default to the model's (``default_epochs``,
        ``default_learning_rate``). ``batch_size``: ``None`` trains full batch, one step per
        epoch over every cell (the paper's); an integer trains on subgraphs of about that many
        cells (Cluster-GCN: the training graph cut into parts with METIS, each step on the
        subgraph of :data:`~diffvae.defaults.GRAPH_PARTS_PER_BATCH` random parts, scoring its
        edges and a sample of its non-edges; :mod:`graph_diffvae.subgraphs`); ``"auto"``
        (default) is full batch up to :data:`~diffvae.defaults.GRAPH_FULL_BATCH_MAX_CELLS` cells
        and subgraphs of :data:`~diffvae.defaults.GRAPH_BATCH_SIZE` cells above.

        Data-parallel (after :func:`diffvae.distributed.data_parallel`, JAX): each step's parts
        are shared out over the devices of every process, one subgraph each, ``batch_size``
        (always subgraphs) counting the cells of all of them; each process reads its own
        subgraphs' rows. Every process must run ``fit`` with the same data and ``seed``.

        With ``evaluate_links`` (default) 10 % of the edges are held out for testing and 5 % for
        validation (each with as many sampled non-edges); the validation AUC and AP are logged
        after every epoch (``val_auc``, ``val_ap``, whatever ``verbose`` is) and
        ``link_metrics_`` holds both splits' at the end; the model trains on the remaining
        graph; ``early_stopping`` (a number of epochs, patience) stops training when the
        validation AUC has not improved for that many and keeps the weights of its best epoch
        (:func:`diffvae.stopping.early_stopping`). ``loss``: "dense", "sparse" or "auto" (sparse above
        :data:`~diffvae.defaults.GRAPH_DENSE_LOSS_MAX_CELLS` cells, and always on subgraphs);
        the sparse loss samples ``negative_ratio`` non-edges per edge each step. ``callbacks``
        are Keras callbacks (``EarlyStopping(monitor="val_auc", mode="max")``,
        ``TerminateOnNaN``, ...); ``verbose``: 0 silent, 1 a progress bar, 2 one line per epoch,
        "auto" (default) 1 on a terminal or in a notebook and 2 otherwise.
        Sets ``adjacency_`` (input graph), ``node_features_`` (Z*, cells x latent_dim),
        ``mu_``, ``history_`` and ``batch_size_`` (cells per subgraph; None: full batch). With
        subgraphs, every cell's outputs are computed block by block on the whole training graph
        (:func:`~graph_diffvae.subgraphs.embed_in_blocks`).
        """
        check_backend()
        epochs = self.default_epochs if epochs is None else epochs
        learning_rate = self.default_learning_rate if learning_rate is None else learning_rate
        choice("loss", loss, LOSSES)
        self._check_params()
        check_training(epochs, learning_rate)
        positive_number("negative_ratio", negative_ratio)
        if batch_size not in ("auto", None):
            positive_int("batch_size", batch_size)
        if early_stopping is not None and not evaluate_links:
            raise InputError("early_stopping watches the held-out links' AUC: keep "
                             "evaluate_links=True")
        stop = stopping.early_stopping(early_stopping, "val_auc")
        backed = open_h5ad(data)  # None for data in memory
        x, features = self._fit_preprocessor(data if backed is None else backed, layer)
        n = len(x) if backed is None else backed.n_obs
        shards = device_shards()  # (first, local, total) devices; (0, 1, 1) without a distribution
        data_parallel = shards[2] > 1
        if batch_size == "auto":
            batch_size = (None if n <= defaults.GRAPH_FULL_BATCH_MAX_CELLS and not data_parallel
                          else defaults.GRAPH_BATCH_SIZE)
        if batch_size is None and data_parallel:
            raise InputError("data-parallel graph training shares subgraphs out over the "
                             "devices: full batch cannot be; set batch_size (cells per step, "
                             "all devices together)")
        self.batch_size_ = batch_size
        if batch_size is not None and loss == "dense":
            raise InputError("subgraph minibatches (batch_size set) score sampled non-edges: use "
                             "loss='sparse' or 'auto', or batch_size=None for the dense loss")
        representation = None
        if self.use_rep is not None:
            source = data if backed is None else backed
            if not hasattr(source, "obsm") or self.use_rep not in source.obsm:
                raise InputError(f"use_rep={self.use_rep!r} needs AnnData with that obsm entry")
            representation = np.asarray(source.obsm[self.use_rep])
        self.adjacency_ = (self._input_graph(x, features, representation, seed) if adjacency is None
                           else graphs.check_graph(adjacency, n, "adjacency"))
        if batch_size is None and x is None:  # full batch from disk: every cell in every step
            x = np.concatenate(list(features.blocks()))
        if self.adjacency_.nnz == 0:
            raise InputError("the input graph has no edges")
        train = self.adjacency_
        if evaluate_links:
            train, validation, test = split_edges(self.adjacency_, seed=seed)
        if seed is not None:
            keras.utils.set_random_seed(seed)
        network = self._build_network(len(self.preprocessor_.genes_), seed, n)
        network.build()  # from the feature width: Keras need not trace it on placeholders
        # TensorFlow's sparse products have no XLA kernels; JAX compiles its BCOO products
        network.compile(optimizer=keras.optimizers.Adam(learning_rate),
                        jit_compile=keras_backend() == "jax")
        steps, embed, steps_per_epoch = self._training_input(
            network, x, features, train, batch_size, loss, negative_ratio, seed, shards)
        verbose, progress = keras_verbose(verbose), []
        if batch_size is None:  # one step per epoch: one bar over the epochs, not a bar each
            progress = [EpochProgbar()] if verbose == 1 else []
            verbose = 2 if verbose == 2 else 0
        callbacks = ([LinkMetrics(embed, *validation)] if evaluate_links else []) + [
            *(callbacks or []), *stop]  # after LinkMetrics, which logs val_auc
        self.history_ = fit_network(network, steps, epochs=epochs, shuffle=False,
                                    steps_per_epoch=steps_per_epoch, callbacks=callbacks + progress,
                                    verbose=verbose)
        self.network_ = network
        z, mu = embed()
        self.node_features_, self.mu_ = z, mu
        self._keep_outputs(z, mu)
        if evaluate_links:
            self.link_metrics_ = {"test": link_metrics(z, *test),
                                  "validation": link_metrics(z, *validation),
                                  "n_test_edges": int(len(test[0])),
                                  "n_validation_edges": int(len(validation[0]))}
        return self

    def _training_input(self, network, x, features, train: sp.csr_matrix, batch_size: int | None,
                        loss: str, negative_ratio: float, seed: int | None,
                        shards: tuple[int, int, int]):
        """(the ``fit`` input, ``embed()`` giving every cell's (Z*, mu), steps per epoch): the
        whole graph in every step for ``batch_size`` None (the paper's), else subgraphs (shared
        out over the data-parallel devices ``shards``, :func:`diffvae.distributed.device_shards`)."""
        a_norm = graphs.normalize(train)
        if batch_size is None:
            if loss == "auto":
                loss = "sparse" if len(x) > defaults.GRAPH_DENSE_LOSS_MAX_CELLS else "dense"
            inputs = (keras.ops.convert_to_tensor(x), sparse_adjacency(a_norm))

            def embed():
                z, mu = network(inputs, training=False)[:2]
                return keras.ops.convert_to_numpy(z), keras.ops.convert_to_numpy(mu)

            return (subgraphs.full_batch_input((x, a_norm), train, loss, negative_ratio,
                                               np.random.default_rng(seed)), embed, 1)
        if shards[2] > 1:  # each process makes its own devices' subgraphs
            keras.distribution.distribution().auto_shard_dataset = False
        # JAX compiles the step for each new shape: padded steps have one
        batches = subgraphs.SubgraphBatches(train, features, batch_size,
                                            negative_ratio=negative_ratio, seed=seed,
                                            pad=keras_backend() == "jax", shards=shards)
        order = batches.cell_order()

        def embed():
            return subgraphs.embed_in_blocks(network, features, a_norm, order)

        return batches.dataset(len(self.preprocessor_.genes_)), embed, len(batches)

    def _fit_preprocessor(self, data, layer: str | None):
        """Fit the preprocessing on ``data`` (in memory, or a backed AnnData); return the scaled
        matrix (None on disk) and ``features(rows)``, the scaled rows of sorted cell indices
        (on disk: read from the file, :class:`diffvae.streaming.ScaledRows`)."""
        self.preprocessor_ = Preprocessor(n_top_genes=self.n_top_genes)
        if getattr(data, "isbacked", False):
            no_layer_on_disk(layer)
            return None, ScaledRows(data, self.preprocessor_.fit(data))
        x = self.preprocessor_.fit_transform(as_anndata(data, layer=layer))
        return x, x.__getitem__

    def _input_graph(self, x: np.ndarray | None, features, representation: np.ndarray | None,
                     seed: int | None) -> sp.csr_matrix:
        """:meth:`build_graph`. For expression on disk (``x`` None) the same graph, from the
        scaled matrix read into memory, up to :data:`~graph_diffvae.neighbours.EXACT_NEIGHBOURS_MAX_CELLS`
        cells; above that without the whole matrix in memory: ``"knn"`` on the principal
        components of a streamed PCA (:func:`diffvae.streaming.streamed_pca`), ``"pearson"``
        approximately, as the nearest neighbours (pynndescent) among the principal components of
        the standardised rows (|z_i - z_j|^2 = 2 - 2 r_ij for standardised rows, distances that
        the projection keeps up to its truncation; ``benchmarks/graph_scale.py`` measures the
        share of exact partners found)."""
        if x is not None or self.graph not in ("pearson", "knn") or (
                self.graph == "knn" and representation is not None):
            return self.build_graph(x, representation)
        n = features.n_obs
        if n <= neighbours.EXACT_NEIGHBOURS_MAX_CELLS:
            return self.build_graph(np.concatenate(list(features.blocks())))
        n_comps = min(graphs.N_COMPONENTS, n, len(self.preprocessor_.genes_)) - 1
        if self.graph == "knn":
            return graphs.knn_graph(streamed_pca(features.blocks, n_comps, seed=seed), self.k,
                                    seed=seed)
        standardised = lambda: (neighbours.standardise_rows(block) for block in features.blocks())  # noqa: E731
        components = streamed_pca(standardised, n_comps, seed=seed)
        return graphs.knn_graph(components, self.k, method="approximate", seed=seed)

    def transform(self, adata=None, *, key_added: str | bool | None = None) -> np.ndarray:
        """The model's representation of the cells it was fitted on (cells x ``latent_dim``).

        A graph model embeds the cells of its own graph (it is transductive): ``adata`` must hold
        those cells, in the same order. ``key_added=True`` stores the representation in
        ``adata.obsm[default_key]`` (a string: under that key) and the parameters in
        ``adata.uns[model_type]``.
        """
        self._check_is_fitted()
        n_fitted = len(self.node_features_)
        if adata is not None and getattr(adata, "n_obs", len(adata)) != n_fitted:
            raise InputError(f"the model was fitted on a graph of {n_fitted} cells; the data have "
                             f"{getattr(adata, 'n_obs', len(adata))} (a graph model embeds the "
                             "cells of its own graph only)")
        if key_added:
            if adata is None:
                raise InputError("key_added needs the AnnData of the fitted cells")
            self._store(adata, self._embedding(), key_added)
        return self._embedding()

    def predict_links(self, k: int = 1) -> sp.csr_matrix:
        """Each cell linked to its ``k`` most probable partners by the trained decoder."""
        self._check_is_fitted()
        return top_partners(self.node_features_, k)

    def link_importance(self, data, *, layer: str | None = None) -> pd.DataFrame:
        """For a graph-attention model (``conv="gat"``): every link of the input graph, each
        direction, with the attention that the network's first attention layer gives it (mean
        over heads): how much cell ``target`` listens to cell ``source``. ``data``: the fitted
        cells.

        Columns: target, source (cell indices), attention; each target's attentions, with the
        self-loop left out, sum to at most 1. Computed a block of cells at a time
        (:func:`~graph_diffvae.subgraphs.attention_in_blocks`); ``data`` may be on disk.
        """
        self._check_is_fitted()
        if self.conv != "gat":
            raise InputError("link_importance needs a graph-attention model (conv='gat')")
        backed = open_h5ad(data)
        if backed is None:
            x = self.preprocessor_.transform(as_anndata(data, layer=layer))
            n, features = len(x), x.__getitem__
        else:
            no_layer_on_disk(layer)
            n, features = backed.n_obs, ScaledRows(backed, self.preprocessor_)
        if n != self.adjacency_.shape[0]:
            raise InputError(f"the model was fitted on {self.adjacency_.shape[0]} cells; the data "
                             f"have {n}")
        edges, alpha = subgraphs.attention_in_blocks(self.network_, features,
                                                     graphs.normalize(self.adjacency_))
        alpha = alpha.mean(axis=1)
        links = edges[:, 0] != edges[:, 1]
        return pd.DataFrame({"target": edges[links, 0], "source": edges[links, 1],
                             "attention": alpha[links]})

    # -- for subclasses -----------------------------------------------------------------------
    def _check_params(self) -> None:
        """Refuse constructor arguments that cannot work (called by ``fit``, before any work)."""
        positive_int("k", self.k)
        optional(positive_int, "n_top_genes", self.n_top_genes)
        choice("conv", self.conv, CONVS)
        if positive_int("heads", self.heads) > 1 and self.conv != "gat":
            raise InputError("heads are attention heads: they need conv='gat'")

    def _build_network(self, n_features: int, seed: int | None, n_cells: int) -> keras.Model:
        """The Keras network for ``n_features`` node features and a graph of ``n_cells``."""
        raise NotImplementedError

    def _keep_outputs(self, node_features: np.ndarray, mu: np.ndarray) -> None:
        """Store what the subclass keeps beyond ``node_features_`` and ``mu_`` after ``fit``."""

    def _embedding(self) -> np.ndarray:
        """What :meth:`transform` returns."""
        return self.node_features_

    def _save_extra(self, directory: Path) -> None:
        sp.save_npz(directory / _ADJACENCY, self.adjacency_)
        np.save(directory / _NODE_FEATURES, self.node_features_)

    def _load_extra(self, directory: Path) -> None:
        self.adjacency_ = read_file(directory / _ADJACENCY, sp.load_npz).tocsr()
        self.node_features_ = read_file(directory / _NODE_FEATURES, np.load)
        if self.graph == "given":  # bundles of format 1 named a given adjacency so
            self.graph = "precomputed"


def check_backend() -> None:
    """The graph layers run on Keras's TensorFlow and JAX backends."""
    if keras_backend() not in BACKENDS:
        raise InputError(f"the graph models run on Keras's {' or '.join(BACKENDS)} backend, but "
                         f"KERAS_BACKEND is {keras_backend()!r}: set KERAS_BACKEND=tensorflow "
                         "(the default) or jax")
