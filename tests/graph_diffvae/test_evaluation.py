"""What links mean biologically (graph_diffvae.evaluation)."""
import numpy as np
import pandas as pd


def test_progenitor_attention_mass_by_type():
    from graph_diffvae import evaluation, plots

    labels = np.array(["P", "P", "A", "B", "B"])
    links = pd.DataFrame({"target": [0, 0, 0, 1, 2, 1], "source": [2, 3, 4, 0, 0, 2],
                          "attention": [0.1, 0.2, 0.3, 0.9, 0.5, 0.05]})
    mass = evaluation.progenitor_attention(links, labels, ["P"])
    # cell 0 gives 0.1 to A and 0.2 + 0.3 to B; cell 1's link to cell 0 (a progenitor) is left out
    expected = pd.DataFrame({"A": [0.1, 0.05], "B": [0.5, 0.0]}, index=[0, 1])
    np.testing.assert_allclose(mass.loc[[0, 1], ["A", "B"]].to_numpy(), expected.to_numpy())
    fig = plots.attention_mass(mass, labels)
    assert fig.axes[0].images[0].get_array().shape == (2, 2)
