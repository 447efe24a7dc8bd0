"""What the graph models train on, each step, and how every cell's outputs are computed when the
graph is too large for one step.

- :func:`full_batch_input`: the paper's training, every cell in every step.
- :class:`SubgraphBatches`: Cluster-GCN minibatches (Chiang et al. 2019). The training graph is
  cut once into parts of about ``batch_size / parts_per_batch`` cells with METIS (pymetis),
  which keeps most edges inside parts; each step trains on the subgraph induced by
  ``parts_per_batch`` random parts, with the subgraph's own normalised adjacency, scoring its
  edges (and self-loops) and a sample of the non-edges among its cells (the sparse loss). Drawing
  several random parts per step brings back edges between parts and mixes cell types in a
  step. A step's memory depends on the batch size (and the degree), not on the number of cells.
- :func:`embed_in_blocks`: the outputs of every cell on the whole training graph, exactly as a
  full-batch forward pass would give them, a block of cells at a time: a cell's outputs depend
  only on its neighbourhood of as many hops as the network has graph layers, so each block runs
  on the subgraph of its neighbourhood. Only N x latent arrays are kept.

Why Cluster-GCN: Graph-DiffVAE's decoder output depends on four hops (two graph layers in the
encoder, two in the decoder), so neighbour sampling (GraphSAGE, PyG's ``LinkNeighborLoader``)
would sample a receptive field that grows with every hop; GraphSAINT's samplers need loss
normalisation constants estimated by sampling first and otherwise take the same
induced-subgraph step; Cluster-GCN's subgraphs are dense in edges, which is what a link
predictor learns from.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import scipy.sparse as sp

from diffvae import defaults
from diffvae.errors import InputError

from . import graphs
from .layers import sparse_adjacency
from .links import sample_non_edges

#: rows of a node-feature block: ``features(rows)`` returns their scaled expression (float32)
Features = Callable[[np.ndarray], np.ndarray]


def full_batch_input(inputs: tuple[np.ndarray, sp.csr_matrix], train: sp.csr_matrix, loss: str,
                     negative_ratio: float, rng: np.random.Generator):
    """The endless input pipeline of full-batch training: every step gets ``inputs`` (the
    scaled expression and the normalised adjacency) and the target, either the dense adjacency
    with self-loops or (its ones as pairs, a fresh uniform sample of its zeros) drawn from
    ``rng`` in order, so a seed fixes every epoch's sample."""
    import tensorflow as tf

    target = with_self_loops(train)
    x, a = inputs
    steps = tf.data.Dataset.from_tensors((x, sparse_adjacency(a, backend="tensorflow"))).repeat()
    if loss == "dense":
        targets = tf.data.Dataset.from_tensors(tf.constant(target.toarray(), tf.float32)).repeat()
        return tf.data.Dataset.zip(steps, targets)
    positives = np.stack(target.nonzero(), axis=1).astype(np.int64)
    n_negative = max(1, int(round(negative_ratio * len(positives))))

    def negatives():
        while True:
            yield sample_non_edges(target, n_negative, rng)

    sampled = tf.data.Dataset.from_generator(
        negatives, output_signature=tf.TensorSpec((n_negative, 2), tf.int64))
    targets = tf.data.Dataset.zip(tf.data.Dataset.from_tensors(positives).repeat(), sampled)
    return tf.data.Dataset.zip(steps, targets)


def with_self_loops(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """The binary target of the reconstruction: the adjacency's ones plus the diagonal."""
    target = (adjacency + sp.eye(adjacency.shape[0], format="csr")).tocsr()
    target.data[:] = 1.0
    return target


def partition(adjacency: sp.csr_matrix, n_parts: int, *, seed: int | None = 0) -> np.ndarray:
    """The part (0 .. n_parts - 1) of every cell: METIS's cut of the graph into ``n_parts``
    balanced parts with few edges between them (``seed`` seeds it)."""
    n = adjacency.shape[0]
    if n_parts <= 1:
        return np.zeros(n, dtype=np.int64)
    import pymetis

    a = sp.csr_matrix(adjacency)
    a = (a - sp.diags(a.diagonal())).tocsr()  # METIS takes no self-loops
    a.eliminate_zeros()
    _, parts = pymetis.part_graph(n_parts, adjacency=pymetis.CSRAdjacency(a.indptr, a.indices),
                                  options=pymetis.Options(seed=0 if seed is None else seed))
    return np.asarray(parts, dtype=np.int64)


class SubgraphBatches:
    """Cluster-GCN minibatches of a training graph, endlessly, as ``keras.Model.fit`` input.

    ``adjacency``: the training graph (binary, no self-loops); ``features(rows)``: the scaled
    expression of sorted cell indices. Each step is ``((X_S, A_S), (positives, negatives))``:
    the features of the step's cells S, the normalised adjacency of the subgraph they induce,
    the subgraph's edges and self-loops as (i, j) rows in S's numbering, and ``negative_ratio``
    times as many non-edges of the subgraph drawn uniformly. One epoch is ``len(self)`` steps,
    which visit every part once; ``seed`` fixes the parts, their order and the sampled pairs.

    ``pad=True`` gives every step the same shapes (JAX compiles a step once): see
    :meth:`padded`. ``shards=(first, local, total)``: data-parallel steps over ``total``
    devices (:func:`diffvae.distributed.device_shards`): each step's parts are shared out
    into ``total`` subgraphs, one per device, and this process makes the padded subgraphs of
    devices ``first`` .. ``first + local - 1``, one after another, their rows and pairs
    numbered as in the whole step. Every process draws the same parts in the same order (the
    same ``seed``) and reads only its own cells.
    """

    def __init__(self, adjacency: sp.csr_matrix, features: Features, batch_size: int, *,
                 negative_ratio: float = 1.0, seed: int | None = 0,
                 parts_per_batch: int = defaults.GRAPH_PARTS_PER_BATCH, pad: bool = False,
                 shards: tuple[int, int, int] = (0, 1, 1)) -> None:
        self.adjacency, self.features = sp.csr_matrix(adjacency), features
        self.negative_ratio = float(negative_ratio)
        self.first, self.local, self.total = shards
        if self.total > 1 and seed is None:
            raise InputError("data-parallel graph training needs a seed: every process draws "
                             "the same parts of the graph in the same order")
        n = self.adjacency.shape[0]
        parts_per_batch = max(parts_per_batch, self.total)  # a part at least per device
        n_parts = max(self.total, int(round(n * parts_per_batch / batch_size)))
        self.parts_per_batch = min(parts_per_batch, n_parts)
        part = partition(self.adjacency, n_parts, seed=seed)
        order = np.argsort(part, kind="stable")
        members = np.split(order, np.flatnonzero(np.diff(part[order])) + 1)
        self.parts = [m for m in members if len(m)]
        if len(self.parts) < self.total:
            raise InputError(f"the graph of {n} cells was cut into {len(self.parts)} parts, "
                             f"too few for {self.total} devices")
        self.rng = np.random.default_rng(seed)
        # the processes draw parts from one stream, and each device's pairs from its own: the
        # same steps whichever process makes them
        devices = range(self.first, self.first + self.local)
        self.pair_rngs = ([self.rng] if self.total == 1 else
                          [np.random.default_rng([seed, device]) for device in devices])
        self.sizes = self._largest_subgraph() if pad or self.total > 1 else None

    def __len__(self) -> int:
        # with several devices, as many steps as leave every device a part or more in each
        return min(math.ceil(len(self.parts) / self.parts_per_batch), len(self.parts) // self.total)

    def _largest_subgraph(self) -> tuple[int, int, int]:
        """(rows, entries, negatives) of every padded subgraph: bounds for the subgraph of the
        most parts one device gets, of the largest parts, with a padding row. A subgraph's
        adjacency entries (and positive pairs) are at most its cells' degrees plus self-loops."""
        most_parts = math.ceil(math.ceil(len(self.parts) / len(self)) / self.total)
        degrees = self.adjacency.getnnz(axis=1) + 1
        cells = sorted(map(len, self.parts))[-most_parts:]
        entries = sorted(degrees[p].sum() for p in self.parts)[-most_parts:]
        n_entries = int(sum(entries))
        n_negative = max(1, int(round(self.negative_ratio * n_entries)))
        return _round_up(sum(cells) + 1, 64), n_entries, n_negative

    def cell_order(self) -> np.ndarray:
        """Every cell once, the cells of a part together: blocks cut from this order have small
        neighbourhoods (see :func:`embed_in_blocks`)."""
        return np.concatenate(self.parts)

    def batch(self, parts: np.ndarray):
        """The step on the subgraph of ``parts`` (indices into the parts), unpadded."""
        x, a_norm, positives, negatives = self._subgraph(parts, self.rng)
        return (x, sparse_adjacency(a_norm, backend="tensorflow")), (positives, negatives)

    def _subgraph(self, parts: np.ndarray, rng: np.random.Generator):
        """(features, normalised adjacency, positive pairs, negative pairs sampled from
        ``rng``) of the subgraph of ``parts``."""
        nodes = np.sort(np.concatenate([self.parts[p] for p in parts]))
        sub = self.adjacency[nodes][:, nodes]
        target = with_self_loops(sub)
        positives = np.stack(target.nonzero(), axis=1).astype(np.int64)
        n_zeros = len(nodes) ** 2 - len(positives)
        n_negative = min(n_zeros, max(1, int(round(self.negative_ratio * len(positives)))))
        negatives = sample_non_edges(target, n_negative, rng)
        x = np.asarray(self.features(nodes), dtype=np.float32)
        return x, graphs.normalize(sub), positives, negatives

    def padded(self, shares: list[np.ndarray]):
        """The padded subgraphs of this process's devices' ``shares`` of a step's parts, one
        after another:
        ``((X, entries, values), (positives, negatives, counts))``. Each subgraph has the same
        number of rows (zero features beyond its cells), adjacency entries and pairs; its
        padding entries and pairs sit on its last row, with value 0; ``counts`` has a row
        (cells, positives, negatives) per subgraph saying what is real. Rows are numbered
        as in the whole step, after the subgraphs of the devices before this process's."""
        n_rows, n_entries, n_negative = self.sizes
        xs, entries, values, positives, negatives, counts = [], [], [], [], [], []
        for s, (parts, rng) in enumerate(zip(shares, self.pair_rngs), start=self.first):
            x, a_norm, pos, neg = self._subgraph(parts, rng)
            first_row, pad = s * n_rows, (s + 1) * n_rows - 1
            coo = a_norm.tocoo()
            xs.append(np.concatenate([x, np.zeros((n_rows - len(x), x.shape[1]), np.float32)]))
            entries.append(_pad(np.stack([coo.row, coo.col], axis=1) + first_row, n_entries, pad))
            values.append(np.concatenate([coo.data, np.zeros(n_entries - coo.nnz, np.float32)]))
            positives.append(_pad(pos + first_row, n_entries, pad))
            negatives.append(_pad(neg + first_row, n_negative, pad))
            counts.append([len(x), len(pos), len(neg)])
        return ((np.concatenate(xs), np.concatenate(entries).astype(np.int32), np.concatenate(values)),
                (np.concatenate(positives), np.concatenate(negatives), np.array(counts, np.int32)))

    def steps(self) -> Iterator:
        """The steps of every epoch, in turn (endless): each epoch the parts in a new order,
        split into ``len(self)`` groups of as equal a number of parts as can be (and each group
        into as many subgraphs as there are devices, of which this process's)."""
        while True:
            order = self.rng.permutation(len(self.parts))
            for group in np.array_split(order, len(self)):
                if self.sizes is None:
                    yield self.batch(group)
                    continue
                shares = np.array_split(group, self.total)[self.first:self.first + self.local]
                yield self.padded(shares)

    def dataset(self, n_features: int):
        """:meth:`steps` as a ``tf.data`` pipeline."""
        import tensorflow as tf

        pairs = tf.TensorSpec((None, 2), tf.int64)
        if self.sizes is None:  # the subgraphs differ in size
            signature = ((tf.TensorSpec((None, n_features), tf.float32),
                          tf.SparseTensorSpec((None, None), tf.float32)), (pairs, pairs))
        else:
            signature = ((tf.TensorSpec((None, n_features), tf.float32),
                          tf.TensorSpec((None, 2), tf.int32), tf.TensorSpec((None,), tf.float32)),
                         (pairs, pairs, tf.TensorSpec((None, 3), tf.int32)))
        return tf.data.Dataset.from_generator(self.steps, output_signature=signature)


def _pad(pairs: np.ndarray, length: int, pad: int) -> np.ndarray:
    """``pairs`` (rows of two indices) made ``length`` rows long with (pad, pad) rows."""
    return np.concatenate([pairs, np.full((length - len(pairs), 2), pad, pairs.dtype)])


def _round_up(n: int, quantum: int) -> int:
    """``n`` rounded up to a multiple of ``quantum``."""
    return -(-int(n) // quantum) * quantum


def neighbourhood(adjacency: sp.csr_matrix, cells: np.ndarray, hops: int):
    """The sorted cells within ``hops`` links of ``cells`` (themselves included), and where each
    of ``cells`` sits among them."""
    nodes = np.unique(cells)
    for _ in range(hops):
        nodes = np.union1d(nodes, adjacency[nodes].indices)
    return nodes, np.searchsorted(nodes, cells)


def embed_in_blocks(network, features: Features, a_norm: sp.csr_matrix,
                    order: np.ndarray | None = None,
                    block_size: int = defaults.GRAPH_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(Z*, mu) of every cell, as ``network((X, A_norm), training=False)`` gives them on the
    whole graph, computed for ``block_size`` cells at a time (in ``order``; default: index
    order): mu on each block's ``network.encoder_hops``-hop neighbourhood, then Z* from mu and
    the expression on its ``network.decoder_hops``-hop neighbourhood. ``a_norm`` is the whole
    graph's normalised adjacency, whose rows hold each cell's full propagation weights."""
    from keras import ops

    a_norm = sp.csr_matrix(a_norm)
    n = a_norm.shape[0]
    order = np.arange(n) if order is None else np.asarray(order)
    blocks = [np.sort(order[start:start + block_size]) for start in range(0, n, block_size)]

    def subgraph(block, hops):
        nodes, at = neighbourhood(a_norm, block, hops)
        return nodes, at, sparse_adjacency(a_norm[nodes][:, nodes])

    mu = np.empty((n, network.latent_dim), dtype=np.float32)
    for block in blocks:
        nodes, at, a = subgraph(block, network.encoder_hops)
        mu[block] = ops.convert_to_numpy(network.encode(features(nodes), a)[0])[at]
    z = np.empty_like(mu)
    for block in blocks:
        nodes, at, a = subgraph(block, network.decoder_hops)
        z[block] = ops.convert_to_numpy(network.decode(mu[nodes], features(nodes), a))[at]
    return z, mu


def attention_in_blocks(network, features: Features, a_norm: sp.csr_matrix,
                        block_size: int = defaults.GRAPH_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Every edge (target, source) of ``a_norm`` with its attention per head (edges x heads) in
    the network's first attention layer (``network.attention``), as on the whole graph: a
    cell's attention weights are a softmax over its own incoming edges, so each block of
    targets runs on the subgraph of its one-hop neighbourhood."""
    from keras import ops

    a_norm = sp.csr_matrix(a_norm)
    edges, weights = [], []
    for start in range(0, a_norm.shape[0], block_size):
        block = np.arange(start, min(start + block_size, a_norm.shape[0]))
        nodes, _ = neighbourhood(a_norm, block, 1)
        pairs, alpha, _ = network.attention([features(nodes),
                                             sparse_adjacency(a_norm[nodes][:, nodes])])
        pairs = nodes[ops.convert_to_numpy(pairs)]
        mine = (pairs[:, 0] >= block[0]) & (pairs[:, 0] <= block[-1])
        edges.append(pairs[mine])
        weights.append(ops.convert_to_numpy(alpha)[mine])
    return np.concatenate(edges), np.concatenate(weights)
