"""SavedModel export of trained segmentation networks, in TF Serving's layout
`<export_base>/<version>/`.

>>> path = export_segmenter(model, "runs/voc/export", dataset="voc2012")    # doctest: +SKIP
>>> served = tf.saved_model.load(str(path))                                # doctest: +SKIP
>>> served.signatures["serving_default"](images=batch)["class_map"]       # doctest: +SKIP

Signatures (stable input and output names):

* `serving_default`: `images`, float32 `[N, H, W, 3]`, normalised as in evaluation, any H and
  W divisible by the output stride; returns `class_map` (int64 `[N, H, W]`, the most probable
  class of every pixel), `probabilities` (`[N, H, W, classes]`) and `logits`.
* `serving_bytes`: `image_bytes`, a string `[N]` of encoded JPEG, PNG, GIF or BMP images of one
  size (any size): decoded, normalised and padded to a multiple of the output stride in the
  graph; the same outputs, cropped back to the images' size.

Inputs are checked in the graph (rank, channels, sizes, an empty batch, NaN or Inf, images of
different sizes in one batch), so TF Serving answers bad requests with an
`InvalidArgumentError` that says what was wrong. `assets.extra/class_names.txt` lists the
classes, one per line, in label order.
"""

import keras
import tensorflow as tf

from egs_keras.data import segmentation_datasets
from egs_keras.export import image_headers
from egs_keras.export import saved_model
from egs_keras.export import warmup as warmup_records


def _outputs(logits):
    logits = saved_model.checked_outputs(logits)
    return {"logits": logits, "probabilities": tf.nn.softmax(logits),
            "class_map": tf.argmax(logits, axis=-1)}


def export_segmenter(model, export_base, dataset, version=None, extra_files=None, warmup=True,
                     warmup_size=None, max_image_pixels=None, max_batch_pixels=None):
    """Writes a `SegmentationNetwork` as a SavedModel to `<export_base>/<version>/` and
    returns that path.

    Args:
        model: the trained segmentation network.
        export_base: the directory TF Serving watches.
        dataset: the data set it was trained on (`data.segmentation_datasets.DATASETS`): its
            normalisation goes into `serving_bytes`, its class names into the assets.
        version: integer version; default: the next free one.
        extra_files: more {file name: text} for `assets.extra/` (genotype, config).
        warmup: write TF Serving warm-up requests for both signatures.
        warmup_size: side of the warm-up images (default: the data set's evaluation size).
        max_image_pixels, max_batch_pixels: the limits of `serving_bytes` on the pixels the
            images' headers declare (`saved_model.export_classifier`); defaults from the
            data set's evaluation size (`image_headers.default_limits`).
    """
    spec = segmentation_datasets.get_dataset(dataset)
    if model.num_classes != spec.num_classes:
        raise ValueError(f"Received a model with {model.num_classes} classes for {dataset!r}, "
                         f"which has {spec.num_classes}; export it with its own data set.")
    limits = image_headers.default_limits(spec.eval_size, spec.eval_size, max_image_pixels,
                                          max_batch_pixels)
    target = saved_model.version_directory(export_base, version)
    channels, stride = model.channels, model.output_stride

    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve_images(images):
        images = saved_model.checked_images(images, channels, stride=stride)
        return _outputs(model(images, training=False))

    def serve_bytes(image_bytes):
        image_bytes = saved_model.checked_bytes(image_bytes, limits)

        def decode(encoded):
            return saved_model.decode_image_bytes(encoded, channels)

        size = tf.shape(decode(image_bytes[0]))[:2]

        def decode_same_size(encoded):
            image = decode(encoded)
            same = tf.debugging.Assert(
                tf.reduce_all(tf.equal(tf.shape(image)[:2], size)),
                ["Expected encoded images of one size in a batch; got", tf.shape(image)[:2],
                 "after", size], summarize=4)
            with tf.control_dependencies([same]):
                return segmentation_datasets.preprocess_for_evaluation(image, spec)

        images = tf.map_fn(decode_same_size, image_bytes, fn_output_signature=tf.TensorSpec(
            [None, None, channels], tf.float32))
        missing = -size % stride
        padded = tf.pad(images, [[0, 0], [0, missing[0]], [0, missing[1]], [0, 0]])
        logits = model(padded, training=False)[:, :size[0], :size[1]]
        return _outputs(logits)

    archive.add_endpoint(
        "serving_default", serve_images,
        input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32,
                                       name="images")])
    archive.add_endpoint(
        "serving_bytes", serve_bytes,
        input_signature=[tf.TensorSpec(None, tf.string, name="image_bytes")])
    extra = {"class_names.txt": "\n".join(spec.class_names) + "\n", **(extra_files or {})}
    warmup_inputs = None
    if warmup:
        side = warmup_size or spec.eval_size
        warmup_inputs = warmup_records.classifier_inputs((side, side, channels))
    return saved_model.write_versioned(archive, target, extra, warmup_inputs)
