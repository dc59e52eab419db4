"""Edge classification by thresholding an energy (Vendrov et al. 2016; Ganea et al. 2018,
Sec. 6): a pair is predicted an edge when its energy is at most the threshold, chosen on
validation pairs to maximize F1, then applied to the test pairs."""

from __future__ import annotations

import numpy as np


def f1_score(positives: np.ndarray, negatives: np.ndarray, threshold: float) -> float:
    """F1 (in [0, 1]) of predicting "edge" for energies <= threshold; ties count as edges."""
    tp = int(np.sum(positives <= threshold))
    fp = int(np.sum(negatives <= threshold))
    return 2 * tp / max(tp + fp + len(positives), 1)


def best_threshold(positives: np.ndarray, negatives: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximizing F1 over all thresholds, exactly: every distinct energy is
    a candidate and all pairs with that energy fall on the same side (ties, e.g. the many
    zero energies inside cones, are never split). The smallest best threshold wins.

    Args:
        positives: (P,) energies of true edges; negatives: (Q,) of non-edges. Finite.
    """
    positives = np.asarray(positives, np.float64)
    negatives = np.asarray(negatives, np.float64)
    if not (np.isfinite(positives).all() and np.isfinite(negatives).all()):
        raise ValueError("energies must be finite to choose a threshold")
    scores = np.concatenate([positives, negatives])
    labels = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    values, inverse = np.unique(scores, return_inverse=True)
    tp = np.cumsum(np.bincount(inverse, weights=labels, minlength=len(values)))
    predicted = np.cumsum(np.bincount(inverse, minlength=len(values)))
    f1 = 2 * tp / (predicted + len(positives))  # 2 tp / (tp + fp + tp + fn)
    best = int(np.argmax(f1))
    return float(values[best]), float(f1[best])
