"""Runs DeepMind's ODE-GAN reference notebook (odegan_mog16.ipynb) headless, seeded.

Executes the notebook's own code cells in order (nothing of it is copied here) in the
venv that setup.sh builds, with only these changes:

* the ``!pip install`` line is dropped; ``jax.tree_multimap`` / ``jax.tree_flatten``
  (removed from newer JAX) are aliased to their ``jax.tree_util`` equivalents;
* the Integration cell's ``#@param`` values are set from the flags (``n_itrs`` is
  ``--steps + 1``, as the notebook's 30001 runs to step 30000 inclusive);
* ``np.random.seed(--seed)`` before the Integration cell: every random draw of the
  notebook (data, latents, the Haiku init keys) comes from numpy's global generator;
* the plotting function ``kde`` is replaced by one that records the generator's samples
  on the notebook's own 5,120 test latents (``bs * 10``) every ``n_save`` steps, from the
  raw (not averaged) generator parameters, as the notebook plots them.

Writes ``--out`` (.npz: ``steps`` and ``samples`` of shape (n_records, 10 * bs, 2)), anew
after every record, and prints one JSON line (steps, seconds, out). The metrics (modes covered, high-quality
fraction) are computed in gendsl's process from the samples with
``gendsl.datasets.coverage.mode_coverage`` (benchmarks/ode_gan_reference.py), so both
sides are scored by the same code.

    /tmp/odegan-ref/bin/python benchmarks/anchors/odegan/run_reference.py \\
        --notebook /tmp/odegan-ref/odegan_mog16.ipynb --seed 0 --steps 30000 --out /tmp/r0.npz
"""

from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np


def code_cells(path: str) -> list[str]:
    """The notebook's code cells as source strings, ``!`` shell lines dropped."""
    with open(path) as f:
        nb = json.load(f)
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        cells.append("\n".join(line for line in src.splitlines() if not line.lstrip().startswith("!")))
    return cells


def set_param(src: str, name: str, value) -> str:
    """Replaces the value of ``name = ... #@param`` in a cell; fails loudly if absent."""
    pattern = re.compile(rf"^{name} = [^#\n]*(#@param.*)$", re.M)
    new, count = pattern.subn(lambda m: f"{name} = {value!r} {m.group(1)}", src)
    if count != 1:
        raise SystemExit(f"run_reference.py: no '{name} = ... #@param' line in the notebook")
    return new


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", required=True, help="path of odegan_mog16.ipynb")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--every", type=int, default=10_000, help="record samples every N steps")
    parser.add_argument("--odeint", default="runge_kutta_step",
                        choices=["euler_step", "euler_heun_step", "runge_kutta_step"])
    parser.add_argument("--delta-t", type=float, default=0.1)
    parser.add_argument("--reg-param", type=float, default=0.07)
    parser.add_argument("--out", required=True, help=".npz file for the recorded samples")
    args = parser.parse_args(argv)

    import jax
    import jax.tree_util as tu
    import matplotlib
    matplotlib.use("Agg")
    for old, new in (("tree_multimap", tu.tree_map), ("tree_flatten", tu.tree_flatten),
                     ("tree_map", tu.tree_map)):
        if not hasattr(jax, old):
            setattr(jax, old, new)

    cells = code_cells(args.notebook)
    integration = [i for i, c in enumerate(cells) if "#@title Integration" in c]
    if len(integration) != 1:
        raise SystemExit("run_reference.py: the notebook has no single '#@title Integration' cell")
    *setup, last = cells[: integration[0] + 1]
    for name, value in (("n_itrs", args.steps + 1), ("n_save", args.every), ("bs", args.batch),
                        ("odeint", args.odeint), ("delta_t", args.delta_t),
                        ("reg_param", args.reg_param)):
        last = set_param(last, name, value)

    ns: dict = {"__name__": "odegan_reference"}
    for src in setup:
        exec(compile(src, args.notebook, "exec"), ns)
    records: list[tuple[int, np.ndarray]] = []

    def save():
        np.savez(args.out, steps=np.array([s for s, _ in records]),
                 samples=np.stack([x for _, x in records]).astype(np.float32))

    def kde(mu, tau, contours=None, bbox=None, xlabel="", ylabel="", cmap="Blues", st=0):
        records.append((int(st), np.stack([np.asarray(mu), np.asarray(tau)], axis=1)))
        save()  # after every record, so that a run cut short keeps what it reached

    ns["kde"] = kde
    np.random.seed(args.seed)
    t0 = time.perf_counter()
    exec(compile(last, args.notebook, "exec"), ns)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seed": args.seed, "steps": args.steps, "batch": args.batch,
                      "seconds": round(seconds, 1), "out": args.out,
                      "jax": jax.__version__}), flush=True)


if __name__ == "__main__":
    main()
