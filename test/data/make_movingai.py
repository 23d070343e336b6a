"""Write test/data/rooms32.map and rooms32.map.scen: a small MovingAI example with known optima.

The map is drawn by hand below (rooms, doors, a diagonal squeeze the no-corner-cutting rule
forbids, trees and water, a closed room) and the scenario lengths are computed here by an
oracle independent of the planner: scipy.sparse.csgraph Dijkstra on the explicit 8-connected
graph, sqrt(2) diagonals, a diagonal step only when both side cells are passable (MovingAI's
rule). Start/goal pairs are drawn with a fixed seed among mutually reachable cells; buckets are
floor(length / 4) as in MovingAI's own scenario files.

Run from the repository root: `.venv/bin/python test/data/make_movingai.py`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

HERE = Path(__file__).resolve().parent
NAME = "rooms32.map"
SEED = 32
SCENARIOS = 24

# 32 x 32; '.' passable, '@' wall, 'T' tree, 'W' water. Line 0 is MovingAI's y = 0.
ROWS = [
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
    "@..............@...............@",
    "@..............@...............@",
    "@....TT........@.......WWW.....@",
    "@....TT........@.......WWW.....@",
    "@..............................@",
    "@..............@...............@",
    "@@@@@@@.@@@@@@@@...........@...@",
    "@..............@..........@....@",
    "@..............@.........@.....@",
    "@.....@........@........@......@",
    "@......@.......@.......@.......@",
    "@.......@......@......@........@",
    "@........@.....@...............@",
    "@..............@@@@@@@@@@.@@@@@@",
    "@..........@...@...............@",
    "@.........@....@...............@",
    "@..............@....@@@@@@.....@",
    "@@@@@.@@@@@@@@@@....@....@.....@",
    "@...............T...@....@.....@",
    "@...............T...@@@@@@.....@",
    "@....@@@@@@.........T..........@",
    "@....@.................TTT.....@",
    "@....@....@@@@@@@@.............@",
    "@....@....@......@.............@",
    "@.........@......@....@@.......@",
    "@.........@......@......@@.....@",
    "@.........@@@@.@@@.............@",
    "@...............WWWW...........@",
    "@.......T.......WWWW...........@",
    "@..............................@",
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
]


def graph(passable: np.ndarray) -> coo_matrix:
    """The 8-connected graph of passable cells, sqrt 2 diagonals, no corner cutting."""
    h, w = passable.shape
    index = np.arange(h * w).reshape(h, w)
    src, dst, weight = [], [], []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            r0, r1, c0, c1 = max(0, -dr), h - max(0, dr), max(0, -dc), w - max(0, dc)
            ok = passable[r0:r1, c0:c1] & passable[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
            if dr and dc:
                ok &= passable[r0 + dr : r1 + dr, c0:c1] & passable[r0:r1, c0 + dc : c1 + dc]
            src.append(index[r0:r1, c0:c1][ok])
            dst.append(index[r0 + dr : r1 + dr, c0 + dc : c1 + dc][ok])
            weight.append(np.full(int(ok.sum()), math.hypot(dr, dc)))
    return coo_matrix((np.concatenate(weight), (np.concatenate(src), np.concatenate(dst))), shape=(h * w, h * w))


def main() -> None:
    assert len(ROWS) == 32 and all(len(row) == 32 for row in ROWS)
    passable = np.array([[ch in ".GS" for ch in row] for row in ROWS])
    (HERE / NAME).write_text("type octile\nheight 32\nwidth 32\nmap\n" + "\n".join(ROWS) + "\n", encoding="ascii")
    csr = graph(passable).tocsr()
    rng = np.random.default_rng(SEED)
    cells = np.argwhere(passable)
    lines = ["version 1"]
    while len(lines) <= SCENARIOS:
        (sy, sx), (gy, gx) = cells[rng.integers(len(cells), size=2)]
        length = float(dijkstra(csr, indices=int(sy * 32 + sx))[gy * 32 + gx])
        if not math.isfinite(length) or length == 0.0:
            continue  # MovingAI scenarios only hold reachable, distinct pairs
        lines.append(f"{int(length // 4)}\t{NAME}\t32\t32\t{sx}\t{sy}\t{gx}\t{gy}\t{length:.8f}")
    (HERE / f"{NAME}.scen").write_text("\n".join(lines) + "\n", encoding="ascii")


if __name__ == "__main__":
    main()
