"""CO-SNE and `geo plot`: t-SNE affinities, trustworthiness against scikit-learn, a small
hyperbolic configuration drawn faithfully, and the command on a trained run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.manifold import trustworthiness as sklearn_trustworthiness

from geo.cli import main
from geo.cosne import cosne, gaussian_affinities, trustworthiness
from geo.data.hierarchy import Hierarchy
from geo.hierarchy_plot import _pca_init, ball_distances
from tests.toy_data import toy_hierarchy


def test_affinities_have_the_perplexity_asked_for():
    rng = np.random.default_rng(0)
    d = cdist(*(2 * [rng.normal(size=(80, 4))]))
    p = gaussian_affinities(d, 10.0)
    assert np.allclose(p, p.T) and p.sum() == pytest.approx(1.0)
    assert np.all(np.diag(p) == 0)
    with pytest.raises(ValueError, match="perplexity"):
        gaussian_affinities(d, 100.0)


def test_trustworthiness_equals_scikit_learn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 8))
    y = x[:, :2] + 0.5 * rng.normal(size=(150, 2))
    ours = trustworthiness(cdist(x, x), cdist(y, y), 10)
    assert ours == pytest.approx(sklearn_trustworthiness(x, y, n_neighbors=10))
    assert trustworthiness(cdist(x, x), cdist(x, x), 10) == pytest.approx(1.0)


def test_cosne_keeps_clusters_and_depth():
    """Three clusters of 20 points in the 5-dimensional ball at increasing radii."""
    rng = np.random.default_rng(2)
    centres = np.eye(5)[:3] * np.array([[0.3], [0.7], [0.95]])
    x = np.concatenate([c + 0.02 * rng.normal(size=(20, 5)) for c in centres])
    high = ball_distances(x)
    radii = ball_distances(np.vstack([np.zeros((1, 5)), x]))[0, 1:]
    disk = cosne(high, radii, _pca_init(x, radii), perplexity=8.0, steps=400)
    assert np.all(np.linalg.norm(disk, axis=1) < 1)
    assert trustworthiness(high, ball_distances(disk), 5) > 0.9
    shown = ball_distances(np.vstack([np.zeros((1, 2)), disk]))[0, 1:]
    assert shown[:20].mean() < shown[20:40].mean() < shown[40:].mean()


def test_transitive_reduction_drops_implied_pairs():
    h = Hierarchy(("a", "b", "c", "d"), np.array([[1, 0], [2, 1], [2, 0], [3, 1], [3, 0]]))
    assert sorted(map(tuple, h.transitive_reduction())) == [(1, 0), (2, 1), (3, 1)]


def test_geo_plot_draws_a_trained_run(tmp_path, capsys):
    edges = toy_hierarchy(tmp_path / "toy.tsv")
    run = tmp_path / "run"
    args = ["run", "poincare_wordnet", "--workdir", str(run), f"dataset={edges}", "dim=5"]
    assert main([*args, "epochs=20", "burnin_epochs=2", "progress=false"]) == 0
    capsys.readouterr()
    assert main(["plot", str(run), "--out", str(tmp_path / "view.png")]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (tmp_path / "view.png").stat().st_size > 10_000
    assert figures["points"] == 30 and 0 < figures["trustworthiness_cosne"] <= 1
    assert main(["plot", str(tmp_path)]) == 2
    assert "config.json not found" in capsys.readouterr().err
