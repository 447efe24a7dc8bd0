"""The one Keras 3 compatibility shim that Spektral 1.3.1 needs, kept here so Spektral stays
replaceable."""
from __future__ import annotations

import keras
from spektral.layers import GCNConv as _SpektralGCNConv


@keras.saving.register_keras_serializable(package="graph_diffvae")
class GCNConv(_SpektralGCNConv):
    """Spektral's ``GCNConv``: activation(A_norm X W + b) for node features X and a normalised
    sparse adjacency A_norm.

    Keras 3 calls layers with ``mask=[None, None]`` for a list input, which Spektral multiplies
    into the output and then fails with "Could not automatically infer the output shape"; an
    all-``None`` mask is turned into ``None``.
    """

    def call(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)) and all(m is None for m in mask):
            mask = None
        return super().call(inputs, mask=mask)
