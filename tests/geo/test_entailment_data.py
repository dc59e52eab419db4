"""The entailment-cones split files and the thresholded F1 they are scored with."""

from __future__ import annotations

import numpy as np
import pytest

from geo.data.entailment_splits import _codes, draw_train_pairs, load_entailment_splits
from geo.edge_classification import best_threshold, f1_score


def _brute_force(pos, neg):
    best = (None, -1.0)
    for t in np.unique(np.concatenate([pos, neg])):
        tp, fp = np.sum(pos <= t), np.sum(neg <= t)
        f1 = 2 * tp / (2 * tp + fp + (len(pos) - tp))
        if f1 > best[1]:
            best = (t, f1)
    return best


def test_best_threshold_is_the_brute_force_optimum_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        pos = rng.integers(0, 6, rng.integers(1, 30)).astype(float)  # many ties
        neg = rng.integers(2, 9, rng.integers(1, 60)).astype(float)
        threshold, f1 = best_threshold(pos, neg)
        expected_t, expected_f1 = _brute_force(pos, neg)
        assert threshold == expected_t and f1 == pytest.approx(expected_f1)
        assert f1_score(pos, neg, threshold) == pytest.approx(f1)


def test_all_zero_energies_are_on_one_side_of_the_threshold():
    pos, neg = np.zeros(10), np.concatenate([np.zeros(10), np.ones(5)])
    threshold, f1 = best_threshold(pos, neg)
    assert threshold == 0.0 and f1 == pytest.approx(20 / 30)
    with pytest.raises(ValueError, match="finite"):
        best_threshold(np.array([np.nan]), neg)


def test_the_mammal_splits_load_with_the_release_counts(shared_data):
    folder = shared_data / "entailment_cones"
    counts = {0: 1176, 10: 1594, 25: 2222, 50: 3268, 90: 4942}
    for percent, count in counts.items():
        s = load_entailment_splits("mammals", percent, folder)
        assert s.num_nodes == 1179 and len(s.train) == count
        assert len(s.valid) == len(s.test) == 209
        assert len(s.valid_negatives) == len(s.test_negatives) == 2090
    n = s.num_nodes
    train = _codes(s.train[:, ::-1], n)  # back to (parent, child)
    assert not np.isin(_codes(s.test, n), train).any()
    assert s.names[0] == "grasshopper_mouse.n.01"


def test_drawn_training_pairs_follow_the_release_rule():
    n = 20
    rng = np.random.default_rng(1)
    closure = np.unique(rng.integers(0, n, (150, 2)), axis=0)
    closure = closure[closure[:, 0] != closure[:, 1]]
    basic, rest = closure[:30], closure[30:]
    held = rest[:10]
    train = draw_train_pairs(closure, basic, held, 50, n, seed=3)
    assert np.isin(_codes(basic, n), _codes(train, n)).all()
    assert len(train) == 30 + round(0.5 * len(rest))
    assert not np.isin(_codes(held, n), _codes(train, n)).any()
    assert len(np.unique(_codes(train, n))) == len(train)


def test_split_files_with_unknown_ids_or_bad_lines_are_clear_errors(tmp_path):
    prefix = tmp_path / "mammal_closure.tsv"
    (tmp_path / "mammal_closure.tsv.vocab").write_text("0\ta.n.01\n1\tb.n.01\n")
    for name in ("valid", "valid_neg", "test", "test_neg", "train_25percent"):
        (tmp_path / f"mammal_closure.tsv.{name}").write_text("0\t1\n")
    (tmp_path / "mammal_closure.tsv.test").write_text("0\t1\n1\t7\n")
    with pytest.raises(ValueError, match=r"\.test:2: id 7 is not in the vocabulary"):
        load_entailment_splits("mammals", 25, tmp_path)
    (tmp_path / "mammal_closure.tsv.test").write_text("0 one\n")
    with pytest.raises(ValueError, match="expected two integer ids"):
        load_entailment_splits("mammals", 25, tmp_path)
    with pytest.raises(FileNotFoundError, match="train_10percent"):
        (tmp_path / "mammal_closure.tsv.test").write_text("0\t1\n")
        load_entailment_splits("mammals", 10, tmp_path)
    with pytest.raises(ValueError, match="train_percent=30"):
        load_entailment_splits("mammals", 30, tmp_path)
    assert prefix.with_suffix(".tsv.vocab").exists()
