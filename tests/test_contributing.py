"""CONTRIBUTING.md's worked examples run as written: a data set, an algorithm, a location encoder
and a book page, each one file and one registration, trained together on the smoke profile."""

import os
import re
import subprocess
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"


def test_the_guide_s_examples_register_their_pieces_and_a_run_uses_them_all(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 5  # data set, algorithm, location encoder, a run of all three, a page
    script = "\n\n".join(blocks) + (
        "\nfrom stssl.algorithms import ALGORITHMS\nfrom stssl.data import registry\n"
        "from stssl.encoders import LOCATION_ENCODERS\n"
        "print('registered:', 'tiny-grid' in registry.names(), 'pseudolabel' in ALGORITHMS, 'unit' in LOCATION_ENCODERS)\n"
    )
    env = {**os.environ, "STSSL_RUNS": str(tmp_path / "runs"), "STSSL_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "registered: True True True" in lines
    assert "4 runs" in lines  # the page: plain and + ST-SSL, two seeds
    run = next(line for line in lines if line.startswith("pseudolabel + ST-SSL on tiny-grid (smoke profile)"))
    accuracies = [float(a) for a in re.findall(r"\d\.\d+", run.split("[")[-1])]
    assert len(accuracies) == 2 and all(0 <= a <= 1 for a in accuracies)  # evaluated at steps 5 and 10
