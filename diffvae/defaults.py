"""The paper's settings: the one place that estimator signatures and command-line options read.

Bica et al. 2020, Methods (zebrafish settings unless said). Change a default here and every
signature, parser and help text follows.
"""

# DiffVAE and its baselines (VAE, AE, PCA)
LATENT_DIM = 50                 # m (pancreas: 100)
HIDDEN_DIMS = (512, 256)        # encoder Dense(h2) -> Dense(h1), h2 = 2 h1
EPOCHS = 100
BATCH_SIZE = 128                # pancreas: 256
LEARNING_RATE = 1e-3
VALIDATION_SPLIT = 0.2          # 80 / 20 train / validation
#: epochs without a better validation figure before ``--early-stopping`` (given no number) stops
EARLY_STOPPING_PATIENCE = 10

#: DiffVAE.tuned(): the options benchmarks/mmd_study.py chose by one rule across datasets (best
#: mean rank of k-means ARI on mu), over the paper's defaults above; docs/studies/mmd.md
#: (the Wasserstein auto-encoder's kernel and weight, mu and log sigma^2 without the ReLU)
TUNED_DIFFVAE = {"mmd_kernel": "imq", "mmd_weight": 10.0, "mu_activation": "linear",
                 "log_var_activation": "linear"}

# hyperparameter grid (diffvae tune)
TUNE_H1 = (256, 128)
TUNE_LATENT_DIMS = (50, 100)
TUNE_LEARNING_RATES = (1e-2, 1e-3, 1e-4)
TUNE_BATCH_SIZES = (64, 128, 256)

# the cell-state classifier
CLASSIFIER_HIDDEN_DIMS = (256, 512, 256)
CLASSIFIER_EPOCHS = 300

# identification (Fig. 1)
PERPLEXITY = 30.0
N_TOP_DIMENSIONS = 10           # latent dimensions per cluster
N_GENES_PER_DIMENSION = 3       # high-weight genes per dimension
N_DE_GENES = 10                 # differentially expressed genes per cluster beside them

# perturbation (Fig. 2-3)
PERTURBATION_LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
PERTURBATION_N_DIMS = 5         # top dimensions of the target shifted
#: a target that more than this share of source cells reach at lambda = 0 (decoding alone, no
#: shift) is flagged: the decoder or the classifier converts them, not the perturbation
PERTURBATION_DECODING_FLAG = 0.2
FLIP_LAMBDA = 1.0               # lambda whose converted cells get the genes-to-flip analysis

# comparison of representations (Table 2)
BENCHMARK_LATENT_DIMS = (20, 50, 100)
BENCHMARK_REPETITIONS = 50

# Graph-DiffVAE (Fig. 4)
GRAPH_HIDDEN_DIM = 512
GRAPH_LATENT_DIM = 50
GRAPH_EPOCHS = 200
GRAPH_LEARNING_RATE = 1e-4
GRAPH_K = 1                     # each cell to its most correlated cell
GRAPH_DENSE_LOSS_MAX_CELLS = 5000   # above: loss "auto" scores edges + sampled non-edges
#: batch_size "auto": full batch (the paper's) up to this many cells, subgraphs of
#: GRAPH_BATCH_SIZE cells above (docs/scale.md)
GRAPH_FULL_BATCH_MAX_CELLS = 100_000
GRAPH_BATCH_SIZE = 4096         # cells per subgraph minibatch
GRAPH_PARTS_PER_BATCH = 8       # Cluster-GCN: a minibatch joins this many random graph parts

# the multitask model (DiffVAE and Graph-DiffVAE in one; the paper's future work)
MULTITASK_EPOCHS = 300
MULTITASK_LEARNING_RATE = 1e-3
MULTITASK_GRAPH_WEIGHT = 1.0    # adjacency term against expression term, both per cell
MULTITASK_MMD_SAMPLES = 1024    # cells per MMD estimate: kernel matrices stay this size squared

# clustering: the analysis's choices, in the order the command lines list them
CLUSTERERS = ("kmeans", "dbscan", "leiden")
PAPER_CLUSTERERS = ("kmeans", "dbscan")  # the paper's two (Table 2's columns)
SPACES = ("latent", "tsne")     # mu itself or its 2-D t-SNE (the paper clusters the t-SNE)
LEIDEN_RESOLUTION = 1.0         # scanpy's default
N_NEIGHBORS = 15                # the kNN graph Leiden cuts (scanpy's default)

# identification at scale: above these numbers of cells a step changes method (docs/scale.md)
TSNE_MAX_CELLS = 100_000        # t-SNE of a seeded random sample of this many cells (figure only)
EXACT_CLUSTERING_MAX_CELLS = 100_000  # above: k-means by minibatches; DBSCAN refused
DE_MAX_CELLS = 20_000           # differential expression (every gene) of a seeded sample
BASELINE_MAX_CELLS = 50_000     # the PCA baseline is fitted on a seeded sample of this many
