"""The WordNet splits of "Hyperbolic Entailment Cones" (Ganea, Becigneul & Hofmann, ICML 2018).

The release's files (dalab/hyperbolic_cones, `data/maxn/`; a copy in
`../shared/data/entailment_cones`, docs/data.md) hold tab-separated integer (parent, child)
pairs and a `.vocab` of id -> synset name. The root is removed; `train_Xpercent` is the
transitive reduction plus X% of the other closure edges, disjoint from the 5% validation and
5% test edges, each with 10 negative pairs. The nouns' 50% and 90% files are not in the
release: they are drawn here by the same rule from the noun closure (which needs the WordNet
files) and the result says so.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from geo.data.wordnet import load_wordnet_nouns

PREFIXES = {"mammals": "mammal_closure.tsv", "nouns": "noun_closure.tsv"}
PERCENTS = (0, 10, 25, 50, 90)
DRAWN = {"nouns": (50, 90)}  # missing from the release: drawn from the closure


def default_splits_dir() -> Path:
    """GEO_ENTAILMENT_DATA, else ../shared/data/entailment_cones."""
    return Path(os.environ.get("GEO_ENTAILMENT_DATA", "../shared/data/entailment_cones"))


@dataclasses.dataclass(frozen=True)
class EntailmentSplits:
    """One training percentage of a data set.

    Attributes:
        names: synset names; a node's id is its position.
        train: (E, 2) int32 (child, ancestor) training pairs.
        valid, test: (P, 2) int32 (parent, child) positive pairs.
        valid_negatives, test_negatives: (10 P, 2) int32 (parent, child) negative pairs.
        note: how the training file was obtained (read, or drawn and from what).
    """

    names: tuple[str, ...]
    train: np.ndarray
    valid: np.ndarray
    valid_negatives: np.ndarray
    test: np.ndarray
    test_negatives: np.ndarray
    note: str

    @property
    def num_nodes(self) -> int:
        return len(self.names)


def read_vocab(path: Path) -> tuple[str, ...]:
    """Names by id from an `id<TAB>name` file whose ids are 0 .. N - 1."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (see docs/data.md for the split files)")
    ids, names = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        cells = line.split("\t")
        if len(cells) != 2 or not cells[0].strip().isdigit():
            raise ValueError(f"{path}:{number}: expected 'id<TAB>name', got {line!r}")
        ids.append(int(cells[0]))
        names.append(cells[1].strip())
    if sorted(ids) != list(range(len(ids))):
        raise ValueError(f"{path}: ids must be 0 .. {len(ids) - 1}, each once")
    out = [""] * len(ids)
    for i, name in zip(ids, names, strict=True):
        out[i] = name
    return tuple(out)


def read_pairs(path: Path, num_nodes: int) -> np.ndarray:
    """(P, 2) int32 pairs of a file of tab-separated ids, each checked against the vocabulary."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (see docs/data.md for the split files)")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        cells = line.split()
        if not cells:
            continue
        if len(cells) != 2 or not all(c.isdigit() for c in cells):
            raise ValueError(f"{path}:{number}: expected two integer ids, got {line!r}")
        pair = (int(cells[0]), int(cells[1]))
        if max(pair) >= num_nodes:
            raise ValueError(
                f"{path}:{number}: id {max(pair)} is not in the vocabulary (ids 0 .. "
                f"{num_nodes - 1}); the pair file and the .vocab file do not belong together"
            )
        rows.append(pair)
    if not rows:
        raise ValueError(f"{path}: no pairs")
    return np.asarray(rows, np.int32)


def _codes(pairs: np.ndarray, n: int) -> np.ndarray:
    return pairs[:, 0].astype(np.int64) * n + pairs[:, 1]


def draw_train_pairs(
    closure: np.ndarray, basic: np.ndarray, held: np.ndarray, percent: int, n: int, seed: int
) -> np.ndarray:
    """The release's rule for `train_Xpercent`: the basic pairs plus round(X% of the
    non-basic closure pairs), drawn from those not held out. All pairs (parent, child)."""
    non_basic = closure[~np.isin(_codes(closure, n), _codes(basic, n))]
    free = non_basic[~np.isin(_codes(non_basic, n), _codes(held, n))]
    count = min(int(round(percent / 100 * len(non_basic))), len(free))
    chosen = np.random.default_rng(seed).permutation(len(free))[:count]
    return np.concatenate([basic, free[np.sort(chosen)]])


def noun_closure_pairs(names: tuple[str, ...], wordnet_dir) -> np.ndarray:
    """(parent, child) ids of the WordNet noun closure among the vocabulary's nodes."""
    nouns = load_wordnet_nouns(wordnet_dir)
    lookup = {name: i for i, name in enumerate(names)}
    ids = np.asarray([lookup.get(name, -1) for name in nouns.names], np.int64)
    edges = ids[nouns.edges]  # (child, ancestor) in the vocabulary's ids, -1 outside it
    edges = edges[(edges >= 0).all(1)]
    return edges[:, ::-1].astype(np.int32)


def load_entailment_splits(
    dataset: str,
    train_percent: int,
    splits_dir: str | os.PathLike | None = None,
    wordnet_dir: str | os.PathLike | None = None,
    draw_seed: int = 0,
) -> EntailmentSplits:
    """The split files of `dataset` ("mammals" or "nouns") for `train_percent`.

    Raises:
        ValueError: an unknown data set or percentage, a malformed file, or an id outside the
            vocabulary.
        FileNotFoundError: a missing file, naming it.
    """
    if dataset not in PREFIXES:
        raise ValueError(f"dataset={dataset!r}; valid choices are {', '.join(PREFIXES)}")
    if train_percent not in PERCENTS:
        raise ValueError(f"train_percent={train_percent}; valid choices are {PERCENTS}")
    folder = Path(splits_dir) if splits_dir else default_splits_dir()
    prefix = folder / PREFIXES[dataset]
    names = read_vocab(Path(f"{prefix}.vocab"))
    n = len(names)
    part = {key: read_pairs(Path(f"{prefix}.{key}"), n)
            for key in ("valid", "valid_neg", "test", "test_neg")}  # fmt: skip
    train_file = Path(f"{prefix}.train_{train_percent}percent")
    if train_percent in DRAWN.get(dataset, ()) and not train_file.is_file():
        basic = read_pairs(Path(f"{prefix}.train_0percent"), n)
        closure = noun_closure_pairs(names, wordnet_dir)
        held = np.concatenate([part["valid"], part["test"]])
        train = draw_train_pairs(closure, basic, held, train_percent, n, draw_seed)
        note = (
            f"{train_file.name} is not in the release: drawn (seed {draw_seed}) as the basic "
            f"pairs + {train_percent}% of the non-basic closure pairs, none held out"
        )
    else:
        train, note = read_pairs(train_file, n), f"read from {train_file}"
    return EntailmentSplits(
        names=names,
        train=np.ascontiguousarray(train[:, ::-1]),
        valid=part["valid"],
        valid_negatives=part["valid_neg"],
        test=part["test"],
        test_negatives=part["test_neg"],
        note=note,
    )
