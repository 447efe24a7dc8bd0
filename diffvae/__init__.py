"""DiffVAE (Bica et al., Scientific Reports 2020) in Keras 3: an MMD-VAE for single-cell RNA-seq.

>>> from diffvae import DiffVAE, datasets
>>> adata = datasets.paul15_tradeseq()                     # doctest: +SKIP
>>> model = DiffVAE(latent_dim=50).fit(adata, seed=0)      # doctest: +SKIP
>>> model.transform(adata, key_added=True)                 # doctest: +SKIP
"""
from . import datasets, quiet
from ._version import __version__
from .base import BaseEstimator
from .classifier import CellStateClassifier
from .errors import InputError, NotFittedError
from .io import read
from .models import AE, PCA, VAE, DiffVAE, LatentModel, get_model
from .preprocessing import Preprocessor

quiet.drop_retracing_warning()  # fitting several models in one process sets it off, needlessly

#: load any bundle (DiffVAE, a baseline, the classifier, Graph-DiffVAE) as the class it holds
load = BaseEstimator.load

__all__ = ["AE", "PCA", "VAE", "BaseEstimator", "CellStateClassifier", "DiffVAE", "InputError", "LatentModel",
           "NotFittedError", "Preprocessor", "__version__", "datasets", "get_model", "load", "read"]
