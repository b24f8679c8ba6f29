"""programs/vae_geodesics_blobs.py: the ground truth it measures against (blob positions
avoiding a hole, the hole-avoiding distance), and the claim it measures (geodesic
distance between encodings ranks pairs like the true distance between positions)."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

import gendsl as gd
from gendsl.run import build_experiment, load_program_file, program_config

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
blobs = load_program_file(PROGRAMS / "vae_geodesics_blobs.py")


def _grid_distances(points, radius, h=0.04, half=2.4):
    """Shortest paths avoiding the disc of ``radius`` around 0, by Dijkstra on a fine grid
    joined to its 16 nearest directions (at most 2.7 % longer than the true path)."""
    ax = np.round(np.arange(-half, half + h / 2, h), 10)
    n = len(ax)
    nodes = np.stack(np.meshgrid(ax, ax, indexing="ij"), -1).reshape(-1, 2)
    index = np.arange(n * n).reshape(n, n)
    rows, cols = [], []
    for dx, dy in [(1, 0), (0, 1), (1, 1), (1, -1), (1, 2), (2, 1), (1, -2), (2, -1)]:
        src = index[max(0, -dx):n - max(0, dx), max(0, -dy):n - max(0, dy)].ravel()
        dst = index[max(0, dx):n - max(0, -dx), max(0, dy):n - max(0, -dy)].ravel()
        a, b = nodes[src], nodes[dst]
        t = np.clip(-np.sum(a * (b - a), 1) / np.sum((b - a) ** 2, 1), 0, 1)
        keep = np.linalg.norm(a + t[:, None] * (b - a), axis=1) >= radius
        rows.append(src[keep])
        cols.append(dst[keep])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    w = np.linalg.norm(nodes[rows] - nodes[cols], axis=1)
    graph = coo_matrix((w, (rows, cols)), shape=(n * n, n * n)).tocsr()
    at = [int(np.argmin(np.linalg.norm(nodes - p, axis=1))) for p in points]
    return dijkstra(graph, directed=False, indices=at)[:, at]


def test_the_hole_avoiding_distance_is_the_shortest_path_around_the_disc():
    radius = 1.0
    points = np.array([[-2.0, 0.0], [2.0, 0.0], [1.6, 1.2], [-0.4, -2.0], [0.0, 1.2],
                       [2.0, -2.0], [-1.2, 1.6]])
    i, j = np.triu_indices(len(points), k=1)
    exact = blobs.hole_distance(points[i], points[j], radius, np.zeros(2))
    grid = _grid_distances(points, radius)[i, j]
    assert np.all(exact <= grid + 1e-9) and np.all(grid <= exact * 1.03), (exact, grid)
    crossing = blobs.crosses_hole(points[i], points[j], radius, np.zeros(2))
    straight = np.linalg.norm(points[i] - points[j], axis=1)
    np.testing.assert_allclose(exact[~crossing], straight[~crossing])
    assert crossing.sum() >= 5 and np.all(exact[crossing] > straight[crossing] + 1e-3)


def test_positions_fill_the_square_but_never_the_hole():
    p = blobs.blob_positions(4000, 2.5, seed=0)
    r = np.linalg.norm(p - blobs.CENTRE, axis=1)
    assert p.shape == (4000, 2) and r.min() > 2.5 and r.min() < 2.6
    assert p.min() >= blobs.LOW and p.max() <= blobs.HIGH
    np.testing.assert_allclose(p.mean(0), blobs.CENTRE, atol=0.2)
    image = blobs.render(p[:1], 1.5)[0, :, :, 0]
    row, col = np.unravel_index(np.argmax(image), image.shape)
    assert (col, row) == tuple(np.round(p[0]).astype(int)) and image.max() <= 1.0


def _run(tmp_path, *overrides):
    cfg = program_config(blobs, list(overrides))
    result = gd.run_experiment(build_experiment(blobs, cfg), cfg, tmp_path, progress=False)
    return result, json.loads((tmp_path / "summary.json").read_text())


SMALL = ["steps=1500", "num_test=20", "graph_size=32", "geodesic_steps=200",
         "checkpoint_every=1500"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0])  # CI runs one of the 5 measured seeds (its time budget)
def test_geodesic_distance_ranks_pairs_like_the_true_distance(tmp_path, seed):
    """The issue's claim, on a reduced config (1500 training steps, 20 test renders =
    190 pairs): the geodesic distance between encodings correlates (Spearman) better than
    the Euclidean latent distance with both the true and the hole-avoiding distance
    between positions. Measured on seeds 0-4 with this config: 5 of 5 pass; the margins
    are 0.030-0.098 (true) and 0.035-0.106 (hole-avoiding), the geodesic's correlation with
    the true distance 0.79-0.99.
    """
    result, summary = _run(tmp_path, f"seed={seed}", *SMALL)
    m = {k[len("report/"):]: v for k, v in summary["metrics"].items()
         if k.startswith("report/")}
    print(seed, {k: round(v, 3) for k, v in m.items() if k.startswith("spearman")})
    assert summary["status"] == "completed" and m["pairs"] == 190
    assert m["spearman_geodesic_true"] > m["spearman_euclid_true"] + 0.02, m
    assert m["spearman_geodesic_intrinsic"] > m["spearman_euclid_intrinsic"] + 0.02, m
    assert m["spearman_geodesic_true"] > 0.75, m
    for name in ("magnification.png", "strips.png", "distances.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 5000
