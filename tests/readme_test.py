"""The README's shortest example of searching one's own Keras model runs as printed."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).parents[1]


def test_the_search_your_own_model_example_runs_and_finds_the_5x5_kernel(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Search your own Keras model"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "{'kernel': ['conv5']}"
    assert (tmp_path / "kernel.keras").exists()
