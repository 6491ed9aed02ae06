"""Pictures of searched cells and of α: Graphviz DOT, PNG, heat-maps, TensorBoard images.

>>> from egs_keras import search_space
>>> genotype = search_space.published_genotype("darts_v2")
>>> print(cell_to_dot(genotype, "normal").splitlines()[0])
digraph normal {

PNG files come from Graphviz's `dot` program when it is installed (`apt-get install graphviz`),
otherwise from matplotlib, so a picture is always produced.
"""

import io
import pathlib
import shutil
import subprocess

import numpy as np

from egs_keras import _validation

_INPUT_LABELS = {"cnn": ["c_{k-2}", "c_{k-1}"], "rnn": ["s_0(x_t, h_{t-1})"]}
_OUTPUT_LABEL = {"cnn": "c_{k}", "rnn": "h_t"}


def _node_labels(genotype, cell):
    inputs = _INPUT_LABELS[genotype.kind][: cell.num_inputs]
    inputs += [f"in_{i}" for i in range(len(inputs), cell.num_inputs)]
    return inputs + [str(j) for j in range(len(cell.nodes))]


def _cell(genotype, cell_name):
    if cell_name not in genotype.cells:
        raise _validation.invalid("cell_name", f"one of {sorted(genotype.cells)}", cell_name)
    return genotype.cells[cell_name]


def cell_to_dot(genotype, cell_name):
    """The DOT source of one cell: one labelled arrow per (operation, input) pair."""
    cell = _cell(genotype, cell_name)
    labels = _node_labels(genotype, cell)
    lines = [f"digraph {cell_name} {{", "  rankdir=LR;",
             '  node [style="filled,rounded", shape=box, fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=11];']
    for i in range(cell.num_inputs):
        lines.append(f'  n{i} [label="{labels[i]}", fillcolor=darkseagreen2];')
    for j in range(len(cell.nodes)):
        lines.append(f'  n{cell.num_inputs + j} [label="{j}", shape=circle, '
                     'fillcolor=lightblue];')
    lines.append(f'  out [label="{_OUTPUT_LABEL[genotype.kind]}", fillcolor=palegoldenrod];')
    for j, node in enumerate(cell.nodes):
        for op, i in node:
            lines.append(f'  n{i} -> n{cell.num_inputs + j} [label="{op}"];')
    for c in cell.concat:
        lines.append(f'  n{c} -> out [color=gray];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def save_cell_pictures(genotype, directory, renderer="auto"):
    """Writes `<cell>.dot` and `<cell>.png` for every cell; returns the PNG paths.

    Args:
        genotype: a `search_space.Genotype`.
        directory: where to write (created if missing).
        renderer: "auto" (Graphviz if `dot` is on the PATH, else matplotlib), "graphviz" or
            "matplotlib".
    """
    if renderer not in ("auto", "graphviz", "matplotlib"):
        raise _validation.invalid("renderer", '"auto", "graphviz" or "matplotlib"', renderer)
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dot_program = shutil.which("dot")
    if renderer == "graphviz" and dot_program is None:
        raise RuntimeError("renderer='graphviz' needs Graphviz's `dot` program: install it "
                           "(e.g. `apt-get install graphviz`) or use renderer='matplotlib'.")
    paths = []
    for name in genotype.cells:
        source = cell_to_dot(genotype, name)
        (directory / f"{name}.dot").write_text(source, encoding="utf-8")
        png = directory / f"{name}.png"
        if dot_program and renderer != "matplotlib":
            subprocess.run([dot_program, "-Tpng", "-o", str(png)], input=source.encode(),
                           check=True, capture_output=True)
        else:
            png.write_bytes(cell_png(genotype, name))
        paths.append(png)
    return paths


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("Drawing PNGs needs matplotlib (`pip install matplotlib`) or "
                           "Graphviz's `dot` program (`apt-get install graphviz`).") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cell_png(genotype, cell_name):
    """PNG bytes of one cell drawn with matplotlib: nodes left to right, one arc per edge
    labelled with its operations."""
    plt = _pyplot()
    from matplotlib.patches import FancyArrowPatch

    cell = _cell(genotype, cell_name)
    labels = _node_labels(genotype, cell) + [_OUTPUT_LABEL[genotype.kind]]
    count, inputs = len(labels), cell.num_inputs
    # Inputs stacked on the left; intermediate nodes zig-zag to the right; output last.
    x = np.array([0.0] * inputs + [3.0 + 2.4 * j for j in range(count - inputs)])
    y = np.array(list(np.linspace(1.8, -1.8, inputs) if inputs > 1 else [0.0])
                 + [1.0 * (-1) ** j for j in range(count - inputs - 1)] + [0.0])
    figure, axes = plt.subplots(figsize=(3.0 + 2.0 * (count - inputs), 5.0))
    # One arc per edge, labelled with all of its operations (EGS edges may carry several).
    edge_ops = {}
    for j, node in enumerate(cell.nodes):
        for op, i in node:
            edge_ops.setdefault((i, inputs + j), []).append(op)
    for (i, target), ops in edge_ops.items():
        rad = 0.15 if target - i > 1 and i >= inputs else 0.0
        axes.add_patch(FancyArrowPatch((x[i], y[i]), (x[target], y[target]),
                                       connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                       mutation_scale=14, color="steelblue", lw=1.3,
                                       shrinkA=16, shrinkB=16))
        # Label on the arc, 60% of the way: the chord point moved sideways by the bulge.
        dx, dy = x[target] - x[i], y[target] - y[i]
        bulge = rad * 4 * 0.6 * 0.4 / 2
        lx, ly = x[i] + 0.6 * dx + bulge * dy, y[i] + 0.6 * dy - bulge * dx
        axes.text(lx, ly, "\n".join(ops), fontsize=7, ha="center", va="center",
                  color="navy", linespacing=1.0,
                  bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    for c in cell.concat:
        axes.add_patch(FancyArrowPatch((x[c], y[c]), (x[-1], y[-1]),
                                       connectionstyle="arc3,rad=-0.2", arrowstyle="-|>",
                                       mutation_scale=10, color="gray", lw=0.8, shrinkA=14,
                                       shrinkB=14))
    colours = (["darkseagreen"] * cell.num_inputs + ["lightblue"] * len(cell.nodes)
               + ["palegoldenrod"])
    for k, label in enumerate(labels):
        axes.text(x[k], y[k], label, ha="center", va="center", fontsize=10,
                  bbox=dict(boxstyle="round,pad=0.4", fc=colours[k], ec="black"))
    axes.set_xlim(-1.2, x[-1] + 1.2)
    axes.set_ylim(-2.6, 2.6)
    axes.set_axis_off()
    axes.set_title(f"{genotype.name or genotype.kind} — {cell_name} cell")
    return _figure_png(plt, figure)


def alpha_heatmap_png(probabilities, primitives):
    """PNG bytes of p per edge and operation, one panel per cell type."""
    plt = _pyplot()
    names = list(probabilities)
    figure, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 5.5), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        values = np.asarray(probabilities[name])
        image = axis.imshow(values, cmap="viridis", vmin=0.0, vmax=max(values.max(), 1e-6),
                            aspect="auto")
        axis.set_xticks(range(len(primitives)), primitives, rotation=60, ha="right", fontsize=8)
        axis.set_yticks(range(values.shape[0]), [f"edge {e}" for e in range(values.shape[0])],
                        fontsize=8)
        axis.set_title(f"p ({name})")
        figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    return _figure_png(plt, figure)


def _figure_png(plt, figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def write_tensorboard_images(logdir, step, images):
    """Writes {tag: PNG bytes} as TensorBoard image summaries at `step`."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        for tag, png in images.items():
            tf.summary.image(tag, tf.image.decode_png(png, channels=4)[tf.newaxis], step=step)
    writer.flush()
