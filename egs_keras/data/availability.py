"""Whether a TFDS data set can be prepared on this machine, decided before TFDS starts: a data
set that is neither prepared in `data_dir`, nor in its manual directory, nor downloadable
(its server does not answer within seconds) is a `DataUnavailableError` at once, naming it,
how to prepare it offline and which bundled configs run without it (TFDS would otherwise
retry the download for minutes and end in a connection traceback).

>>> check_available("cifar10", "runs/tfds")    # doctest: +SKIP
DataUnavailableError: The data set 'cifar10' is not prepared in 'runs/tfds' ...
"""

import os
import pathlib
import socket
import urllib.parse

import tensorflow_datasets as tfds

# Built from files that ship with the package, or generated: never downloaded.
BUNDLED = ("egs_digits", "egs_sentences", "egs_shapes")
# Where TFDS's own builders fetch from; the package's builders name theirs in their
# `DOWNLOAD_URL` (ImageNet has no public download).
DOWNLOAD_URLS = {"cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"}
OFFLINE_CONFIGS = ("configs/demo.py and configs/digits_paper_search.py (images), "
                   "configs/rnn_demo.py (language), configs/shapes_segmentation.py "
                   "(segmentation)")
_REAL_PREPARE = tfds.core.DatasetBuilder.download_and_prepare
_available = set()  # (builder, data_dir) found preparable once: not asked again


class DataUnavailableError(ValueError):
    """A data set is not prepared here and cannot be downloaded."""


def check_reachable(url, timeout=5.0):
    """Raises OSError at once if `url`'s host does not answer within `timeout` seconds."""
    parts = urllib.parse.urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with socket.create_connection((parts.hostname, port), timeout=timeout):
        pass


def check_available(tfds_name, data_dir=None, timeout=5.0):
    """Returns if TFDS builder `tfds_name` can be prepared in `data_dir` (prepared already,
    bundled, files in its manual directory, or its server answers); else raises
    `DataUnavailableError`. With `EGS_KERAS_OFFLINE=1` in the environment no server is
    asked. Under `tfds.testing.mock_data` (which replaces preparation) nothing is checked."""
    # (compared with ==: TFDS wraps the method, and every access makes a new wrapper)
    if (tfds_name in BUNDLED or (tfds_name, data_dir) in _available
            or tfds.core.DatasetBuilder.download_and_prepare != _REAL_PREPARE):
        return
    builder = tfds.builder(tfds_name, data_dir=data_dir)
    _check_preparable(builder, tfds_name, timeout)
    _available.add((tfds_name, data_dir))


def _check_preparable(builder, tfds_name, timeout):
    """Returns if `builder` is prepared, has manual files or a server that answers; else
    raises a `DataUnavailableError` saying what to do."""
    if builder.is_prepared():
        return
    root = next((p.parent for p in pathlib.Path(builder.data_dir).parents
                 if p.name == tfds_name), pathlib.Path(builder.data_dir))
    manual = root / "downloads" / "manual"
    if manual.is_dir() and any(manual.iterdir()):
        return  # the builder reads them (and names what is missing)
    url = getattr(builder, "DOWNLOAD_URL", None) or DOWNLOAD_URLS.get(tfds_name)
    problem = "it has no public download"
    if url is not None:
        if os.environ.get("EGS_KERAS_OFFLINE") == "1":
            problem = f"EGS_KERAS_OFFLINE=1 forbids downloading {url}"
        else:
            try:
                check_reachable(url, timeout)
                return
            except OSError as error:
                problem = f"{url} does not answer: {error.strerror or error}"
    instructions = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    manual_hint = (f"put its files into the manual directory {str(manual)!r} "
                   f"({' '.join(str(instructions).split())}); the first run then builds it"
                   if instructions else "")
    elsewhere = (f"on a machine with network run `tfds build {tfds_name} --data_dir=<dir>` "
                 "(for the egs_* builders, add `--imports=egs_keras.data`) and copy "
                 f"<dir>/{tfds_name}/ to {str(root / tfds_name)!r}")
    how = (manual_hint if url is None else
           f"{elsewhere}; or {manual_hint}" if manual_hint else elsewhere)
    raise DataUnavailableError(
        f"The data set {tfds_name!r} is not prepared in {str(root)!r}, and it cannot be "
        f"downloaded here ({problem}). Nothing was written. To prepare it: {how}. Name that "
        "data directory with --config.data.data_dir. Configs that run on bundled data, "
        f"without network: {OFFLINE_CONFIGS}.")
