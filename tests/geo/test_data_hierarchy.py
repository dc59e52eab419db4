"""WordNet parsing and closure, the shipped mammal closure, and user edge files."""

from __future__ import annotations

import numpy as np
import pytest

from geo.data.hierarchy import read_edge_file
from geo.data.wordnet import load_mammals, load_wordnet_nouns, parse_wordnet_nouns


def test_wordnet_noun_closure_counts(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("GEO_CACHE", str(tmp_path))
    nouns = load_wordnet_nouns(shared_data / "wordnet")
    assert (nouns.num_nodes, nouns.num_edges) == (82_115, 743_241)
    mammals = nouns.subtree("mammal.n.01")
    assert (mammals.num_nodes, mammals.num_edges) == (1_182, 6_542)
    # The second load comes from the cache and is identical.
    again = load_wordnet_nouns(shared_data / "wordnet")
    assert again.names == nouns.names and np.array_equal(again.edges, nouns.edges)
    assert len(list(tmp_path.glob("wordnet_nouns_*.npz"))) == 1


def test_shipped_mammal_closure_is_what_the_code_builds(shared_data, tmp_path):
    shipped = load_mammals()
    built = parse_wordnet_nouns(shared_data / "wordnet").subtree("mammal.n.01")
    assert shipped.names == built.names
    assert np.array_equal(shipped.edges, built.edges)
    lookup = shipped.index()
    pairs = {(shipped.names[c], shipped.names[a]) for c, a in shipped.edges}
    assert ("dog.n.01", "mammal.n.01") in pairs and ("dog.n.01", "canine.n.02") in pairs
    assert shipped.depth()[lookup["mammal.n.01"]] == 0


def test_missing_wordnet_dir_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install wordnet-base.*wordnet_dir"):
        load_wordnet_nouns(tmp_path / "nowhere")


def _write(tmp_path, text, name="edges.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_user_edge_file_closure(tmp_path):
    h = read_edge_file(_write(tmp_path, "# child\tparent\nb\ta\nc\tb\n\nd\tb\n"))
    pairs = {(h.names[c], h.names[a]) for c, a in h.edges}
    assert pairs == {("b", "a"), ("c", "b"), ("c", "a"), ("d", "b"), ("d", "a")}
    csv_h = read_edge_file(_write(tmp_path, "b,a\nc,b\n", "edges.csv"))
    assert csv_h.num_edges == 3


@pytest.mark.parametrize(
    "text,match",
    [
        ("b\ta\nc\tb\tx\n", r"edges.tsv:2: expected two columns"),
        ("b\ta\nc\t\n", r"edges.tsv:2: expected two columns"),
        ("b\ta\na\tc\nc\tb\n", r"cycle: .*a -> .*"),
        ("a\ta\n", r"edges.tsv:1: self-loop"),
        ("", r"no edges found"),
        ("# only a comment\n", r"no edges found"),
    ],
)
def test_bad_edge_files(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_edge_file(_write(tmp_path, text))


def test_missing_edge_file_and_unknown_node(tmp_path):
    with pytest.raises(FileNotFoundError, match="edge file not found"):
        read_edge_file(tmp_path / "none.tsv")
    h = read_edge_file(_write(tmp_path, "b\ta\n"))
    with pytest.raises(KeyError, match="1 unknown node.*'zebra'"):
        h.ids(["a", "zebra"])
