"""One loader per dataset of the registry, each returning AnnData (cells x genes) tagged with
what the registry knows of it."""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError
from .downloads import fetch, local_dir
from .registry import (MURARO_MATRIX, MURARO_TYPES, VELTEN_COUNTS, VELTEN_FACS, dataset_info,
                       tag_dataset)
from .simulator import synthetic


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` that names the file in a one-line error for an empty, truncated or
    malformed table (a partial download, a wrong file put in the data folder)."""
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError,
            OSError) as exc:
        raise InputError(f"{path}: not a readable table ({type(exc).__name__}: {exc})") from exc


# -- loaders -------------------------------------------------------------------------------
def pbmc68k_reduced() -> ad.AnnData:
    """700 PBMCs from scanpy's wheel (offline): the log-normalised ``.raw`` values, labels ``bulk_labels``."""
    import scanpy as sc

    source = sc.datasets.pbmc68k_reduced()
    adata = ad.AnnData(sp.csr_matrix(source.raw.X, dtype=np.float32), obs=source.obs.copy(),
                       var=pd.DataFrame(index=source.raw.var_names.copy()))
    return tag_dataset(adata, "pbmc68k_reduced")


def paul15_tradeseq(*, data_dir: str | os.PathLike | None = None, download: bool = True) -> ad.AnnData:
    """Paul et al. 2015 myeloid progenitors as in tradeSeq: raw counts, ``celltype`` labels.

    ``obs`` also holds the slingshot fit: ``slingshot_cluster``, the 2-D reduced dimensions
    ``rd1``/``rd2``, and per lineage (1: monocyte/neutrophil side, 2: erythroid side)
    ``pseudotime_lineage{k}`` and ``weight_lineage{k}``. A local ``paul15_tradeseq.h5ad`` (the
    same data, converted) is used when present; otherwise the ``.rda`` files are read.
    """
    local = local_dir("paul15_tradeseq", data_dir)
    if local is not None and (local / "paul15_tradeseq.h5ad").is_file():
        adata = ad.read_h5ad(local / "paul15_tradeseq.h5ad")
        adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
        return tag_dataset(adata, "paul15_tradeseq")
    return paul15_from_rda(fetch("paul15_tradeseq", data_dir=data_dir, download=download))


def paul15_from_rda(paths: dict[str, Path]) -> ad.AnnData:
    """Convert tradeSeq's ``countMatrix.rda``, ``celltype.rda`` and ``crv.rda`` to AnnData."""
    import rdata

    with warnings.catch_warnings():
        # rdata has no constructors for dgCMatrix / slingshot classes: we read their raw slots.
        warnings.filterwarnings("ignore", message="Missing constructor for R class")
        counts = rdata.read_rda(paths["countMatrix.rda"])["countMatrix"]
        celltype = np.asarray(rdata.read_rda(paths["celltype.rda"])["celltype"]).astype(str)
        crv = rdata.read_rda(paths["crv.rda"])["crv"]
    n_genes, n_cells = (int(d) for d in counts.Dim)
    matrix = sp.csc_matrix((counts.x, counts.i, counts.p), shape=(n_genes, n_cells))
    genes, cells = (np.asarray(names).astype(str) for names in counts.Dimnames)
    obs = pd.DataFrame(index=pd.Index(cells, name="cell"))
    obs["celltype"] = pd.Categorical(celltype)
    cluster_names = np.asarray(crv.clusterLabels.coords["dim_1"].values).astype(str)
    obs["slingshot_cluster"] = pd.Categorical(
        cluster_names[np.asarray(crv.clusterLabels).argmax(axis=1)])
    obs["rd1"], obs["rd2"] = np.asarray(crv.reducedDim).T
    for k in (1, 2):
        curve = crv.curves[f"curve{k}"]
        obs[f"pseudotime_lineage{k}"] = np.asarray(curve["lambda"], dtype=float)
        obs[f"weight_lineage{k}"] = np.asarray(curve["w"], dtype=float)
    adata = ad.AnnData(matrix.T.tocsr().astype(np.float32), obs=obs,
                       var=pd.DataFrame(index=genes))
    return tag_dataset(adata, "paul15_tradeseq")


def zebrafish(*, data_dir: str | os.PathLike | None = None, download: bool = True) -> ad.AnnData:
    """The paper's zebrafish blood cells: ``GE_mvg.csv`` with ``Annotation_File.csv`` and ``CV_genes.csv``.

    Genes are named by symbol (duplicates made unique), with Ensembl id, chromosome and biotype
    in ``var``; labels are ``obs["Type"]``.
    """
    from ..io import read

    paths = fetch("zebrafish", data_dir=data_dir, download=download)
    annotation = _read_csv(paths["Annotation_File.csv"], index_col=0)
    genes = _read_csv(paths["CV_genes.csv"], index_col=0)["gene"].str.split(",", expand=True)
    genes.columns = ["ensembl_id", "symbol", "chromosome", "biotype"]
    adata = read(paths["GE_mvg.csv"])
    if adata.shape != (len(annotation), len(genes)):
        raise InputError(
            f"{paths['GE_mvg.csv']}: shape {adata.shape} does not match Annotation_File.csv "
            f"({len(annotation)} cells) and CV_genes.csv ({len(genes)} genes)")
    adata.obs = annotation.set_axis(annotation.index.astype(str))
    adata.obs["Type"] = pd.Categorical(adata.obs["Type"])
    adata.var = genes.set_index(genes["symbol"].rename(None))
    adata.var_names_make_unique()
    return tag_dataset(adata, "zebrafish")


def pancreas(*, data_dir: str | os.PathLike | None = None, download: bool = True,
             n_top_genes: int | None = 4000) -> ad.AnnData:
    """Muraro et al. 2016 human pancreas with the authors' cell types in ``obs["cell_type"]``.

    The GEO matrix is genes x cells (tab-separated, header one field shorter than the rows, gene
    names such as ``A1BG__chr19``) of normalised counts; it is transposed, genes are named by
    symbol (made unique), values become ``log1p`` and, as in the paper, the ``n_top_genes`` most
    variable genes are kept (``None``: all). Cells without an annotation are left out; "duct" is
    called "ductal" and "pp" "gamma" as usual. Cell ids match whether written ``D28-1_1`` or
    ``D28.1_1``.
    """
    from ..preprocessing import highly_variable

    paths = fetch("pancreas", data_dir=data_dir, download=download)
    table = _read_csv(paths[MURARO_MATRIX], sep="\t")
    if table.shape[1] < 2:
        raise InputError(f"{paths[MURARO_MATRIX]}: expected a tab-separated genes x cells table")
    if not pd.api.types.is_numeric_dtype(table.iloc[:, 0]):  # header not one field shorter
        table = table.set_index(table.columns[0])
    types = _read_csv(paths[MURARO_TYPES], sep=r"\s+", header=None, names=["cell", "type"],
                        engine="python").dropna()
    types["cell"] = types["cell"].str.replace("-", ".", regex=False)
    types = types.set_index("cell")["type"].replace({"duct": "ductal", "pp": "gamma"})
    cells = pd.Index(table.columns.astype(str)).str.replace("-", ".", regex=False)
    keep = cells.isin(types.index)
    if not keep.any():
        raise InputError(f"{paths[MURARO_TYPES]}: no cell of the matrix has an annotation")
    values = np.log1p(table.to_numpy(dtype=np.float32).T[keep])
    genes = pd.Index(table.index.astype(str)).str.split("__").str[0]
    obs = pd.DataFrame({"cell_type": pd.Categorical(types.loc[cells[keep]].to_numpy())},
                       index=cells[keep])
    obs["donor"] = obs.index.str.split(".").str[0]
    adata = ad.AnnData(values, obs=obs, var=pd.DataFrame(index=genes))
    adata.var_names_make_unique()
    if n_top_genes is not None and n_top_genes < adata.n_vars:
        adata = adata[:, highly_variable(adata.X, adata.var_names, n_top_genes)].copy()
    return tag_dataset(adata, "pancreas")


def human_blood(*, data_dir: str | os.PathLike | None = None, download: bool = True,
                individual: str = "I1", n_top_genes: int | None = 700) -> ad.AnnData:
    """Velten et al. 2017 human haematopoietic stem and progenitor cells of one ``individual``.

    The GEO count matrix is genes x cells (comma-separated, gene names such as
    ``KEL (ENSG00000197993)``, cell ids in the header) of cells that passed the authors' quality
    control. Genes are named by symbol (made unique) with the Ensembl id in ``var``; the counts
    are kept in ``layers["counts"]``; ``X`` is ``log1p`` of the counts normalised to the median
    library size and, as in the paper, holds the ``n_top_genes`` most variable genes (``None``:
    all). The FACS index file (channels x cells) adds one ``obs`` column per row, named as in the
    file: numeric for the index channels (NaN for a cell without index data), text otherwise.
    The dataset has no reference cell types: the paper notes that its cells form a continuum.
    """
    from ..preprocessing import highly_variable, log_normalize

    if individual not in ("I1", "I2"):
        raise InputError(f"human_blood: individual must be 'I1' or 'I2', got {individual!r}")
    count_file, facs_file = VELTEN_COUNTS.format(individual), VELTEN_FACS.format(individual)
    paths = fetch("human_blood", data_dir=data_dir, download=download,
                  files=(count_file, facs_file))
    table = _read_csv(paths[count_file], index_col=0)
    if table.empty:
        raise InputError(f"{paths[count_file]}: no counts (expected a genes x cells table)")
    counts = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float32).T
    bad = ~np.isfinite(counts) | (counts < 0)
    if bad.any():
        cell, gene = np.argwhere(bad)[0]
        raise InputError(f"{paths[count_file]}: value {table.iat[gene, cell]} at cell "
                         f"{table.columns[cell]!r}, gene {table.index[gene]!r} is not a count")
    names = pd.Series(table.index.astype(str)).str.extract(r"^\s*(.*?)\s*(?:\((ENS[^)]*)\))?\s*$")
    var = pd.DataFrame({"ensembl_id": names[1].fillna("").to_numpy()},
                       index=pd.Index(names[0].to_numpy(), name=None))
    obs = pd.DataFrame({"individual": individual}, index=pd.Index(table.columns.astype(str)))
    facs = _read_csv(paths[facs_file], index_col=0).T
    facs.index = facs.index.astype(str)
    if not obs.index.isin(facs.index).any():
        raise InputError(f"{paths[facs_file]}: none of its cells is in {count_file}")
    for channel in facs.columns:
        values = pd.to_numeric(facs[channel], errors="coerce")
        if values.count() < facs[channel].count():  # not a numeric channel: keep the text
            values = facs[channel].astype("category")
        obs[str(channel)] = values.reindex(obs.index)
    adata = ad.AnnData(log_normalize(counts), obs=obs, var=var, layers={"counts": counts})
    adata.var_names_make_unique()
    if n_top_genes is not None and n_top_genes < adata.n_vars:
        adata = adata[:, highly_variable(adata.X, adata.var_names, n_top_genes)].copy()
    return tag_dataset(adata, "human_blood")


LOADERS: dict[str, Callable[..., ad.AnnData]] = {
    "pbmc68k_reduced": pbmc68k_reduced,
    "paul15_tradeseq": paul15_tradeseq,
    "zebrafish": zebrafish,
    "pancreas": pancreas,
    "human_blood": human_blood,
    "synthetic": synthetic,
}


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None,
                 download: bool = True) -> ad.AnnData:
    """Load a registered dataset by name (see :data:`REGISTRY`)."""
    dataset_info(name)
    if name in ("pbmc68k_reduced", "synthetic"):
        return LOADERS[name]()
    return LOADERS[name](data_dir=data_dir, download=download)


def load_offline(names, *, data_dir: str | os.PathLike | None = None
                 ) -> tuple[dict[str, ad.AnnData], dict[str, str]]:
    """The datasets among ``names`` that load without the network (shipped, simulated, or with
    a local copy), and for each of the others why it did not load."""
    loaded, reasons = {}, {}
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded[name] = load_dataset(name, data_dir=data_dir, download=False)
        except InputError as error:
            reasons[name] = str(error)
    return loaded, reasons
