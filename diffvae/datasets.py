"""Dataset registry in the style of ``scanpy.datasets`` / ``keras.datasets``.

Every loader returns AnnData (cells x genes) with the reference labels in ``obs`` and
``adata.uns["diffvae_dataset"]`` naming the label column, the fitting marker set and the progenitor
types (read them with :func:`label_key`, :func:`marker_set` and :func:`progenitor_types`).

Files are looked for, in order, in ``<data_dir>/<name>/`` (``data_dir=`` argument, else the
``DIFFVAE_DATA_DIR`` environment variable), then in the download cache
``<cache_dir>/<name>/`` (``DIFFVAE_CACHE_DIR``, default the platform's user cache folder, e.g.
``~/.cache/diffvae`` on Linux), and are otherwise downloaded from their public source into the
cache with pooch (progress bar, retries, checked against their SHA-256 where known).
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import _progress
from .errors import InputError

DATA_DIR_ENV, CACHE_DIR_ENV = "DIFFVAE_DATA_DIR", "DIFFVAE_CACHE_DIR"

_TRADESEQ = "https://raw.githubusercontent.com/statOmics/tradeSeq/master/data/"
_DIFFVAE = "https://raw.githubusercontent.com/ioanabica/DiffVAE/master/data/Zebrafish/"
_MURARO_MATRIX = "GSE85241_cellsystems_dataset_4donors_updated.csv.gz"
_MURARO_TYPES = "cell_type_annotation_Cels2016.csv"
_VELTEN = "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE75nnn/GSE75478/suppl/"
_VELTEN_COUNTS = "GSE75478_transcriptomics_raw_filtered_{}.csv.gz"
_VELTEN_FACS = "GSE75478_transcriptomics_facs_indeces_filtered_{}.csv.gz"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, public address and SHA-256 (``None``: not known)."""

    name: str
    url: str
    sha256: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows of a dataset."""

    name: str
    description: str
    source: str
    licence: str
    #: the obs column with reference labels ("" when the dataset has none)
    label_key: str
    files: tuple[RemoteFile, ...] = field(default=())
    #: the shipped marker set (see diffvae.analysis.markers) that fits the dataset
    markers: str | None = None
    #: progenitor types among the labels (for the progenitor link analysis of Fig. 4)
    progenitors: tuple[str, ...] = ()


REGISTRY: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "pbmc68k_reduced",
            "700 human PBMCs x 765 genes, log-normalised (10x Genomics, Zheng et al. 2017)",
            "shipped inside the scanpy package (scanpy.datasets.pbmc68k_reduced)",
            "scanpy: BSD-3-Clause; data: 10x Genomics, CC BY 4.0", "bulk_labels",
            markers="human_blood"),
        DatasetInfo(
            "paul15_tradeseq",
            "2660 mouse myeloid progenitors x 240 genes, raw UMI counts, 7 types, slingshot "
            "lineages and pseudotime (Paul et al. 2015, GEO GSE72857; subset of tradeSeq)",
            "tradeSeq repository, data/ folder", "MIT (tradeSeq)", "celltype",
            (RemoteFile("countMatrix.rda", _TRADESEQ + "countMatrix.rda",
                        "9d4717ce531e414ea0573a45f02c23c3b571b5fc37a52a65be124f0537c070a8"),
             RemoteFile("celltype.rda", _TRADESEQ + "celltype.rda",
                        "caddbfd93b3012af784ae54773c373ff64adf735949f8236187ea6ae71761db9"),
             RemoteFile("crv.rda", _TRADESEQ + "crv.rda",
                        "85a96575d06247f5c22d2622a05cb75e241f7c014e93d2c6c15593cecdc14099")),
            markers="mouse_myeloid", progenitors=("Multipotent progenitors", "GMP")),
        DatasetInfo(
            "zebrafish",
            "1422 zebrafish blood cells x 1845 most variable genes, log-normalised, 5 types "
            "(Athanasiadis et al. 2017, ArrayExpress E-MTAB-5530): the paper's main dataset",
            "the paper's original code repository, data/Zebrafish/", "MIT (DiffVAE code)", "Type",
            (RemoteFile("GE_mvg.csv", _DIFFVAE + "GE_mvg.csv"),
             RemoteFile("Annotation_File.csv", _DIFFVAE + "Annotation_File.csv",
                        "8fe741ce6c63eda6f761e11b0ee28d903db5f8aa122fffa320135e5e73ad8a66"),
             RemoteFile("CV_genes.csv", _DIFFVAE + "CV_genes.csv",
                        "14600aca2b6a14f7a0638c8e654b7ac2cc6d8fe0b91bfdaa58547e950ac72484")),
            markers="zebrafish_blood", progenitors=("HSPC",)),
        DatasetInfo(
            "pancreas",
            "Muraro et al. 2016 human pancreas (CEL-Seq2, GEO GSE85241), the cells with the "
            "authors' cell-type annotation (2126 match; the paper reports 2285 after its own "
            "filtering), log1p of the normalised counts, the 4000 most variable genes as the paper",
            "GEO GSE85241 supplementary matrix; the authors' annotation as mirrored by the Hemberg "
            "lab's scRNA-seq datasets collection", "GEO data: public; annotation: as published",
            "cell_type",
            (RemoteFile(_MURARO_MATRIX, "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE85nnn/GSE85241/"
                        "suppl/" + _MURARO_MATRIX),
             RemoteFile(_MURARO_TYPES, "https://s3.amazonaws.com/scrnaseq-public-datasets/"
                        "manual-data/muraro/" + _MURARO_TYPES))),
        DatasetInfo(
            "human_blood",
            "Velten et al. 2017 human bone-marrow haematopoietic stem and progenitor cells "
            "(index-sorted, GEO GSE75478), individual 1 (the paper: 1034 cells), log-normalised "
            "counts, the 700 most variable genes as the paper; FACS index intensities in obs",
            "GEO GSE75478 supplementary files", "GEO data: public", "",
            tuple(RemoteFile(pattern.format(who), _VELTEN + pattern.format(who))
                  for who in ("I1", "I2") for pattern in (_VELTEN_COUNTS, _VELTEN_FACS)),
            markers="human_hspc"),
        DatasetInfo(
            "synthetic",
            "SYNTHETIC branching differentiation: progenitors -> n_branches mature types, "
            "negative-binomial counts, known labels and pseudotime (any size, seeded)",
            "simulated by diffvae.datasets.synthetic", "MIT (this package)", "celltype",
            progenitors=("Progenitor",)),
    )
}


def cache_dir() -> Path:
    """Download cache: ``$DIFFVAE_CACHE_DIR`` or the platform's user cache folder for diffvae."""
    import pooch

    return Path(os.environ.get(CACHE_DIR_ENV) or pooch.os_cache("diffvae"))


def _local_dir(name: str, data_dir: str | os.PathLike | None) -> Path | None:
    root = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    return Path(root) / name if root else None


def fetch(name: str, *, data_dir: str | os.PathLike | None = None, download: bool = True,
          files: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Return the local path of each file of dataset ``name`` (``files``: a subset), fetching if needed.

    Raises :class:`~diffvae.errors.InputError` naming the files, their source and where to put
    them when they are neither local nor downloadable.
    """
    info = _info(name)
    wanted = [f for f in info.files if files is None or f.name in files]
    local = _local_dir(name, data_dir)
    found: dict[str, Path] = {}
    for remote in wanted:
        for folder in (local, cache_dir() / name):
            if folder is not None and (folder / remote.name).is_file():
                found[remote.name] = folder / remote.name
                break
    missing = [f for f in wanted if f.name not in found]
    reason = "downloading is off"
    if missing and download:
        try:
            found.update(_download(missing, cache_dir() / name))
            missing = []
        except OSError as exc:  # requests' errors are OSErrors
            reason = f"download failed ({type(exc).__name__}: {str(exc)[:200]})"
    if missing:
        where = local if local is not None else f"${DATA_DIR_ENV}/{name}"
        listing = "; ".join(f"{f.name} <- {f.url}" for f in missing)
        raise InputError(
            f"dataset {name!r}: files not found locally and {reason}. Get {listing} and put "
            f"them in {where} (or point {DATA_DIR_ENV}, the command line's --data-dir or the "
            "data_dir= argument at the folder above it)")
    return found


def _download(remotes: list[RemoteFile], folder: Path) -> dict[str, Path]:
    """Download with pooch into ``folder``: a progress bar, three tries per file, and a file
    whose SHA-256 does not match is deleted (pooch writes to a temporary file first)."""
    import pooch

    fetcher = pooch.create(
        path=folder, base_url="", retry_if_failed=2,
        registry={r.name: f"sha256:{r.sha256}" if r.sha256 else None for r in remotes},
        urls={r.name: r.url for r in remotes})
    paths = {}
    for remote in remotes:
        try:
            paths[remote.name] = Path(fetcher.fetch(remote.name, progressbar=_progress.interactive()))
        except ValueError as exc:
            if "hash" not in str(exc).lower():
                raise
            raise InputError(f"{remote.url}: checksum mismatch (expected {remote.sha256}); the "
                             "file was not kept") from None
    return paths


def _info(name: str) -> DatasetInfo:
    if name not in REGISTRY:
        raise InputError(f"unknown dataset {name!r}; known datasets: {sorted(REGISTRY)}")
    return REGISTRY[name]


def _tag(adata: ad.AnnData, name: str) -> ad.AnnData:
    info = REGISTRY[name]
    adata.uns["diffvae_dataset"] = {"name": name, "label_key": info.label_key,
                                    "markers": info.markers or "",
                                    "progenitors": list(info.progenitors)}
    return adata


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
    return _tag(adata, "pbmc68k_reduced")


def paul15_tradeseq(*, data_dir: str | os.PathLike | None = None, download: bool = True) -> ad.AnnData:
    """Paul et al. 2015 myeloid progenitors as in tradeSeq: raw counts, ``celltype`` labels.

    ``obs`` also holds the slingshot fit: ``slingshot_cluster``, the 2-D reduced dimensions
    ``rd1``/``rd2``, and per lineage (1: monocyte/neutrophil side, 2: erythroid side)
    ``pseudotime_lineage{k}`` and ``weight_lineage{k}``. A local ``paul15_tradeseq.h5ad`` (the
    same data, converted) is used when present; otherwise the ``.rda`` files are read.
    """
    local = _local_dir("paul15_tradeseq", data_dir)
    if local is not None and (local / "paul15_tradeseq.h5ad").is_file():
        adata = ad.read_h5ad(local / "paul15_tradeseq.h5ad")
        adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
        return _tag(adata, "paul15_tradeseq")
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
    return _tag(adata, "paul15_tradeseq")


def zebrafish(*, data_dir: str | os.PathLike | None = None, download: bool = True) -> ad.AnnData:
    """The paper's zebrafish blood cells: ``GE_mvg.csv`` with ``Annotation_File.csv`` and ``CV_genes.csv``.

    Genes are named by symbol (duplicates made unique), with Ensembl id, chromosome and biotype
    in ``var``; labels are ``obs["Type"]``.
    """
    from .io import read

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
    return _tag(adata, "zebrafish")


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
    from .preprocessing import highly_variable

    paths = fetch("pancreas", data_dir=data_dir, download=download)
    table = _read_csv(paths[_MURARO_MATRIX], sep="\t")
    if table.shape[1] < 2:
        raise InputError(f"{paths[_MURARO_MATRIX]}: expected a tab-separated genes x cells table")
    if not pd.api.types.is_numeric_dtype(table.iloc[:, 0]):  # header not one field shorter
        table = table.set_index(table.columns[0])
    types = _read_csv(paths[_MURARO_TYPES], sep=r"\s+", header=None, names=["cell", "type"],
                        engine="python").dropna()
    types["cell"] = types["cell"].str.replace("-", ".", regex=False)
    types = types.set_index("cell")["type"].replace({"duct": "ductal", "pp": "gamma"})
    cells = pd.Index(table.columns.astype(str)).str.replace("-", ".", regex=False)
    keep = cells.isin(types.index)
    if not keep.any():
        raise InputError(f"{paths[_MURARO_TYPES]}: no cell of the matrix has an annotation")
    values = np.log1p(table.to_numpy(dtype=np.float32).T[keep])
    genes = pd.Index(table.index.astype(str)).str.split("__").str[0]
    obs = pd.DataFrame({"cell_type": pd.Categorical(types.loc[cells[keep]].to_numpy())},
                       index=cells[keep])
    obs["donor"] = obs.index.str.split(".").str[0]
    adata = ad.AnnData(values, obs=obs, var=pd.DataFrame(index=genes))
    adata.var_names_make_unique()
    if n_top_genes is not None and n_top_genes < adata.n_vars:
        adata = adata[:, highly_variable(adata.X, adata.var_names, n_top_genes)].copy()
    return _tag(adata, "pancreas")


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
    from .preprocessing import highly_variable, log_normalize

    if individual not in ("I1", "I2"):
        raise InputError(f"human_blood: individual must be 'I1' or 'I2', got {individual!r}")
    count_file, facs_file = _VELTEN_COUNTS.format(individual), _VELTEN_FACS.format(individual)
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
    return _tag(adata, "human_blood")


def synthetic(n_cells: int = 2000, n_genes: int = 500, n_branches: int = 3, *, seed: int = 0,
              progenitor_fraction: float = 0.2, dispersion: float = 5.0) -> ad.AnnData:
    """SYNTHETIC data: a simulated branching differentiation, for unit tests and scaling runs.

    Each cell picks a branch and a pseudotime t ~ U(0, 1). Cells with t below
    ``progenitor_fraction`` are labelled ``"Progenitor"``, the rest ``"Type A"``, ``"Type B"``, ...
    by branch. Every gene has a baseline log-mean; a block of genes per branch rises along that
    branch's pseudotime (log fold change up to 3) and a block of progenitor genes falls. Counts are
    negative binomial (``dispersion`` is its size parameter) around those means times a
    log-normal library size. Returns raw counts; ``obs`` holds celltype, branch and pseudotime.
    """
    if n_cells < 1 or n_genes < n_branches + 1:
        raise InputError(f"synthetic: need n_cells >= 1 and n_genes > n_branches ({n_branches})")
    rng = np.random.default_rng(seed)
    counts, obs = _simulate(n_cells, n_genes, n_branches, rng, rng, progenitor_fraction, dispersion)
    obs.index = [f"cell_{i}" for i in range(n_cells)]
    adata = ad.AnnData(counts, obs=obs,
                       var=pd.DataFrame(index=[f"gene_{i}" for i in range(n_genes)]))
    return _tag(adata, "synthetic")


def write_synthetic(path: str | os.PathLike, n_cells: int, n_genes: int = 2000,
                    n_branches: int = 3, *, chunk_size: int = 10_000, seed: int = 0,
                    log_mean_offset: float = -3.0) -> Path:
    """Write SYNTHETIC counts of :func:`synthetic`'s model to an .h5ad (sparse X) in chunks of
    cells, for scaling runs: memory holds one chunk, whatever ``n_cells`` is. Every chunk shares
    the genes' parameters and draws its own cells; ``log_mean_offset`` lowers every gene's mean
    (the default leaves about 90 % zeros, as in droplet data)."""
    from anndata.io import sparse_dataset, write_elem
    import h5py

    from ._files import atomic_path

    if n_cells < 1 or n_genes < n_branches + 1:
        raise InputError(f"synthetic: need n_cells >= 1 and n_genes > n_branches ({n_branches})")
    obs = []
    with atomic_path(Path(path)) as tmp, h5py.File(tmp, "w") as file:
        for i, start in enumerate(range(0, n_cells, chunk_size)):
            counts, chunk_obs = _simulate(
                min(chunk_size, n_cells - start), n_genes, n_branches,
                np.random.default_rng([seed, i]), np.random.default_rng(seed), 0.2, 5.0,
                log_mean_offset)
            if i == 0:
                write_elem(file, "X", counts)
            else:
                sparse_dataset(file["X"]).append(counts)
            obs.append(chunk_obs)
        obs = pd.concat(obs, ignore_index=True)
        obs.index = [f"cell_{i}" for i in range(n_cells)]
        obs["celltype"] = pd.Categorical(obs["celltype"])
        write_elem(file, "obs", obs)
        write_elem(file, "var", pd.DataFrame(index=[f"gene_{i}" for i in range(n_genes)]))
    return Path(path)


def _simulate(n_cells: int, n_genes: int, n_branches: int, cells: np.random.Generator,
              genes: np.random.Generator, progenitor_fraction: float, dispersion: float,
              log_mean_offset: float = 0.0):
    """Counts (CSR) and obs of :func:`synthetic`'s model: ``cells`` draws what each cell is,
    ``genes`` the genes' parameters (the same generator for both in :func:`synthetic`)."""
    branch = cells.integers(n_branches, size=n_cells)
    t = cells.uniform(size=n_cells)
    progress = np.clip((t - progenitor_fraction) / (1 - progenitor_fraction), 0, None)
    blocks = np.array_split(genes.permutation(n_genes), n_branches + 1)
    log_mean = np.tile(genes.normal(log_mean_offset, 1.0, n_genes), (n_cells, 1))
    for b, block in enumerate(blocks[:n_branches]):
        fold = genes.uniform(1.0, 3.0, len(block))
        on = branch == b
        log_mean[np.ix_(on, block)] += progress[on, None] * fold
    progenitor_genes = blocks[-1]
    log_mean[:, progenitor_genes] += (1 - t)[:, None] * genes.uniform(1.0, 2.0, len(progenitor_genes))
    library = cells.lognormal(0.0, 0.3, n_cells)[:, None]
    mean = np.exp(log_mean) * library
    counts = cells.poisson(cells.gamma(dispersion, mean / dispersion)).astype(np.float32)
    names = [f"Type {chr(ord('A') + b)}" for b in range(n_branches)]
    labels = np.where(t < progenitor_fraction, "Progenitor", np.asarray(names)[branch])
    obs = pd.DataFrame({"celltype": pd.Categorical(labels), "branch": branch, "pseudotime": t})
    return sp.csr_matrix(counts), obs


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
    _info(name)
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


def label_key(adata: ad.AnnData) -> str | None:
    """The reference-label column of a dataset loaded here, or ``None``."""
    key = _tagged(adata).get("label_key")
    return key if key in adata.obs else None


def marker_set(adata: ad.AnnData) -> str | None:
    """The shipped marker set that fits a dataset loaded here, or ``None``."""
    return _tagged(adata).get("markers") or None


def progenitor_types(adata: ad.AnnData) -> list[str]:
    """The progenitor types of a dataset loaded here (empty when unknown)."""
    return [str(t) for t in _tagged(adata).get("progenitors", [])]


def _tagged(adata: ad.AnnData) -> dict:
    """What the registry wrote into ``adata.uns["diffvae_dataset"]`` (empty for other data)."""
    return adata.uns.get("diffvae_dataset", {})
