"""The WordNet 3.0 noun hierarchy, parsed from Princeton's database files.

`data.noun` holds one synset per line (offset, lexicographer file, type, words, pointers,
gloss); `index.noun` lists each lemma's synsets in sense order, which gives the names NLTK
uses (`mammal.n.01`: the synset's first word, and its sense number for that word). The
hierarchy is the transitive closure of hypernym (`@`) and instance-hypernym (`@i`) links:
82,115 nouns and 743,241 (child, ancestor) pairs for WordNet 3.0.

Install the files with Debian's `wordnet-base` package (`apt-get install wordnet-base`, into
/usr/share/wordnet) or point `wordnet_dir` at a folder holding `data.noun` and `index.noun`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from geo.data.hierarchy import Hierarchy, closure_from_parents

DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
_HYPERNYM_POINTERS = ("@", "@i")


def _files(wordnet_dir: str | os.PathLike | None) -> tuple[Path, Path]:
    folder = Path(wordnet_dir) if wordnet_dir else DEFAULT_WORDNET_DIR
    data, index = folder / "data.noun", folder / "index.noun"
    missing = [p.name for p in (data, index) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"WordNet noun files not found: {', '.join(missing)} missing in {folder}. Install "
            "them with `apt-get install wordnet-base` (Debian/Ubuntu: /usr/share/wordnet) or "
            "set wordnet_dir=PATH to a folder holding data.noun and index.noun from WordNet 3.0."
        )
    return data, index


def _read_index(index_path: Path) -> dict[str, list[str]]:
    """lemma -> synset offsets in sense order."""
    senses: dict[str, list[str]] = {}
    with open(index_path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):
                continue  # license header
            fields = line.split()
            synset_cnt, p_cnt = int(fields[2]), int(fields[3])
            senses[fields[0]] = fields[-synset_cnt:]
            if len(fields) != 6 + p_cnt + synset_cnt:
                raise ValueError(f"{index_path}: malformed line for lemma {fields[0]!r}")
    return senses


def _read_synsets(data_path: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """offset -> first word, and offset -> hypernym offsets."""
    first_word: dict[str, str] = {}
    parents: dict[str, list[str]] = {}
    with open(data_path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.startswith("  "):
                continue
            fields = line.split(" | ", 1)[0].split()
            try:
                offset, w_cnt = fields[0], int(fields[3], 16)
                words = fields[4 : 4 + 2 * w_cnt : 2]
                p_at = 4 + 2 * w_cnt
                pointers = fields[p_at + 1 : p_at + 1 + 4 * int(fields[p_at])]
            except (IndexError, ValueError) as err:
                raise ValueError(f"{data_path}:{number}: malformed synset line ({err})") from None
            first_word[offset] = words[0].lower()
            parents[offset] = [
                pointers[i + 1]
                for i in range(0, len(pointers), 4)
                if pointers[i] in _HYPERNYM_POINTERS and pointers[i + 2] == "n"
            ]
    return first_word, parents


def parse_wordnet_nouns(wordnet_dir: str | os.PathLike | None = None) -> Hierarchy:
    """The noun hierarchy's transitive closure, nodes named like `mammal.n.01`."""
    data_path, index_path = _files(wordnet_dir)
    senses = _read_index(index_path)
    first_word, parents = _read_synsets(data_path)
    names = {}
    for offset, word in first_word.items():
        names[offset] = f"{word}.n.{senses[word].index(offset) + 1:02d}"
    named_parents = {names[o]: [names[p] for p in ps] for o, ps in parents.items()}
    return closure_from_parents(named_parents, source=str(data_path))


def _cache_dir() -> Path:
    return Path(os.environ.get("GEO_CACHE", Path.home() / ".cache" / "geo"))


def load_wordnet_nouns(wordnet_dir: str | os.PathLike | None = None) -> Hierarchy:
    """The noun closure, built once from the database files and cached (as .npz) after that."""
    data_path, _ = _files(wordnet_dir)
    stat = data_path.stat()
    key = hashlib.sha1(
        f"{data_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
    ).hexdigest()
    cache = _cache_dir() / f"wordnet_nouns_{key[:12]}.npz"
    if cache.is_file():
        return Hierarchy.load(cache)
    hierarchy = parse_wordnet_nouns(wordnet_dir)
    cache.parent.mkdir(parents=True, exist_ok=True)
    hierarchy.save(cache)
    return hierarchy


MAMMAL_CLOSURE = Path(__file__).with_name("mammal_closure.tsv")


def load_mammals() -> Hierarchy:
    """The mammal subtree's closure (1,182 nodes, 6,542 edges), shipped with the package."""
    from geo.data.hierarchy import read_edge_file

    return read_edge_file(MAMMAL_CLOSURE, closed=True)


def build_mammal_closure(wordnet_dir: str | os.PathLike | None = None, out: Path = MAMMAL_CLOSURE):
    """Write the shipped mammal closure from the database files (how the package file was made)."""
    mammals = load_wordnet_nouns(wordnet_dir).subtree("mammal.n.01")
    mammals.write_tsv(out)
    return mammals


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Rebuild the shipped mammal closure.")
    parser.add_argument("--wordnet-dir", default=None)
    args = parser.parse_args()
    built = build_mammal_closure(args.wordnet_dir)
    print(f"wrote {MAMMAL_CLOSURE}: {built.num_nodes} nodes, {built.num_edges} edges")
