"""SavedModel export of trained classifiers in TF Serving's layout `<export_base>/<version>/`.

>>> path = export_classifier(model, "runs/demo/export", dataset="egs_digits")  # doctest: +SKIP
>>> served = tf.saved_model.load(str(path))                                    # doctest: +SKIP
>>> served.signatures["serving_default"](images=batch)["classes"]             # doctest: +SKIP

Signatures (stable input and output names):

* `serving_default`: `images`, float32 `[N, H, W, C]`, preprocessed as in evaluation
  (normalised); returns `logits`, `probabilities`, `classes` (int64) and the `top_k_classes` /
  `top_k_probabilities` of the k most probable classes.
* `serving_bytes`: `image_bytes`, a string `[N]` of encoded JPEG, PNG, GIF or BMP images,
  decoded, resized (or centre-cropped) and normalised in the graph exactly as evaluation did;
  same outputs.

Both check their inputs in the graph, so TF Serving answers bad requests with an
`InvalidArgumentError` that says what was wrong: wrong shape, an empty batch, NaN or Inf
values, bytes that are not an image. The model directory is written under a temporary name and
renamed into place, so a server watching `export_base` never sees half a model.
"""

import hashlib
import json
import numbers
import os
import pathlib
import re
import shutil
import uuid

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras.data import image_datasets
from egs_keras.export import image_headers
from egs_keras.export import warmup as warmup_records

IMAGE_FORMATS = "JPEG, PNG, GIF or BMP"


MAX_VERSION = 2**63 - 1  # TF Serving parses version directories as int64


def versions(export_base):
    """The integer version directories under `export_base`, newest first (directories beyond
    int64, which TF Serving ignores, do not count)."""
    base = pathlib.Path(export_base)
    found = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] \
        if base.is_dir() else []
    return sorted((v for v in found if v <= MAX_VERSION), reverse=True)


def next_version(export_base):
    """1 + the largest integer version directory under `export_base` (1 if there is none)."""
    return max(versions(export_base), default=0) + 1


def check_version(version):
    """`version` as an int if it is an integer in [1, 2**63 − 1], else a ValueError."""
    if (isinstance(version, bool) or not isinstance(version, numbers.Integral)
            or not 1 <= version <= MAX_VERSION):
        raise _validation.invalid(
            "version", f"an integer from 1 to {MAX_VERSION} (TF Serving reads version "
            "directories as int64)", version, "Leave it out to use the next free version.")
    return int(version)


def checked_images(images, channels, size=None, stride=1):
    """`images` after in-graph checks of rank, channels, batch, values, and sides: `size`
    (height, width) if given, else any positive multiples of `stride` (a segmenter's output
    stride). A failed check is an `InvalidArgumentError` saying what was expected."""
    sides = (f"{size[0]}, {size[1]}" if size else "H, W")
    expected = f"float32 images of shape [N, {sides}, {channels}] with N >= 1"
    if not size:
        expected += f" and H, W positive multiples of the output stride {stride}"
    shape = tf.shape(images)
    # Padded to rank 4 so the side comparisons are defined for any rank (the rank check fails).
    padded = tf.concat([shape, tf.zeros([4], tf.int32)], axis=0)[:4]
    conditions = [tf.equal(tf.size(shape), 4), tf.equal(padded[3], channels)]
    if size:
        conditions += [tf.equal(padded[1], size[0]), tf.equal(padded[2], size[1])]
    else:
        conditions += [padded[1] > 0, padded[2] > 0, tf.equal(padded[1] % stride, 0),
                       tf.equal(padded[2] % stride, 0)]
    checks = [
        tf.debugging.Assert(tf.reduce_all(tf.stack(conditions)),
                            [f"Expected {expected}; got shape", shape], summarize=8),
        tf.debugging.Assert(padded[0] > 0, [f"Expected {expected}; got an empty batch"]),
    ]
    with tf.control_dependencies(checks):
        images = tf.identity(images)
    return tf.debugging.assert_all_finite(
        images, f"Expected {expected}; the images contain NaN or Inf values")


def checked_bytes(image_bytes, limits):
    """`image_bytes` after checking in the graph that it is a non-empty string `[N]` and,
    from the headers, that its images stay within `limits` = (max_image_pixels,
    max_batch_pixels) (`image_headers`: decompression bombs are refused before decoding)."""
    shape = tf.shape(image_bytes)

    def refused():
        check = tf.debugging.Assert(False, [
            "Expected image_bytes to be a string [N], one encoded image per entry (a list "
            "of images, not one string nor a nested list); got shape", shape], summarize=4)
        with tf.control_dependencies([check]):
            return tf.zeros([0], tf.string)

    # The signature declares no rank (a declared [None] is neither enforced when a request
    # runs nor checkable: the graph would take it as known and fold the check away), and
    # the rest runs in a branch only a rank-1 batch takes.
    image_bytes = tf.cond(tf.equal(tf.size(shape), 1),
                          lambda: tf.reshape(image_bytes, [-1]), refused)
    check = tf.debugging.assert_positive(
        tf.size(image_bytes),
        message="Expected a non-empty batch of encoded images; got an empty batch")
    with tf.control_dependencies([check]):
        image_bytes = tf.identity(image_bytes)
    return image_headers.checked_sizes(image_bytes, *limits)


def decode_image_bytes(encoded, channels):
    """One encoded image (JPEG, PNG, GIF or BMP, in any of their channel layouts: gray, gray +
    alpha, RGB, RGBA) as uint8 `[H, W, channels]` for a model of 1 or 3 `channels`: alpha is
    dropped, colour turned to gray for a 1-channel model and gray to colour for a 3-channel
    one. (TF's own `channels=1` refuses GIF, which is always decoded as RGB.)"""
    image = tf.io.decode_image(encoded, expand_animations=False)
    found = tf.shape(image)[-1]
    if channels == 1:
        image = tf.cond(found >= 3, lambda: tf.image.rgb_to_grayscale(image[..., :3]),
                        lambda: image[..., :1])
    else:
        image = tf.cond(found >= 3, lambda: image[..., :3],
                        lambda: tf.image.grayscale_to_rgb(image[..., :1]))
    image.set_shape([None, None, channels])
    return image


def checked_outputs(logits):
    """`logits` after checking that they are finite: finite inputs far outside the range the
    model was trained on (e.g. raw 0-255 pixels or float32's maximum) can overflow inside the
    network, and a served NaN must be an error, not an answer."""
    return tf.debugging.assert_all_finite(
        logits, "The model's outputs hold NaN or Inf although the inputs are finite: the "
        "input values are far outside what the model was trained on. Send images "
        "preprocessed as in evaluation (normalised with the data set's mean and standard "
        "deviation), or encoded images to serving_bytes")


def _outputs(logits, top_k):
    logits = checked_outputs(logits)
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32))
    best = tf.math.top_k(probabilities, k=top_k)
    return {"logits": logits, "probabilities": probabilities,
            "classes": tf.argmax(logits, axis=-1),
            "top_k_classes": best.indices, "top_k_probabilities": best.values}


def export_classifier(model, export_base, dataset, version=None, extra_files=None, top_k=5,
                      warmup=True, max_image_pixels=None, max_batch_pixels=None):
    """Writes `model` as a SavedModel to `<export_base>/<version>/` and returns that path.

    Args:
        model: a Keras image classifier: the evaluation network, a model `derive()`d from a
            `SearchModel`, or any model taking `[N, H, W, C]` float images (its
            `image_shape` attribute, else its input shape) and returning `[N, classes]`
            logits.
        export_base: the directory TF Serving watches.
        dataset: name of the data set the model was trained on (`egs_keras.data.DATASETS`);
            its evaluation preprocessing goes into `serving_bytes`.
        version: integer version; default: the next free one.
        extra_files: {file name: text} written into `assets.extra/` (e.g. the genotype JSON and
            the resolved config).
        top_k: how many classes `top_k_*` return (at most the number of classes).
        warmup: write `assets.extra/tf_serving_warmup_requests` (one request per signature).
        max_image_pixels, max_batch_pixels: `serving_bytes` refuses, from the headers and
            before decoding, an image declaring more pixels (a GIF: all its frames) or a
            request declaring more in all; defaults: `image_headers.default_limits`.
    """
    spec = image_datasets.get_dataset(dataset)
    image_shape, num_classes = classifier_shapes(model)
    height, width, channels = image_shape
    if height != width:
        raise ValueError(f"Received a model for {height}×{width} images; export supports "
                         "square inputs, as the data pipelines produce.")
    limits = image_headers.default_limits(height, width, max_image_pixels, max_batch_pixels)
    target = version_directory(export_base, version)
    top_k = min(int(top_k), num_classes)

    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve_images(images):
        images = checked_images(images, channels, size=(height, width))
        return _outputs(model(images, training=False), top_k)

    def serve_bytes(image_bytes):
        image_bytes = checked_bytes(image_bytes, limits)

        def decode(encoded):
            image = decode_image_bytes(encoded, channels)
            return image_datasets.preprocess_for_evaluation(image, spec, height)

        images = tf.map_fn(decode, image_bytes,
                           fn_output_signature=tf.TensorSpec(image_shape, tf.float32))
        return _outputs(model(images, training=False), top_k)

    archive.add_endpoint(
        "serving_default", serve_images,
        input_signature=[tf.TensorSpec([None, *image_shape], tf.float32, name="images")])
    archive.add_endpoint(
        "serving_bytes", serve_bytes,
        input_signature=[tf.TensorSpec(None, tf.string, name="image_bytes")])
    return write_versioned(archive, target, extra_files,
                           warmup_records.classifier_inputs(image_shape) if warmup else None)


def classifier_shapes(model):
    """((height, width, channels), number of classes) of an image classifier (see
    `export_classifier`); a clear error for a model of another kind."""
    image_shape = getattr(model, "image_shape", None)
    num_classes = getattr(model, "num_classes", None)
    try:
        image_shape = tuple(image_shape or model.inputs[0].shape[1:])
        num_classes = int(num_classes or model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        image_shape = None
    if (image_shape is None or len(image_shape) != 3 or None in image_shape
            or len(getattr(model, "inputs", None) or [None]) != 1):
        raise ValueError(
            f"Received model {model.name!r}, expected an image classifier with one input of "
            "a known shape (height, width, channels) and `[N, classes]` logits (e.g. built "
            "on `keras.Input((32, 32, 3))`). Give the model a fixed input shape.")
    return image_shape, num_classes


def version_directory(export_base, version=None):
    """`<export_base>/<version>` (default: the next free version); an error if it exists."""
    base = pathlib.Path(export_base)
    version = next_version(base) if version is None else check_version(version)
    target = base / str(version)
    if target.exists():
        raise FileExistsError(
            f"Export version {version} already exists in {str(base)!r}; choose another "
            "version or leave it out to use the next free one.")
    return target


SOURCE_FILE = "export_source.json"  # in assets.extra/: which checkpoint a version holds
_TEMPORARY = re.compile(r"^\.tmp-\d+-[0-9a-f]{32}$")


_SOURCE_MAX_BYTES = 4096  # a source record is ~100 bytes: a larger file is not ours


def checkpoint_source(prefix):
    """{"checkpoint": name, "index_sha256": ...} of the checkpoint `prefix`: its `.index` file
    holds every tensor's checksum, so equal digests mean equal weights."""
    prefix = pathlib.Path(prefix)
    digest = hashlib.sha256()
    with open(f"{prefix}.index", "rb") as index:
        for chunk in iter(lambda: index.read(1 << 20), b""):  # streamed: any size
            digest.update(chunk)
    return {"checkpoint": prefix.name, "index_sha256": digest.hexdigest()}


def find_version_of(export_base, source):
    """The version directory under `export_base` whose `assets.extra/export_source.json`
    equals `source` (the newest, if several), or None."""
    base = pathlib.Path(export_base)
    for version in versions(base):
        record = base / str(version) / "assets.extra" / SOURCE_FILE
        try:
            if (record.is_file() and not record.is_symlink()
                    and record.stat().st_size <= _SOURCE_MAX_BYTES
                    and json.loads(record.read_text(encoding="utf-8")) == source):
                return base / str(version)
        except (OSError, ValueError):
            continue  # unreadable: not a match
    return None


def remove_stale_temporaries(export_base):
    """Removes the `.tmp-<version>-<id>/` directories this user's interrupted exports left in
    `export_base` (call it while holding the base's lock, so that none is being written);
    returns their names."""
    base = pathlib.Path(export_base)
    removed = []
    for path in (base.iterdir() if base.is_dir() else []):
        if (_TEMPORARY.match(path.name) and path.is_dir() and not path.is_symlink()
                and path.stat().st_uid == os.getuid()):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def write_versioned(archive, target, extra_files=None, warmup_inputs=None):
    """Writes a `keras.export.ExportArchive` to `target` atomically (a temporary directory,
    then a rename), with `assets.extra/` files and TF Serving warm-up requests for
    `warmup_inputs` ({signature: {input name: array}}); returns `target`."""
    target = pathlib.Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex}"
    try:
        archive.write_out(str(temporary), verbose=False)
        extra = temporary / "assets.extra"
        extra.mkdir(exist_ok=True)
        for name, text in (extra_files or {}).items():
            (extra / name).write_text(text, encoding="utf-8")
        if warmup_inputs:
            warmup_records.write_warmup_requests(extra / "tf_serving_warmup_requests",
                                                 warmup_inputs)
        os.rename(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target
