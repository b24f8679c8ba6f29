#!/usr/bin/env bash
# Builds a separate virtual environment for DeepMind's ODE-GAN reference notebook
# (deepmind-research/ode_gan/odegan_mog16.ipynb): the last JAX line its Haiku code runs
# on (0.4.30) with dm-haiku, so that benchmarks/anchors/odegan/run_reference.py can run
# the notebook's own code side by side with gendsl's programs/ode_gan_mog16.py.
# Usage: setup.sh [VENV_DIR]   (default: /tmp/odegan-ref). Needs about 600 MB of disk.
# NOTEBOOK=path/to/odegan_mog16.ipynb copies a local notebook instead of downloading it.
set -euo pipefail
venv=${1:-/tmp/odegan-ref}
python3 -m venv "$venv"
"$venv/bin/pip" install -q "jax==0.4.30" "jaxlib==0.4.30" "dm-haiku==0.0.12" \
  "numpy<2" "ml-dtypes<0.5" "scipy<1.14" "matplotlib<3.10"
"$venv/bin/python" -c "import jax, haiku; print('jax', jax.__version__, 'haiku', haiku.__version__)"
# The notebook itself: from GitHub, or from a local copy given as NOTEBOOK=path.
nb="$venv/odegan_mog16.ipynb"
url=https://raw.githubusercontent.com/google-deepmind/deepmind-research/master/ode_gan/odegan_mog16.ipynb
if [ -n "${NOTEBOOK:-}" ]; then cp "$NOTEBOOK" "$nb"
elif ! curl -fsSL --max-time 60 "$url" -o "$nb"; then
  echo "could not download $url; rerun with NOTEBOOK=path/to/odegan_mog16.ipynb" >&2; exit 1
fi
echo "reference venv ready: $venv (notebook: $nb)"
