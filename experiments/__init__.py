"""Experiments: each module exposes get_config() and train_and_evaluate(config, workdir)."""

EXPERIMENTS = {
    "poincare_wordnet": "Hyperbolic embeddings of WordNet nouns (Nickel & Kiela 2017, 2018)",
    "spdnet": "SPDNet with affine / Bures-Wasserstein batch norm on time-series covariances",
    "grassmann": "GrNet on principal subspaces; Grassmann class representation (GCR) on digits",
    "hgcn": "HGCN and baselines: link prediction and node classification (Chami et al. 2019)",
}
