"""Installs the DiffVAE and Graph-DiffVAE packages."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version: dict = {}
exec((here / "diffvae" / "_version.py").read_text(), version)
# the documentation site (docs/): Sphinx with autodoc/napoleon, notebooks rendered by myst-nb
docs = ["sphinx>=8", "myst-nb>=1.2", "furo>=2024.8"]

setup(
    name="diffvae",
    version=version["__version__"],
    description=(
        "DiffVAE and Graph-DiffVAE (Bica et al., Scientific Reports 2020): generative and graph "
        "models of single-cell RNA-seq data in Keras 3"
    ),
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["diffvae", "diffvae.*", "graph_diffvae", "graph_diffvae.*"]),
    package_data={"diffvae": ["markers/*.csv"]},
    # Versions measured to work together (see README, "Stack").
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<3.16",
        "spektral==1.3.1",
        "pymetis>=2025.2",  # graph partitions for subgraph minibatches (Cluster-GCN)
        "pynndescent>=0.5",  # approximate neighbour search above the exact-search size
        "numpy>=2,<3",
        "scipy>=1.13",
        "scikit-learn>=1.5",
        "pandas>=2.2",
        "anndata>=0.11",
        "scanpy>=1.11",
        "rdata>=0.11",
        "matplotlib>=3.9",
        "tqdm>=4.66",
        "openTSNE>=1.0",
        "igraph>=0.11",
        "leidenalg>=0.10",  # scanpy's sc.tl.leiden on our outputs
        "joblib>=1.3",
        "pooch>=1.8",
    ],
    entry_points={"console_scripts": ["diffvae = diffvae.cli:main"]},
    extras_require={
        # the JAX backend (KERAS_BACKEND=jax), for every model
        "jax": ["jax[cpu]>=0.5"],
        # running the notebooks yourself, with parameters (papermill)
        "notebooks": ["ipykernel>=6", "nbformat>=5", "papermill>=2.6"],
        # the test suite: pytest (on every core, pytest-xdist), notebooks executed by nbmake,
        # both backends; and the documentation tools, since CI builds the site with the tests
        "dev": ["pytest>=8", "pytest-xdist>=3.5", "nbmake>=1.5", "jax[cpu]>=0.5", "ipykernel>=6",
                "nbformat>=5", *docs],
        "docs": docs,
        # comparison tools for the benchmarks only (scVI); never needed to use or test the package
        "bench": ["scvi-tools>=1.1"],
    },
)
