"""Graph-DiffVAE (Bica et al. 2020): a graph variational autoencoder over a graph of cells.

GCN layers (Spektral) encode each cell from its expression and its neighbours in a cell graph;
the decoder predicts links between cells. Shares DiffVAE's data layer and preprocessing.

>>> from graph_diffvae.model import GraphDiffVAE                              # doctest: +SKIP
>>> model = GraphDiffVAE(graph="pearson", k=1).fit(adata, epochs=200)        # doctest: +SKIP
"""
from diffvae._version import __version__

__all__ = ["__version__"]
