"""Argument checks shared by ops and layers, with messages in one style.

Every message says which argument was wrong, what was received and what was expected; e.g.
`check_positive_int("num_samples", 0)` raises ``ValueError: Received an invalid value for
argument `num_samples`, expected a positive integer, got 0.``
"""

import math
import numbers

import numpy as np


def invalid(name, expected, value, hint=""):
    """Returns the ValueError for argument `name` (use as `raise invalid(...)`)."""
    message = (
        f"Received an invalid value for argument `{name}`, expected {expected}, got {value!r}."
    )
    return ValueError(message + (f" {hint}" if hint else ""))


MAX_SEED = 2**32 - 1  # numpy's and TensorFlow's seeding accept 0 .. 2**32 - 1


def check_seed(name, value):
    """Returns `value` as an int if it is an integer in [0, 2**32 - 1], else ValueError."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not 0 <= value <= MAX_SEED):
        raise invalid(name, f"an integer from 0 to {MAX_SEED} (2**32 - 1)", value)
    return int(value)


def check_path(name, value, example="runs/demo"):
    """Returns `value` (a path) unless it is an empty or blank string, which `pathlib` would
    read as the current directory; raises ValueError then."""
    if isinstance(value, str) and not value.strip():
        raise invalid(name, "a path", value,
                      "An empty path means the current directory, where the run's files would "
                      f"mix with everything else there: name one, e.g. {example}.")
    return value


def check_positive_int(name, value):
    """Returns `value` as an int if it is an integer >= 1, else raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise invalid(name, "a positive integer", value)
    return int(value)


def check_positive_float(name, value):
    """Returns `value` as a float if it is a finite number > 0, else raises ValueError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise invalid(name, "a finite number greater than 0", value)
    return float(value)


def check_image_shape(name, value):
    """Returns `value` as a tuple if it is (height, width, channels) of positive ints."""
    shape = tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(shape) != 3 or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in shape):
        raise invalid(name, "(height, width, channels), three positive integers", value)
    return tuple(int(d) for d in shape)


def check_non_negative_float(name, value):
    """A finite number >= 0 as a float, or a ValueError naming `name`."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < 0):
        raise invalid(name, "a finite number >= 0", value)
    return float(value)


def check_unit_interval(name, value):
    """Returns `value` as a float if it lies in [0, 1], else raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise invalid(name, "a number in [0, 1]", value)
    return float(value)


def check_rate(name, value):
    """Returns `value` as a float if it lies in [0, 1) (a dropout, momentum or smoothing rate),
    else raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise invalid(name, "a number in [0, 1)", value)
    return float(value)


def check_costs(name, costs, num_ops=None, rows_shape=None):
    """Returns `costs` as (nested) lists of floats: finite, non-negative costs, one per
    operation (`[K]`), or a table of them with one row per decision (`[..., K]`, e.g. one
    row per edge of a cell: `[num_edges, K]`, whose leading shape must then be
    `rows_shape`)."""
    try:
        array = np.asarray(costs, dtype="float64")
    except (TypeError, ValueError):
        raise invalid(name, "a list of non-negative numbers, one per operation", costs) from None
    if array.ndim == 0 or array.size == 0:
        raise invalid(name, "a non-empty list of costs, one per operation (or a table "
                      "[..., K] of them)", costs)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise invalid(name, "finite, non-negative costs (cheaper operation = smaller cost)", costs)
    if num_ops is not None and array.shape[-1] != num_ops:
        raise invalid(
            name,
            f"{num_ops} costs, one per operation (the logits' last dimension)",
            costs,
            hint=f"It has {array.shape[-1]} entries.",
        )
    if array.ndim > 1 and rows_shape is not None and tuple(array.shape[:-1]) != tuple(rows_shape):
        raise invalid(name, f"costs [K] or a table of shape {[*rows_shape, array.shape[-1]]} "
                      "(one row per decision)", f"shape {list(array.shape)}")
    return array.tolist()
