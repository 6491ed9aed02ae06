import shutil

import numpy as np
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras import visualize


def _multi_op_genotype():
    cell = search_space.CellGenotype(
        nodes=[[("sep_conv_3x3", 0), ("skip_connect", 0), ("max_pool_3x3", 1)],
               [("dil_conv_5x5", 2)]], concat=[2, 3])
    return search_space.Genotype(cells={"normal": cell, "reduce": cell}, name="multi")


def test_dot_has_one_labelled_arrow_per_operation():
    dot = visualize.cell_to_dot(_multi_op_genotype(), "normal")
    assert dot.count('n0 -> n2 [label="sep_conv_3x3"]') == 1
    assert dot.count('n0 -> n2 [label="skip_connect"]') == 1  # two operations on one edge
    assert dot.count("-> out") == 2 and dot.startswith("digraph normal {")
    with pytest.raises(ValueError, match="`cell_name`"):
        visualize.cell_to_dot(_multi_op_genotype(), "recurrent")


def _decode(path):
    return tf.image.decode_png(path.read_bytes()).numpy()


@pytest.mark.parametrize("name", ["darts_v2", "darts_rnn_v2"])
def test_matplotlib_pictures_are_real_images(name, tmp_path):
    genotype = search_space.published_genotype(name)
    paths = visualize.save_cell_pictures(genotype, tmp_path / "cells", renderer="matplotlib")
    assert [p.name for p in paths] == [f"{c}.png" for c in genotype.cells]
    for path in paths:
        image = _decode(path)
        assert image.shape[0] > 200 and image.shape[1] > 400
        assert image[..., :3].std() > 10  # not a blank canvas
        assert (path.with_suffix(".dot")).read_text().startswith("digraph")


def test_graphviz_renderer_or_a_clear_message(tmp_path):
    genotype = _multi_op_genotype()
    if shutil.which("dot"):
        paths = visualize.save_cell_pictures(genotype, tmp_path, renderer="graphviz")
        assert _decode(paths[0]).shape[0] > 50
    else:
        with pytest.raises(RuntimeError, match="apt-get install graphviz"):
            visualize.save_cell_pictures(genotype, tmp_path, renderer="graphviz")
        assert visualize.save_cell_pictures(genotype, tmp_path)[0].exists()  # falls back


def test_alpha_heatmap_and_tensorboard_images(tmp_path):
    probs = {"normal": np.random.default_rng(0).dirichlet(np.ones(8), size=14),
             "reduce": np.full((14, 8), 1 / 8)}
    png = visualize.alpha_heatmap_png(probs, search_space.CNN_PRIMITIVES)
    assert tf.image.decode_png(png).shape[1] > 400
    visualize.write_tensorboard_images(tmp_path, 3, {"alpha": png})
    events = list(tmp_path.glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > len(png) // 2
