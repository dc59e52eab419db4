"""The framework: Riemannian optimizers, data, metrics, training helpers and the `geo` CLI."""
