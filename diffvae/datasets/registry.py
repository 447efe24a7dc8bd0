"""The dataset registry: what the package knows of each dataset (files, labels, marker set,
progenitor types), and what a loaded AnnData says about itself."""
from __future__ import annotations

from dataclasses import dataclass, field

import anndata as ad

from ..errors import InputError

TRADESEQ = "https://raw.githubusercontent.com/statOmics/tradeSeq/master/data/"
DIFFVAE_DATA = "https://raw.githubusercontent.com/ioanabica/DiffVAE/master/data/Zebrafish/"
MURARO_MATRIX = "GSE85241_cellsystems_dataset_4donors_updated.csv.gz"
MURARO_TYPES = "cell_type_annotation_Cels2016.csv"
VELTEN = "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE75nnn/GSE75478/suppl/"
VELTEN_COUNTS = "GSE75478_transcriptomics_raw_filtered_{}.csv.gz"
VELTEN_FACS = "GSE75478_transcriptomics_facs_indeces_filtered_{}.csv.gz"


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
            (RemoteFile("countMatrix.rda", TRADESEQ + "countMatrix.rda",
                        "9d4717ce531e414ea0573a45f02c23c3b571b5fc37a52a65be124f0537c070a8"),
             RemoteFile("celltype.rda", TRADESEQ + "celltype.rda",
                        "caddbfd93b3012af784ae54773c373ff64adf735949f8236187ea6ae71761db9"),
             RemoteFile("crv.rda", TRADESEQ + "crv.rda",
                        "85a96575d06247f5c22d2622a05cb75e241f7c014e93d2c6c15593cecdc14099")),
            markers="mouse_myeloid", progenitors=("Multipotent progenitors", "GMP")),
        DatasetInfo(
            "zebrafish",
            "1422 zebrafish blood cells x 1845 most variable genes, log-normalised, 5 types "
            "(Athanasiadis et al. 2017, ArrayExpress E-MTAB-5530): the paper's main dataset",
            "the paper's original code repository, data/Zebrafish/", "MIT (DiffVAE code)", "Type",
            (RemoteFile("GE_mvg.csv", DIFFVAE_DATA + "GE_mvg.csv"),
             RemoteFile("Annotation_File.csv", DIFFVAE_DATA + "Annotation_File.csv",
                        "8fe741ce6c63eda6f761e11b0ee28d903db5f8aa122fffa320135e5e73ad8a66"),
             RemoteFile("CV_genes.csv", DIFFVAE_DATA + "CV_genes.csv",
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
            (RemoteFile(MURARO_MATRIX, "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE85nnn/GSE85241/"
                        "suppl/" + MURARO_MATRIX),
             RemoteFile(MURARO_TYPES, "https://s3.amazonaws.com/scrnaseq-public-datasets/"
                        "manual-data/muraro/" + MURARO_TYPES))),
        DatasetInfo(
            "human_blood",
            "Velten et al. 2017 human bone-marrow haematopoietic stem and progenitor cells "
            "(index-sorted, GEO GSE75478), individual 1 (the paper: 1034 cells), log-normalised "
            "counts, the 700 most variable genes as the paper; FACS index intensities in obs",
            "GEO GSE75478 supplementary files", "GEO data: public", "",
            tuple(RemoteFile(pattern.format(who), VELTEN + pattern.format(who))
                  for who in ("I1", "I2") for pattern in (VELTEN_COUNTS, VELTEN_FACS)),
            markers="human_hspc"),
        DatasetInfo(
            "synthetic",
            "SYNTHETIC branching differentiation: progenitors -> n_branches mature types, "
            "negative-binomial counts, known labels and pseudotime (any size, seeded)",
            "simulated by diffvae.datasets.synthetic", "MIT (this package)", "celltype",
            progenitors=("Progenitor",)),
    )
}


def dataset_info(name: str) -> DatasetInfo:
    if name not in REGISTRY:
        raise InputError(f"unknown dataset {name!r}; known datasets: {sorted(REGISTRY)}")
    return REGISTRY[name]


def tag_dataset(adata: ad.AnnData, name: str) -> ad.AnnData:
    info = REGISTRY[name]
    adata.uns["diffvae_dataset"] = {"name": name, "label_key": info.label_key,
                                    "markers": info.markers or "",
                                    "progenitors": list(info.progenitors)}
    return adata


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
