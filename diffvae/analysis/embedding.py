"""2-D t-SNE of a latent representation (openTSNE by default, scikit-learn as an option)."""
from __future__ import annotations

import numpy as np

from .. import defaults
from ..checks import positive_number
from ..errors import InputError, warn

METHODS = ("opentsne", "sklearn")


def tsne_sample(n_cells: int, max_cells: int = defaults.TSNE_MAX_CELLS,
                seed: int | None = 0) -> np.ndarray | None:
    """The cells a t-SNE figure of ``n_cells`` cells embeds: ``None`` (all of them) up to
    ``max_cells``, else a seeded random sample of ``max_cells`` cells, sorted: openTSNE's FFT
    method grows about as N log N, but a million points make no readable figure."""
    if n_cells <= max_cells:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_cells, max_cells, replace=False))


def tsne(latent: np.ndarray, *, perplexity: float = defaults.PERPLEXITY, seed: int | None = 0,
         method: str = "opentsne", n_jobs: int = -1, init: str = "pca") -> np.ndarray:
    """Embed ``latent`` (cells x dims) in 2-D with t-SNE.

    ``init="pca"`` (default, both libraries' recommendation) starts from the first two principal
    components, so the result hardly depends on ``seed``; ``init="random"`` starts from a seeded
    random layout (scikit-learn's default before 1.2, as the paper used), so the seed matters.

    ``seed`` makes the embedding repeatable (checked with openTSNE on 1 and 2 threads);
    ``n_jobs`` threads for openTSNE (-1: all cores). A perplexity too large for the number of
    cells is lowered to (n_cells - 1) / 3 with a warning.
    """
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2 or len(latent) < 4:
        raise InputError(f"t-SNE needs a 2-D matrix with at least 4 cells, got shape {latent.shape}")
    if init not in ("pca", "random"):
        raise InputError(f"t-SNE init must be 'pca' or 'random', got {init!r}")
    if method not in METHODS:
        raise InputError(f"unknown t-SNE method {method!r}; choose from {METHODS}")
    positive_number("perplexity", perplexity)
    limit = (len(latent) - 1) / 3
    if perplexity > limit:
        warn(f"perplexity {perplexity} is too large for {len(latent)} cells; using {limit:.1f}")
        perplexity = limit
    if method == "opentsne":
        from openTSNE import TSNE

        embedding = TSNE(perplexity=perplexity, initialization=init, random_state=seed,
                         n_jobs=n_jobs, verbose=False).fit(latent)
        return np.asarray(embedding, dtype=np.float32)
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=perplexity, init=init, learning_rate="auto",
                random_state=seed).fit_transform(latent).astype(np.float32)
