# The README's two commands. Both create the virtualenv on first use (offline from the package
# registries) and reuse it afterwards.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: demo demo-segmentation test lint benchmark clean

$(STAMP): setup.py pyproject.toml egs_keras/version.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test,litert]"
	touch $(STAMP)

## make demo: set up and run the main job on the bundled digits: search → genotype → train →
## test accuracy → SavedModel and LiteRT files, all in runs/demo (run it again to resume or to
## see the summary).
demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(VENV)/bin/egs-pipeline --config=configs/demo.py \
		--workdir=runs/demo --config.data.data_dir=runs/tfds

## make demo-segmentation: the demo's search, then its cells segmenting generated shapes → mean
## IoU → SavedModel, in runs/shapes.
demo-segmentation: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(VENV)/bin/egs-pipeline --config=configs/shapes_segmentation.py \
		--workdir=runs/shapes --config.data.data_dir=runs/tfds \
		--config.cell_search.data.data_dir=runs/tfds

## make test: set up, lint and run the test suite on two workers, one module per worker at a time
## so that a module's shared fixtures are built once (most of a test's time is single-threaded
## Python: tracing, process start-up), the longest modules first (tests/conftest.py orders
## them; xdist would otherwise order modules by their number of tests), then the multi-worker
## cluster tests alone (their processes synchronise every step), printing the slowest tests.
test: $(STAMP)
	$(VENV)/bin/ruff check egs_keras trainers configs tests benchmarks tools setup.py
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadscope --no-loadscope-reorder -m "not cluster"
	$(VENV)/bin/python -m pytest -q -m cluster

lint: $(STAMP)
	$(VENV)/bin/ruff check egs_keras trainers configs tests benchmarks tools setup.py

benchmark: $(STAMP)
	$(VENV)/bin/python benchmarks/estimator_benchmark.py

clean:
	rm -rf $(VENV) *.egg-info
