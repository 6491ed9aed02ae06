"""`SearchModel`: architecture search on any Keras graph with EGS decisions in it, and its
derivation to a plain Keras model.

Build a Functional model as usual, with `EGSChoice` blocks (or any `EnsembleGumbelSoftmax`
owning logits, e.g. of `EGSCell`s) where the architecture is open, and make it a
`SearchModel` instead of a `keras.Model`:

>>> inputs = keras.Input((16, 16, 3))
>>> x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
>>> x = EGSChoice([keras.layers.Conv2D(8, k, padding="same", name=f"conv{k}")
...                for k in (3, 5, 7)], name="kernel")(x)
>>> outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
>>> model = SearchModel(inputs, outputs)
>>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
>>> model.fit(images, labels)                                        # doctest: +SKIP
>>> model.architecture()                                             # doctest: +SKIP
{'kernel': ['conv5']}
>>> plain = model.derive()          # a keras.Model without EGS layers, weights inherited

`fit` trains the network weights with `optimizer` and the decisions' logits α with
`arch_optimizer`, jointly (the paper) or bilevel (DARTS' first order, on
`((x_train, y_train), (x_val, y_val))` batches); the architecture statistics
(`temperature`, `alpha_entropy`, `active_ops`) are logged every step; `TemperatureScheduler`
anneals every decision; `tf.distribute` works as for the DARTS search networks.
"""

import keras

from egs_keras import _compat
from egs_keras import _validation
from egs_keras import record_files
from egs_keras.layers.egs_choice import EGSChoice
from egs_keras.layers.ensemble_gumbel_softmax import EnsembleGumbelSoftmax
from egs_keras.models.architecture_search import ArchitectureSearch
from egs_keras.models.architecture_search import check_search_mode

WEIGHTS = ("inherit", "reinitialize")


@keras.saving.register_keras_serializable(package="egs_keras")
class SearchModel(ArchitectureSearch, keras.Model):
    """A Functional model whose EGS decisions are searched by `fit` (see the module doc).

    Args:
        inputs, outputs: as for `keras.Model(inputs, outputs)`.
        search_mode: "joint" (one pass updates weights and α) or "bilevel".
        **kwargs: `name` and the other `keras.Model` arguments.
    """

    def __init__(self, *args, search_mode="joint", **kwargs):
        super().__init__(*args, **kwargs)
        self.search_mode = check_search_mode(search_mode)
        self.decisions = find_decisions(self)
        if not self.decisions:
            raise ValueError(
                f"Received a model {self.name!r} without any EGS decision, expected at least "
                "one `EGSChoice` (or an `EnsembleGumbelSoftmax` owning logits) in its graph: "
                "there is no architecture to search. Put an EGSChoice where the architecture "
                "is open, or train the model as a plain `keras.Model`.")

    def get_config(self):
        config = super().get_config()
        config["search_mode"] = self.search_mode
        return config

    @property
    def choices(self):
        """The `EGSChoice` layers of the graph, nested ones included, by name."""
        choices = {}
        for layer in _compat.flatten_layers(self):
            if isinstance(layer, EGSChoice):
                if layer.name in choices and choices[layer.name] is not layer:
                    raise ValueError(
                        f"Received two choices named {layer.name!r}, expected distinct names: "
                        "they key `architecture()`. Pass `name=` to each EGSChoice.")
                choices[layer.name] = layer
        return choices

    def architecture(self):
        """{choice name: [names of the candidates in its most probable code]}."""
        return {name: [choice.candidates[k].name for k in choice.chosen()]
                for name, choice in self.choices.items()}

    def save_architecture(self, path):
        """Writes `architecture()` as JSON to `path` (atomically); returns the path."""
        return record_files.write_json(path, self.architecture())

    def save(self, filepath, *args, **kwargs):
        """Keras `save`, plus the architecture as JSON beside a `.keras` file
        (`model.keras` → `model.architecture.json`)."""
        super().save(filepath, *args, **kwargs)
        if str(filepath).endswith(".keras"):
            self.save_architecture(str(filepath)[:-len(".keras")] + ".architecture.json")

    def derive(self, weights="inherit", architecture=None):
        """A plain `keras.Model` without EGS layers: each `EGSChoice` replaced by its chosen
        candidate (or, when the most probable code has several, a sub-model adding them, or
        averaging them for `reduction="mean"`). `weights="inherit"` copies every weight
        (the search's training carries over; in inference the derived model computes what
        this one does), "reinitialize" leaves the fresh initial weights for retraining.
        `architecture`: {choice name: [candidate names]} to build instead of the searched
        one (e.g. baselines: the largest candidates, random ones), for every choice."""
        if weights not in WEIGHTS:
            raise _validation.invalid("weights", f"one of {list(WEIGHTS)}", weights)
        chosen = _architecture_indices(self.choices, architecture)
        copies = []

        def clone(layer):
            if isinstance(layer, EGSChoice):
                return _chosen_block(layer, chosen[layer.name], clone_any)
            inside = [inner.name for inner in _compat.flatten_layers(layer, include_self=True)
                      if isinstance(inner, (EGSChoice, EnsembleGumbelSoftmax))]
            if inside:
                raise ValueError(
                    f"Received layer {layer.name!r} holding the EGS layers {inside} outside an "
                    "EGSChoice of a Functional or Sequential graph, expected none: derive() "
                    "rebuilds those graphs with each EGSChoice replaced, and cannot look "
                    "inside other layers. Build that part as a Functional or Sequential "
                    "model, or derive DARTS cells with `genotype()` of their search networks.")
            new = layer.__class__.from_config(layer.get_config())
            copies.append((new, layer))
            return new

        def clone_any(layer):
            if isinstance(layer, keras.Model) and _compat.is_graph_model(layer):
                return keras.models.clone_model(layer, clone_function=clone, recursive=True)
            return clone(layer)

        derived = keras.models.clone_model(keras.Model(self.inputs, self.outputs),
                                           clone_function=clone, recursive=True)
        derived = keras.Model(derived.inputs, derived.outputs, name=f"{self.name}_derived")
        if weights == "inherit":
            for new, old in copies:
                new.set_weights(old.get_weights())
        return derived


def _architecture_indices(choices, architecture):
    """{choice name: candidate indices} of `architecture` (names), checked against the
    choices; None: the most probable codes."""
    if architecture is None:
        return {name: choice.chosen() for name, choice in choices.items()}
    if not isinstance(architecture, dict) or set(architecture) != set(choices):
        raise _validation.invalid(
            "architecture", f"a dict with one entry per choice, {sorted(choices)}",
            architecture)
    indices = {}
    for name, picked in architecture.items():
        names = choices[name].candidate_names
        if isinstance(picked, str) or not picked or any(p not in names for p in picked):
            raise _validation.invalid(f"architecture[{name!r}]",
                                      f"a non-empty list of names from {names}", picked)
        indices[name] = sorted({names.index(p) for p in picked})
    return indices


def find_decisions(model):
    """{name: EnsembleGumbelSoftmax owning logits} of every decision in `model`'s layers."""
    decisions = {}
    for layer in _compat.flatten_layers(model):  # each layer once, shared ones too
        if isinstance(layer, EnsembleGumbelSoftmax) and layer.logits_shape is not None:
            name, n = layer.name, 1
            while name in decisions:
                n += 1
                name = f"{layer.name}_{n}"
            decisions[name] = layer
    return decisions


def _chosen_block(choice, indices, clone):
    """What replaces `choice` in the derived model: its candidates `indices`, cloned."""
    chosen = [clone(choice.candidates[k]) for k in indices]
    if len(chosen) == 1:
        return chosen[0]
    inputs = keras.Input(batch_shape=choice.input_shape_)
    outputs = keras.layers.Add()([candidate(inputs) for candidate in chosen])
    if choice.reduction == "mean":
        outputs = keras.layers.Rescaling(1.0 / len(chosen))(outputs)
    return keras.Model(inputs, outputs, name=choice.name)

