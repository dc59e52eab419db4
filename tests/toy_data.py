"""Small data the tests build in a temporary folder."""

from __future__ import annotations

from pathlib import Path


def toy_hierarchy(path: Path, branching=(3, 3, 3), edges: int = 29) -> Path:
    """A tree (1 + 3 + 9 + 27 = 40 nodes by default), of which the first `edges` edges are
    written (30 nodes by default)."""
    lines, level, next_id = [], ["n0"], 1
    for width in branching:
        new_level = []
        for parent in level:
            for _ in range(width):
                child = f"n{next_id}"
                next_id += 1
                lines.append(f"{child}\t{parent}")
                new_level.append(child)
        level = new_level
    path.write_text("\n".join(lines[:edges]) + "\n")
    return path
