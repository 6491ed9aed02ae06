"""SavedModel export of trained classifiers in TF Serving's layout `<export_base>/<version>/`.

>>> path = export_classifier(model, "runs/demo/export")      # doctest: +SKIP
>>> tf.saved_model.load(path).signatures["serving_default"]  # doctest: +SKIP

The model directory is written under a temporary name and renamed into place, so a server
watching `export_base` never sees half a model. `serving_default` takes float32 images
`[N, H, W, C]`, normalised as in training, and returns `logits`, `probabilities` and `classes`.
"""

import os
import pathlib
import shutil
import uuid

import keras
import tensorflow as tf


def next_version(export_base):
    """1 + the largest integer version directory under `export_base` (1 if there is none)."""
    base = pathlib.Path(export_base)
    versions = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] \
        if base.exists() else []
    return max(versions, default=0) + 1


def export_classifier(model, export_base, version=None, extra_files=None):
    """Writes `model` as a SavedModel to `<export_base>/<version>/` and returns that path.

    Args:
        model: a Keras classifier with an `image_shape` attribute (the evaluation network).
        export_base: the directory TF Serving watches.
        version: integer version; default: the next free one.
        extra_files: {file name: text} written into `assets.extra/` (e.g. the genotype JSON and
            the resolved config).
    """
    base = pathlib.Path(export_base)
    version = next_version(base) if version is None else int(version)
    target = base / str(version)
    if target.exists():
        raise FileExistsError(
            f"Export version {version} already exists in {str(base)!r}; choose another "
            "version or leave it out to use the next free one.")
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(images):
        logits = model(images, training=False)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits),
                "classes": tf.argmax(logits, axis=-1)}

    archive.add_endpoint(
        "serving_default", serve,
        input_signature=[tf.TensorSpec([None, *model.image_shape], tf.float32, name="images")])
    base.mkdir(parents=True, exist_ok=True)
    temporary = base / f".tmp-{version}-{uuid.uuid4().hex}"
    try:
        archive.write_out(str(temporary), verbose=False)
        if extra_files:
            extra = temporary / "assets.extra"
            extra.mkdir(exist_ok=True)
            for name, text in extra_files.items():
                (extra / name).write_text(text, encoding="utf-8")
        os.rename(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target
