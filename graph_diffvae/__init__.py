"""Graph-DiffVAE (Bica et al. 2020): a graph variational autoencoder over a graph of cells.

The model (Spektral GCN layers, link prediction between cells) is not implemented yet; this
package shares DiffVAE's data layer and preprocessing (:mod:`diffvae`).
"""
from diffvae._version import __version__

__all__ = ["__version__"]
