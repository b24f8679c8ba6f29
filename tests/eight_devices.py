"""Running a script in a subprocess with 8 simulated CPU devices (JAX reads
``JAX_NUM_CPU_DEVICES`` when it starts, so the test process itself cannot)."""

import json
import os
import subprocess
import sys


def run_with_eight_devices(script: str, timeout: float = 300):
    """Runs ``python -c script`` with 8 CPU devices and returns the JSON of the last line
    it prints.

    Args:
      script: the Python source, which prints its result as one JSON line last.
      timeout: seconds before the subprocess is stopped (a failure).

    Returns:
      The decoded JSON.
    """
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="8", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
