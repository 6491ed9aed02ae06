"""Examples of searching one's own Keras model with `EGSChoice` and `SearchModel`, run and
tested: `mobilenet` (blocks choosing kernel size, expansion and skip, on images) and
`tabular` (a dense network choosing activations and widths)."""
