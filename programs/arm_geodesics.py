"""Latent geodesics of a simulated robot arm (Chen et al., arXiv 1711.01204, the robot
movement use): do geodesics between two learned poses follow feasible motions where the
straight latent line crosses a region the training motions never visited?

The simulator is a planar two-link arm (links 1.0 and 0.8): joint angles (q1, q2) give
the observation x = (elbow_x, elbow_y, hand_x, hand_y). Training motions are straight
joint-space moves between random poses, sampled at ``motion_len`` points; a motion whose
hand ever enters the *obstacle* (a disc in the workspace) is dropped, so the data is a
sheet with a hole. A VAE with a 2-D latent (Gaussian likelihood) learns the poses.

The report encodes pairs of poses on opposite sides of the obstacle and joins each pair
by the straight latent line and by the geodesic of the decoder's pull-back metric
(initialised by the shortest path on a metric-weighted latent grid, then energy
minimised). Along each decoded path it measures the distance to the nearest training
observation (mean and max), the fraction of poses whose hand is inside the obstacle, and
the link-length error (a decoded x is a pose of the arm only if |elbow| = 1.0 and
|hand - elbow| = 0.8). summary.json records them as ``report/...``; figures/ holds the
magnification factor with both paths over it and the arm drawn along both paths.

    gendsl run programs/arm_geodesics.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gendsl as gd

DEFAULTS = {
    "steps": 6000,
    "batch_size": 128,
    "steps_per_call": 200,
    "checkpoint_every": 2000,
    "log_every": 1000,
    "hidden": (64, 64),
    "lr": 2e-3,
    "obs_std": 0.05,           # the Gaussian likelihood's standard deviation
    "num_motions": 2000,        # training motions kept (after dropping the obstacle's)
    "motion_len": 16,          # poses per motion
    "obstacle": (-0.55, 1.05, 0.45),   # the avoided disc: centre x, centre y, radius
    "graph_size": 48,          # latent grid points per axis for the graph initialisation
    "nodes": 32,               # nodes of each geodesic
    "path_points": 64,         # decoded points measured along each path
    "bandwidth": 0.03,         # the uncertainty's kernel width in latent units (0: the
                               # mean posterior std, about 0.075: too wide, see docs)
    "far_std": 1.0,            # the decoder std far from the training codes
    "code_stride": 4,          # every k-th training code is a kernel centre
}

LINKS = (1.0, 0.8)
Q_LOW, Q_HIGH = np.array([0.0, 0.3]), np.array([np.pi, 2.6])   # the joint box
PAIR_ANGLES = (0.0, 0.25 * np.pi, 0.5 * np.pi, 0.75 * np.pi)   # pair directions
PAIR_OFFSET = 0.15          # pair poses: hands this far outside the obstacle's rim


def arm(q):
    """The simulator: joint angles ``(..., 2)`` -> ``(..., 4)`` = elbow and hand positions.

    Args:
      q: shoulder and elbow angles in radians (NumPy or JAX).
    Returns:
      ``(elbow_x, elbow_y, hand_x, hand_y)`` along the last axis.
    """
    xp = jnp if isinstance(q, jax.Array) else np
    a, b = q[..., 0], q[..., 0] + q[..., 1]
    ex, ey = LINKS[0] * xp.cos(a), LINKS[0] * xp.sin(a)
    return xp.stack([ex, ey, ex + LINKS[1] * xp.cos(b), ey + LINKS[1] * xp.sin(b)], -1)


def inverse_kinematics(hand):
    """The joint angles (elbow angle in (0, pi)) that put the hand at ``hand`` ``(..., 2)``.

    Args:
      hand: reachable hand positions.
    Returns:
      ``(..., 2)`` joint angles, the shoulder's in ``[-pi / 2, 3 pi / 2)``.
    """
    hand = np.asarray(hand, np.float64)
    r2 = np.sum(hand ** 2, -1)
    c2 = np.clip((r2 - LINKS[0] ** 2 - LINKS[1] ** 2) / (2 * LINKS[0] * LINKS[1]), -1, 1)
    q2 = np.arccos(c2)
    q1 = np.arctan2(hand[..., 1], hand[..., 0]) - np.arctan2(LINKS[1] * np.sin(q2),
                                                             LINKS[0] + LINKS[1] * np.cos(q2))
    return np.stack([np.mod(q1 + 0.5 * np.pi, 2 * np.pi) - 0.5 * np.pi, q2], -1)


def inside(x, obstacle):
    """Whether the hand of each observation ``(..., 4)`` is inside the obstacle disc."""
    cx, cy, r = obstacle
    x = np.asarray(x)
    return (x[..., 2] - cx) ** 2 + (x[..., 3] - cy) ** 2 < r ** 2


def depth(x, obstacle):
    """How deep the hand of each observation ``(..., 4)`` is inside the obstacle disc
    (0 outside it, the radius at its centre)."""
    cx, cy, r = obstacle
    x = np.asarray(x, np.float64)
    return np.maximum(r - np.hypot(x[..., 2] - cx, x[..., 3] - cy), 0.0)


def link_error(x):
    """The link-length error of observations ``(..., 4)``:
    ``| |elbow| - l1 | + | |hand - elbow| - l2 |`` (zero exactly for poses of the arm)."""
    x = np.asarray(x, np.float64)
    upper = np.linalg.norm(x[..., :2], axis=-1)
    fore = np.linalg.norm(x[..., 2:] - x[..., :2], axis=-1)
    return np.abs(upper - LINKS[0]) + np.abs(fore - LINKS[1])


def motions(seed: int, num: int, length: int, obstacle):
    """Training motions: straight joint-space moves between random poses of the joint box
    (the end at most 1 rad per joint from the start), ``length`` poses each; motions whose
    hand enters ``obstacle`` are dropped until ``num`` remain.

    Args:
      seed: the NumPy seed.
      num: motions to keep.
      length: poses per motion.
      obstacle: ``(centre_x, centre_y, radius)``.
    Returns:
      ``(q, x)``: joint angles ``(num * length, 2)`` and observations ``(num * length, 4)``
      (float32).
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, length)[None, :, None]
    kept = []
    while sum(len(k) for k in kept) < num:
        start = rng.uniform(Q_LOW, Q_HIGH, (4 * num, 2))
        end = np.clip(start + rng.uniform(-1.0, 1.0, start.shape), Q_LOW, Q_HIGH)
        q = start[:, None] + t * (end - start)[:, None]
        kept.append(q[~inside(arm(q), obstacle).any(1)])
    q = np.concatenate(kept)[:num].reshape(-1, 2)
    return q.astype(np.float32), arm(q).astype(np.float32)


def pair_poses(obstacle):
    """The pose pairs the report joins: hands just outside the obstacle's rim at opposite
    ends of each diameter in :data:`PAIR_ANGLES`.

    Returns:
      ``(pairs, 2, 4)`` observations.
    """
    cx, cy, r = obstacle
    ends = []
    for a in PAIR_ANGLES:
        d = (r + PAIR_OFFSET) * np.array([np.cos(a), np.sin(a)])
        ends.append([np.array([cx, cy]) + d, np.array([cx, cy]) - d])
    return arm(inverse_kinematics(np.array(ends))).astype(np.float32)


def path_stats(x, train_x, obstacle):
    """The numbers of one decoded path ``x`` ``(n, 4)``: mean and max distance to the
    nearest training observation, the fraction of poses with the hand inside the obstacle
    and how deep the hand goes into it (``depth_max``, 0 outside, the radius at the
    centre), mean and max link-length error.

    Returns:
      A dict of floats.
    """
    x = np.asarray(x, np.float64)
    d2 = (np.sum(x ** 2, 1)[:, None] - 2 * x @ train_x.T.astype(np.float64)
          + np.sum(train_x.astype(np.float64) ** 2, 1)[None])
    near = np.sqrt(np.maximum(d2.min(1), 0.0))
    err = link_error(x)
    return {"dist_mean": float(near.mean()), "dist_max": float(near.max()),
            "inside": float(inside(x, obstacle).mean()),
            "depth_max": float(depth(x, obstacle).max()),
            "link_err_mean": float(err.mean()), "link_err_max": float(err.max())}


def compare_paths(decoder, metrics, z_pairs, train_x, obstacle, *, bounds, graph_size=48,
                  nodes=32, path_points=64):
    """Joins each latent pair by the straight line and by a graph-initialised geodesic of
    each metric, and measures every decoded path (:func:`path_stats`).

    Args:
      decoder: the mean decoder ``g(z) -> x`` for ONE latent point ``z`` ``(2,)``: the
        paths' poses.
      metrics: ``{name: map}``: the maps whose pull-back metric each geodesic minimises
        (``decoder`` itself, or ``gd.geometry.stacked_decoder(decoder, std)``).
      z_pairs: ``(pairs, 2, 2)`` latent end points.
      train_x: the training observations ``(n, 4)``.
      obstacle: ``(centre_x, centre_y, radius)``.
      bounds: the latent box of the graphs ``[(low, high), (low, high)]``.
      graph_size: grid points per axis of the graphs.
      nodes: nodes of each curve.
      path_points: decoded points measured along each path.
    Returns:
      ``(curves, stats)``: ``{path name: [curve per pair]}`` and ``{path name: [dict per
      pair]}`` (:func:`path_stats` plus ``length``, the decoded poses' path length), the
      path names being ``"straight line"`` and the keys of ``metrics``.
    """
    G = gd.geometry
    decode = jax.jit(jax.vmap(decoder))
    t = jnp.linspace(0.0, 1.0, path_points)
    curves = {"straight line": [G.discrete_curve(z0, z1, nodes) for z0, z1 in z_pairs]}
    for name, g in metrics.items():
        graph = G.latent_graph(g, bounds, size=graph_size)
        starts = [G.graph_curve(g, graph, z0, z1, nodes) for z0, z1 in np.asarray(z_pairs)]
        batch = jax.tree.map(lambda *leaves: jnp.stack(leaves), *starts)
        # one compiled, vmapped energy minimisation for every pair
        best = jax.jit(jax.vmap(lambda c, g=g: G.minimize_energy(g, c).curve))(batch)
        curves[name] = [jax.tree.map(lambda leaf, i=i: leaf[i], best) for i in range(len(starts))]
    stats = {}
    for name, cs in curves.items():
        stats[name] = []
        for curve in cs:
            x = np.asarray(decode(curve(t)))
            row = path_stats(x, train_x, obstacle)
            row["length"] = float(np.sum(np.linalg.norm(np.diff(x, axis=0), axis=1)))
            stats[name].append(row)
    return curves, stats


def slug(name):
    """A path name as a summary key: ``"geodesic (mean metric)"`` -> ``"geodesic_mean_metric"``."""
    return "_".join("".join(c if c.isalnum() else " " for c in name).split())


def summarize(stats):
    """Averages of :func:`compare_paths`'s per-pair numbers, named ``<path>/<number>``."""
    return {f"{slug(name)}/{k}": float(np.mean([r[k] for r in rows]))
            for name, rows in stats.items() for k in rows[0]}


def plot_arm(path, decoder, curves, train_x, obstacle, *, poses=9):
    """Draws the arm along each kind of path (one panel per kind) over the training hands
    and the obstacle.

    Args:
      path: the PNG file.
      decoder: ``g(z) -> x``.
      curves: :func:`compare_paths`'s curves.
      train_x: training observations (their hands are drawn grey).
      obstacle: the disc.
      poses: arms drawn per path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    decode = jax.jit(jax.vmap(decoder))
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 5), sharex=True,
                             sharey=True, squeeze=False)
    colors = plt.get_cmap("tab10")
    try:
        for ax, (name, cs) in zip(axes[0], curves.items()):
            ax.scatter(train_x[:, 2], train_x[:, 3], s=1, color="0.85")
            ax.add_patch(plt.Circle(obstacle[:2], obstacle[2], color="tab:red", alpha=0.3))
            for i, curve in enumerate(cs):
                x = np.asarray(decode(curve(jnp.linspace(0.0, 1.0, 64))))
                ax.plot(x[:, 2], x[:, 3], color=colors(i), lw=2)
                for p in np.asarray(decode(curve(jnp.linspace(0.0, 1.0, poses)))):
                    ax.plot([0, p[0], p[2]], [0, p[1], p[3]], "-", color=colors(i), lw=0.6,
                            alpha=0.5)
            ax.plot([0], [0], "ks", ms=6)
            ax.set_aspect("equal")
            ax.set_title(f"arm along the {name}")
        fig.savefig(path, dpi=80, bbox_inches="tight")
    finally:
        plt.close(fig)


def build(cfg):
    """The arm VAE and its geodesic report for config ``cfg`` (see DEFAULTS)."""
    obstacle = tuple(float(v) for v in cfg.obstacle)
    _, train_x = motions(cfg.seed, cfg.num_motions, cfg.motion_len, obstacle)
    _, test_x = motions(cfg.seed + 10_000, max(cfg.num_motions // 4, 1), cfg.motion_len,
                        obstacle)
    source = gd.datasets.arrays({"x": train_x}, batch_size=cfg.batch_size, seed=cfg.seed)
    E = gd.player("E", lambda rngs: gd.nn.GaussianEncoder(4, cfg.hidden, 2, rngs=rngs),
                  optax.adam(cfg.lr))
    Dec = gd.player("Dec", lambda rngs: gd.nn.MLP(2, cfg.hidden, 4, rngs=rngs,
                                                  activation=jnp.tanh), optax.adam(cfg.lr))
    x, z = gd.data("x"), gd.latent("z", 2)
    neg_elbo = -gd.losses.elbo(E, Dec, x, likelihood="gaussian", obs_std=cfg.obs_std)
    program = gd.program({E: neg_elbo, Dec: neg_elbo}, gd.minimize(), samples=Dec(z))

    def evaluate(compiled, state, key):
        metrics = compiled.evaluate(state, {"x": test_x}, key)
        return {"test_elbo": -float(metrics["E/loss"])}

    def report(compiled, state, run_dir):
        dec = compiled.module(state, "Dec")

        def decoder(zz):
            return dec(zz[None])[0]

        mean, log_var = (np.asarray(v) for v in compiled.apply(state, "E", train_x))
        bandwidth = cfg.bandwidth or float(np.exp(0.5 * log_var).mean())
        std = gd.geometry.density_std(mean[::cfg.code_stride], bandwidth=bandwidth,
                                      obs_std=cfg.obs_std, far_std=cfg.far_std, out_shape=(4,))
        expected = gd.geometry.stacked_decoder(decoder, std)
        pairs = pair_poses(obstacle)
        z_pairs = np.asarray(compiled.apply(state, "E", pairs.reshape(-1, 4))[0])
        low, high = mean.min(0) - 0.5, mean.max(0) + 0.5
        bounds = [(float(low[0]), float(high[0])), (float(low[1]), float(high[1]))]
        curves, stats = compare_paths(
            decoder, {"geodesic (expected metric)": expected, "geodesic (mean metric)": decoder},
            z_pairs.reshape(-1, 2, 2), train_x, obstacle, bounds=bounds,
            graph_size=cfg.graph_size, nodes=cfg.nodes, path_points=cfg.path_points)
        figures = run_dir / "figures"
        figures.mkdir(exist_ok=True)
        order = ("geodesic (expected metric)", "straight line", "geodesic (mean metric)")
        for name, g in (("expected", expected), ("mean", decoder)):
            gd.geometry.plot_magnification(
                figures / f"magnification_{name}.png", g, bounds,
                paths={k: curves[k] for k in order}, points=mean[::8],
                title=f"magnification factor ({name} metric)")
        plot_arm(figures / "arm_paths.png", decoder, {k: curves[k] for k in order}, train_x,
                 obstacle)
        return {**summarize(stats), "bandwidth": bandwidth,
                "pairs": {slug(k): v for k, v in stats.items()}}

    return gd.Experiment(program, source, evaluate=evaluate, report=report)
