"""The export formats a run can ask for (`config.export.formats`, `egs-export --format`).

Every version directory is a SavedModel (TF Serving reads it); "litert" adds `litert/` inside
it, with the `.tflite` files and `litert.json` (`export.litert`).

>>> check_formats("saved_model,litert")
('saved_model', 'litert')
"""

from egs_keras import _validation

FORMATS = ("saved_model", "litert")
LITERT_DIRECTORY = "litert"  # in the version directory, beside the SavedModel


def check_formats(formats, field="formats"):
    """`formats` (a list or a comma-separated string) as a tuple in `FORMATS` order, or a
    ValueError naming `field`."""
    listed = [f for f in formats.split(",") if f] if isinstance(formats, str) else formats
    if (not isinstance(listed, (list, tuple)) or "saved_model" not in listed
            or any(f not in FORMATS for f in listed)):
        raise _validation.invalid(
            field, f"a comma-separated list of {', '.join(FORMATS)} that holds saved_model",
            formats, hint="Every version directory is a SavedModel (TF Serving reads it); "
            "litert adds the .tflite files inside it: saved_model,litert.")
    return tuple(f for f in FORMATS if f in listed)
