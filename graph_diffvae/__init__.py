"""Graph-DiffVAE (Bica et al. 2020): a graph variational autoencoder over a graph of cells.

GCN layers (Spektral) encode each cell from its expression and its neighbours in a cell graph;
the decoder predicts links between cells. Shares DiffVAE's data layer, preprocessing and
estimator base.

>>> from graph_diffvae import GraphDiffVAE                                   # doctest: +SKIP
>>> model = GraphDiffVAE(graph="pearson", k=1).fit(adata, epochs=200)        # doctest: +SKIP
"""
from diffvae._version import __version__

__all__ = ["GraphDiffVAE", "MultitaskDiffVAE", "__version__"]


def __getattr__(name: str):
    # lazily: importing the model starts TensorFlow, which plain graph utilities do not need
    if name == "GraphDiffVAE":
        from .model import GraphDiffVAE

        return GraphDiffVAE
    if name == "MultitaskDiffVAE":
        from .multitask import MultitaskDiffVAE

        return MultitaskDiffVAE
    raise AttributeError(f"module 'graph_diffvae' has no attribute {name!r}")
