"""absl command-line entry points: egs-search, egs-train, egs-export, egs-pipeline."""
