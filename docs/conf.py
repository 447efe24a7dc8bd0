"""Sphinx configuration of the documentation site (``sphinx-build -W -b html docs docs/_build``)."""

import sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root))
import diffvae.quiet  # noqa: E402

diffvae.quiet.install()  # autodoc imports TensorFlow: no start-up notices in the build log

version_ns: dict = {}
exec((root / "diffvae" / "_version.py").read_text(), version_ns)

project = "DiffVAE and Graph-DiffVAE"
author = "the DiffVAE Keras authors"
copyright = "2026, " + author
release = version = version_ns["__version__"]

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_nb",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build"]

# Notebooks are rendered from the outputs saved in the repository, never re-executed.
nb_execution_mode = "off"
# Notebook outputs carry images in several formats; the HTML page shows the PNG.
nb_mime_priority_overrides = [("html", "text/plain", 100)]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_numpy_docstring = True
napoleon_google_docstring = False

html_theme = "furo"
html_title = f"DiffVAE {release}"
html_static_path = ["_static"]
autodoc_inherit_docstrings = False  # Keras base-class docstrings are not ours
