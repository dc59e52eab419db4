"""Experiments: each module satisfies `geo.experiment.Experiment` and is declared as a
`geo.experiments` entry point in pyproject.toml (`geo list` shows them)."""
