"""Experiments: each module exposes get_config() and train_and_evaluate(config, workdir)."""

EXPERIMENTS = {
    "poincare_wordnet": "Hyperbolic embeddings of WordNet nouns (Nickel & Kiela 2017, 2018)",
}
