import keras
import numpy as np
import tensorflow as tf

from egs_keras.metrics import SegmentationIoU

NAMES = ["background", "square", "disk", "triangle"]


def _numpy_iou(labels, predictions, num_classes, ignore=255):
    keep = labels != ignore
    labels, predictions = labels[keep], predictions[keep]
    ious, present = [], []
    for c in range(num_classes):
        intersection = np.sum((labels == c) & (predictions == c))
        union = np.sum((labels == c) | (predictions == c))
        ious.append(intersection / union if union else 0.0)
        present.append(union > 0)
    return np.array(ious), np.mean(np.array(ious)[present])


def test_iou_per_class_and_mean_match_the_definition_over_several_batches():
    rng = np.random.default_rng(0)
    metric = SegmentationIoU(NAMES)
    all_labels, all_predictions = [], []
    for _ in range(3):
        labels = rng.integers(0, 3, size=(2, 6, 5))  # class 3 never occurs ...
        labels[rng.random(labels.shape) < 0.2] = 255  # ... and a fifth is ignored
        logits = rng.normal(size=(2, 6, 5, 4)).astype(np.float32)
        logits[..., 3] -= 100  # ... nor is it predicted: left out of the mean
        metric.update_state(labels, logits)
        all_labels.append(labels)
        all_predictions.append(logits.argmax(-1))
    ious, mean = _numpy_iou(np.concatenate(all_labels), np.concatenate(all_predictions), 4)
    result = metric.result()
    assert list(result) == ["mean_iou"] + [f"iou_{n}" for n in NAMES]
    np.testing.assert_allclose([float(result[f"iou_{n}"]) for n in NAMES], ious, rtol=1e-6)
    np.testing.assert_allclose(float(result["mean_iou"]), mean, rtol=1e-6)
    metric.reset_state()
    assert float(metric.result()["mean_iou"]) == 0.0


def test_logs_of_fit_carry_every_class_and_labels_may_have_a_channel_axis():
    x = tf.random.normal([4, 8, 8, 3])
    y = tf.cast(x[..., :1] > 0, tf.int32)  # [N, H, W, 1] labels
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[SegmentationIoU(["off", "on"])])
    logs = model.fit(x, y, epochs=1, verbose=0).history
    assert {"mean_iou", "iou_off", "iou_on"} <= set(logs)
    restored = SegmentationIoU.from_config(SegmentationIoU(["off", "on"]).get_config())
    assert restored.class_names == ["off", "on"] and restored.ignore_class == 255
