"""Latent geometry with a known ground truth: a 2-D-latent VAE on blob renders whose
positions avoid a hole (Chen et al., arXiv 1711.01204; issue 11, "Synthetic ground truth").

The simulator of ``programs/simvae_blobs.py`` renders a 16 x 16 Gaussian blob, here with
its width fixed, at a position (x, y) drawn uniformly from the square [2, 13]^2 minus a
disc (centre (7.5, 7.5), radius ``hole_radius``): the true parameters are 2-D and leave a
low-density gap. An ordinary VAE with a 2-D latent is trained on a fixed set of renders
(Gaussian likelihood with a small ``obs_std``: the pixels are noise-free intensities, not
coin flips, and the decoder's output is then the mean whose pull-back metric is the one
the renderer itself induces on positions).

After training, ``report`` encodes ``num_test`` held-out renders (their means), finds the
geodesic between every pair under the decoder's pull-back metric (energy minimisation of
discretised curves, all pairs in one compiled vmap per start; each pair starts both from the
straight line and from the shortest path on a metric-weighted latent grid, and the
shorter refined curve is kept), and measures the Spearman correlation of

- the geodesic distance and the Euclidean latent distance

with

- the Euclidean distance between the true positions, and
- the true intrinsic distance: the shortest path between the positions that avoids the
  hole (closed form: straight, or tangent + arc + tangent around the disc).

summary.json records them as ``report/spearman_*``; ``figures/`` holds the magnification
factor over the latent with the training encodings and geodesics vs straight lines
across the hole, decoded strips along both paths for one pair, and a scatter of the
distances against the intrinsic one.

    gendsl run programs/vae_geodesics_blobs.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.sparse.csgraph import dijkstra
from scipy.stats import spearmanr

import gendsl as gd

G = gd.geometry

DEFAULTS = {
    "steps": 3000,
    "batch_size": 128,
    "steps_per_call": 200,
    "log_every": 1000,
    "checkpoint_every": 1000,
    "hidden": (128, 128),
    "lr": 1e-3,
    "obs_std": 0.1,            # the Gaussian likelihood's standard deviation
    "sigma": 1.5,              # the blobs' width (pixels), fixed
    "hole_radius": 2.5,        # the disc of positions never rendered (pixels)
    "num_train": 2000,
    "num_test": 40,            # test renders: num_test * (num_test - 1) / 2 pairs
    "data_seed": 0,            # the renders (training and test); `seed` trains the VAE
    "nodes": 16,               # nodes of each discretised geodesic
    "geodesic_steps": 400,     # the most Adam updates per pair
    "geodesic_lr": 0.05,       # Adam's initial step size (cosine decay)
    "graph_size": 48,          # the latent grid of the graph initialisation, per axis
}

SIZE = 16
LOW, HIGH = 2.0, 13.0          # the positions' square (pixels)
CENTRE = np.array([7.5, 7.5])  # the hole's centre


def blob_positions(n: int, hole_radius: float, seed: int) -> np.ndarray:
    """``n`` positions uniform on the square ``[LOW, HIGH]^2`` minus the hole.

    Args:
      n: how many.
      hole_radius: the radius of the disc around ``CENTRE`` that no position enters.
      seed: the NumPy seed.
    Returns:
      ``(n, 2)`` float64 positions (x, y) in pixels.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros((0, 2))
    while len(out) < n:
        p = rng.uniform(LOW, HIGH, size=(2 * n, 2))
        out = np.concatenate([out, p[np.linalg.norm(p - CENTRE, axis=1) > hole_radius]])
    return out[:n]


def render(positions, sigma: float) -> np.ndarray:
    """The simulator: a 16 x 16 x 1 Gaussian blob of width ``sigma`` (peak 1) at each
    position.

    Args:
      positions: ``(n, 2)`` blob centres (x, y) in pixels.
      sigma: the width in pixels.
    Returns:
      ``(n, 16, 16, 1)`` float32 images.
    """
    p = np.asarray(positions, np.float64)
    u = np.arange(SIZE, dtype=np.float64)
    dx = (u[None, None, :] - p[:, 0, None, None]) ** 2
    dy = (u[None, :, None] - p[:, 1, None, None]) ** 2
    return np.exp(-(dx + dy) / (2 * sigma ** 2))[..., None].astype(np.float32)


def hole_distance(p, q, radius: float, centre=CENTRE) -> np.ndarray:
    """The length of the shortest path from ``p`` to ``q`` that avoids the open disc of
    ``radius`` around ``centre``: the straight segment if it misses the disc, otherwise
    the two tangent segments and the arc between them.

    Args:
      p: ``(..., 2)`` points outside the disc.
      q: ``(..., 2)`` points outside the disc.
      radius: the disc's radius.
      centre: the disc's centre.
    Returns:
      ``(...)`` distances.

    >>> d = hole_distance(np.array([-2.0, 0.0]), np.array([2.0, 0.0]), 1.0, np.zeros(2))
    >>> round(float(d), 4), round(float(2 * np.sqrt(3) + np.pi / 3), 4)  # tangents + arc
    (4.5113, 4.5113)
    """
    a, b = np.asarray(p, np.float64) - centre, np.asarray(q, np.float64) - centre
    ab = b - a
    t = np.clip(-np.sum(a * ab, -1) / np.maximum(np.sum(ab * ab, -1), 1e-300), 0.0, 1.0)
    closest = np.linalg.norm(a + t[..., None] * ab, axis=-1)
    ra, rb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    cos = np.clip(np.sum(a * b, -1) / (ra * rb), -1.0, 1.0)
    ta = np.sqrt(np.maximum(ra ** 2 - radius ** 2, 0.0))
    tb = np.sqrt(np.maximum(rb ** 2 - radius ** 2, 0.0))
    arc = np.arccos(cos) - np.arccos(np.minimum(radius / ra, 1.0)) \
        - np.arccos(np.minimum(radius / rb, 1.0))
    around = ta + tb + radius * np.maximum(arc, 0.0)
    return np.where(closest < radius, around, np.linalg.norm(ab, axis=-1))


def crosses_hole(p, q, radius: float, centre=CENTRE) -> np.ndarray:
    """Whether the straight segment from ``p`` to ``q`` enters the hole.

    Args:
      p: ``(..., 2)`` points.
      q: ``(..., 2)`` points.
      radius: the hole's radius.
      centre: its centre.
    Returns:
      ``(...)`` booleans.
    """
    return hole_distance(p, q, radius, centre) > np.linalg.norm(
        np.asarray(p, np.float64) - np.asarray(q, np.float64), axis=-1) + 1e-9


def _stack(curves):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *curves)


def refine(g, curves, *, steps: int = 400, lr: float = 0.05):
    """Energy minimisation of a stacked batch of curves, one compiled vmap: Adam with a
    cosine-decayed step size from ``lr``, stopping after ``steps`` updates or once every
    gradient entry is below 1e-4 (stochman's rule).

    Adam, not the default L-BFGS: vmapped over pairs, L-BFGS's line search runs until the
    slowest pair's ends, which made one L-BFGS step cost about 20 energy gradients here
    against 1.5 for Adam; 400 Adam steps reach the L-BFGS lengths (median ratio 1.000).

    Args:
      g: the decoder.
      curves: a batch of :class:`~gendsl.geometry.DiscreteCurve` (leading pair axis).
      steps: the most updates.
      lr: Adam's initial step size.
    Returns:
      A batch of :class:`~gendsl.geometry.Geodesic`.
    """
    opt = optax.adam(optax.cosine_decay_schedule(lr, steps))
    return jax.jit(jax.vmap(lambda c: G.minimize_energy(g, c, steps=steps, optimizer=opt)))(
        curves)


def graph_starts(g, graph, z, i, j, nodes: int):
    """The graph initialisation of every pair ``(z[i], z[j])`` at once: the shortest grid
    paths (one Dijkstra per distinct start node), resampled at constant output speed into
    discretised curves, as :func:`gendsl.geometry.graph_curve` does for one pair.

    Args:
      g: the decoder the graph was built with.
      graph: a :class:`~gendsl.geometry.LatentGraph` whose box holds ``z``.
      z: ``(n, d)`` latent points.
      i: the pairs' first indices.
      j: their second indices.
      nodes: nodes per curve.
    Returns:
      A batch of :class:`~gendsl.geometry.DiscreteCurve`.
    """
    z = np.asarray(z, np.float32)
    near = np.array([graph.nearest(p) for p in z])
    sources = np.unique(near[i])
    row = {int(s): k for k, s in enumerate(sources)}
    _, pred = dijkstra(graph.weights, directed=False, indices=sources,
                       return_predecessors=True)
    ends = np.asarray(jax.jit(jax.vmap(lambda p: jnp.ravel(g(p))))(z), np.float64)
    t = np.linspace(0.0, 1.0, nodes)[1:-1]
    curves = []
    for a, b in zip(i, j):
        path, back = [int(near[b])], pred[row[int(near[a])]]
        while path[-1] != near[a]:
            path.append(int(back[path[-1]]))
        inner = np.asarray(path[::-1][1:-1], int)
        points = np.concatenate([z[a][None], graph.nodes[inner], z[b][None]])
        images = np.concatenate([ends[a][None], graph.images[inner], ends[b][None]])
        seg = np.linalg.norm(np.diff(images, axis=0), axis=1) + 1e-12
        s = np.concatenate([[0.0], np.cumsum(seg)]) / np.sum(seg)
        interior = np.stack([np.interp(t, s, points[:, k]) for k in range(z.shape[1])], 1)
        curves.append(G.discrete_curve(jnp.asarray(z[a]), jnp.asarray(z[b]), nodes,
                                       jnp.asarray(interior, jnp.float32)))
    return _stack(curves)


def pairwise_geodesics(g, z, *, nodes: int = 16, steps: int = 400, lr: float = 0.05,
                       graph_size: int = 48, margin: float = 0.5) -> dict:
    """Geodesics between every pair of latent points, from two initial curves each.

    Every pair ``i < j`` is refined twice by energy minimisation (:func:`refine`, one
    compiled vmap per initialisation): from the straight line, and from the shortest path
    on a ``graph_size`` x ``graph_size`` metric-weighted grid over the points' box
    (widened by ``margin``), which crosses low-density gaps only where going around is
    longer. The geodesic is the shorter of the two refined curves (both are curves, so
    both lengths are upper bounds of the distance).

    Args:
      g: the decoder, a function of one latent point ``(2,)``.
      z: ``(n, 2)`` latent points.
      nodes: nodes per discretised curve.
      steps: the most Adam updates per pair.
      lr: Adam's initial step size.
      graph_size: grid points per latent axis of the graph.
      margin: how far the grid's box extends beyond the points.
    Returns:
      ``{"i", "j"}`` the pairs' indices, ``"straight"`` / ``"graph"`` the refined
      :class:`~gendsl.geometry.Geodesic` batches, ``"line_length"`` the straight lines'
      lengths, ``"length"`` the geodesic distances, ``"from_graph"`` whether the graph's
      curve won, ``"bounds"`` the grid's box.
    """
    z = np.asarray(z, np.float32)
    i, j = np.triu_indices(len(z), k=1)
    bounds = [(float(lo) - margin, float(hi) + margin) for lo, hi in zip(z.min(0), z.max(0))]
    lines = _stack([G.discrete_curve(jnp.asarray(z[a]), jnp.asarray(z[b]), nodes)
                    for a, b in zip(i, j)])
    straight = refine(g, lines, steps=steps, lr=lr)
    graph = G.latent_graph(g, bounds, size=graph_size)
    around = refine(g, graph_starts(g, graph, z, i, j, nodes), steps=steps, lr=lr)
    line_length = jax.jit(jax.vmap(lambda c: G.length(g, c)))(lines)
    from_graph = np.asarray(around.length) < np.asarray(straight.length)
    return {"i": i, "j": j, "straight": straight, "graph": around,
            "line_length": np.asarray(line_length), "from_graph": from_graph,
            "length": np.where(from_graph, np.asarray(around.length),
                               np.asarray(straight.length)),
            "bounds": bounds}


def geodesic_curve(found: dict, k: int):
    """The ``k``-th pair's geodesic (the shorter refined curve) out of
    :func:`pairwise_geodesics`' result.

    Args:
      found: :func:`pairwise_geodesics`' result.
      k: the pair's position in ``found["i"]``.
    Returns:
      A :class:`~gendsl.geometry.DiscreteCurve`.
    """
    batch = found["graph" if found["from_graph"][k] else "straight"].curve
    return jax.tree.map(lambda x: x[k], batch)


def distance_correlations(found: dict, z, positions, hole_radius: float) -> dict:
    """Spearman correlations of the geodesic and Euclidean latent distances with the true
    (Euclidean) and the true intrinsic (hole-avoiding) distances between positions, over
    all pairs and over the pairs whose straight segment crosses the hole.

    Args:
      found: :func:`pairwise_geodesics`' result for the encodings ``z``.
      z: ``(n, 2)`` latent points.
      positions: ``(n, 2)`` their true positions.
      hole_radius: the hole's radius.
    Returns:
      A dict of numbers (see the module docstring).
    """
    i, j = found["i"], found["j"]
    z, positions = np.asarray(z, np.float64), np.asarray(positions, np.float64)
    euclid = np.linalg.norm(z[i] - z[j], axis=1)
    true = np.linalg.norm(positions[i] - positions[j], axis=1)
    intrinsic = hole_distance(positions[i], positions[j], hole_radius)
    crossing = crosses_hole(positions[i], positions[j], hole_radius)
    geo = found["length"]

    def rho(a, b, mask=slice(None)):
        return float(spearmanr(a[mask], b[mask]).statistic)

    out = {
        "pairs": int(len(i)), "crossing_pairs": int(crossing.sum()),
        "spearman_geodesic_true": rho(geo, true),
        "spearman_euclid_true": rho(euclid, true),
        "spearman_geodesic_intrinsic": rho(geo, intrinsic),
        "spearman_euclid_intrinsic": rho(euclid, intrinsic),
        "spearman_straight_init_intrinsic": rho(np.asarray(found["straight"].length),
                                                intrinsic),
        "spearman_line_length_intrinsic": rho(found["line_length"], intrinsic),
        "graph_init_won": float(np.mean(found["from_graph"])),
        "geodesic_over_line": float(np.median(geo / found["line_length"])),
        "grad_max_median": float(np.median(np.where(
            found["from_graph"], np.asarray(found["graph"].grad_max),
            np.asarray(found["straight"].grad_max)))),
    }
    if crossing.sum() > 2:
        out.update({
            "spearman_geodesic_intrinsic_crossing": rho(geo, intrinsic, crossing),
            "spearman_euclid_intrinsic_crossing": rho(euclid, intrinsic, crossing),
            "spearman_geodesic_true_crossing": rho(geo, true, crossing),
            "spearman_euclid_true_crossing": rho(euclid, true, crossing),
        })
    return out


def _sector(positions) -> np.ndarray:
    """The position's angle around the hole in 8 sectors (a colour for the figures)."""
    d = np.asarray(positions) - CENTRE
    return (np.floor((np.arctan2(d[:, 1], d[:, 0]) + np.pi) / (2 * np.pi) * 8) % 8).astype(int)


def draw_figures(folder, g, found: dict, z_train, train_positions, z, positions,
                 hole_radius: float, num_paths: int = 4) -> dict:
    """The experiment's figures: the magnification factor with geodesics and straight
    lines across the hole, decoded strips along both for the longest crossing pair, and
    the distances against the intrinsic one.

    Args:
      folder: where to write the PNGs (created).
      g: the decoder.
      found: :func:`pairwise_geodesics`' result for ``z``.
      z_train: encoded training renders (drawn as points, coloured by angle sector).
      train_positions: their positions.
      z: the test encodings the pairs index.
      positions: their positions.
      hole_radius: the hole's radius.
      num_paths: how many crossing pairs to draw.
    Returns:
      ``{"figure_pairs": [[i, j], ...]}`` the drawn pairs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    i, j = found["i"], found["j"]
    intrinsic = hole_distance(positions[i], positions[j], hole_radius)
    gap = intrinsic - np.linalg.norm(positions[i] - positions[j], axis=1)
    picked = []
    for k in np.argsort(-gap):      # the pairs the hole lengthens most, far apart
        if len(picked) == num_paths or gap[k] <= 0:
            break
        if all(len({i[k], j[k], i[m], j[m]}) == 4 for m in picked):
            picked.append(int(k))
    z = np.asarray(z)
    lines = [np.stack([z[i[k]], z[j[k]]]) for k in picked]
    G.plot_magnification(folder / "magnification.png", g, found["bounds"],
                         paths={"geodesic": [geodesic_curve(found, k) for k in picked],
                                "straight line": lines},
                         points=z_train, labels=_sector(train_positions), size=80,
                         title="log10 magnification; training encodings by angle "
                               "around the hole")
    if picked:
        k = picked[0]
        G.plot_strips(folder / "strips.png", g,
                      {"geodesic": geodesic_curve(found, k), "straight line": lines[0]},
                      num=12, title="decoded along the geodesic and the straight line")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    try:
        z_dist = np.linalg.norm(z[i] - z[j], axis=1)
        crossing = crosses_hole(positions[i], positions[j], hole_radius)
        for ax, value, name in [(axes[0], found["length"], "geodesic distance"),
                                (axes[1], z_dist, "Euclidean latent distance")]:
            ax.scatter(intrinsic[~crossing], value[~crossing], s=3, alpha=0.4,
                       label="segment misses the hole")
            ax.scatter(intrinsic[crossing], value[crossing], s=3, alpha=0.4,
                       color="tab:red", label="segment crosses the hole")
            ax.set_xlabel("true intrinsic distance (pixels)")
            ax.set_ylabel(name)
            ax.legend(loc="upper left", markerscale=3)
        fig.savefig(folder / "distances.png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return {"figure_pairs": [[int(i[k]), int(j[k])] for k in picked]}


def build(cfg):
    """The VAE experiment and its geometry report for config ``cfg`` (see DEFAULTS)."""
    d = SIZE * SIZE
    train_pos = blob_positions(cfg.num_train, cfg.hole_radius, cfg.data_seed)
    test_pos = blob_positions(cfg.num_test, cfg.hole_radius, cfg.data_seed + 10_000)
    train_x, test_x = render(train_pos, cfg.sigma), render(test_pos, cfg.sigma)
    source = gd.datasets.arrays({"x": train_x}, batch_size=cfg.batch_size, seed=cfg.seed)
    E = gd.player("E", lambda rngs: gd.nn.GaussianEncoder(d, cfg.hidden, 2, rngs=rngs),
                  optax.adam(cfg.lr))
    Dec = gd.player("Dec", lambda rngs: gd.nn.MLP(2, cfg.hidden, d, rngs=rngs,
                                                  out_shape=(SIZE, SIZE, 1)), optax.adam(cfg.lr))
    x, z = gd.data("x"), gd.latent("z", 2)
    neg_elbo = -gd.losses.elbo(E, Dec, x, likelihood="gaussian", obs_std=cfg.obs_std)
    program = gd.program({E: neg_elbo, Dec: neg_elbo}, gd.minimize(), samples=Dec(z))

    def evaluate(compiled, state, key):
        metrics = compiled.evaluate(state, {"x": test_x}, key)
        return {"test_elbo": -float(metrics["E/loss"]), "test_kl": float(metrics["E/elbo/kl"])}

    def report(compiled, state, run_dir):
        dec = compiled.module(state, "Dec")

        def g(point):                       # the mean decoder at one latent point
            return dec(point[None])[0]

        z_test = np.asarray(compiled.apply(state, "E", test_x)[0])
        z_train = np.asarray(compiled.apply(state, "E", train_x)[0])
        found = pairwise_geodesics(g, z_test, nodes=cfg.nodes, steps=cfg.geodesic_steps,
                                   lr=cfg.geodesic_lr, graph_size=cfg.graph_size)
        numbers = distance_correlations(found, z_test, test_pos, cfg.hole_radius)
        numbers.update(draw_figures(run_dir / "figures", g, found, z_train, train_pos,
                                    z_test, test_pos, cfg.hole_radius))
        return numbers

    return gd.Experiment(program, source, evaluate=evaluate, report=report)

