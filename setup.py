"""pip packaging for egs_keras: `pip install .` or, for development, `pip install -e ".[test]"`."""

import pathlib
import re

import setuptools

HERE = pathlib.Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "egs_keras" / "version.py").read_text()
).group(1)

setuptools.setup(
    name="egs_keras",
    version=VERSION,
    description=(
        "Differentiable architecture search with an Ensemble Gumbel-Softmax (DARTS-EGS) "
        "for TensorFlow 2 and Keras 3."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["egs_keras", "egs_keras.*", "trainers"]),
    package_data={"egs_keras": ["genotypes/*.json", "data/bundled/*"]},
    include_package_data=True,
    install_requires=[
        # Pinned to a minor version: egs_keras/_compat.py lists the private Keras/TF APIs
        # used, each with the test that breaks; check them all when these pins move.
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<3.16",
        "tensorflow-datasets>=4.9",
        "keras-tuner>=1.4.7",
        "absl-py>=2.1",
        "ml-collections>=0.1.1",  # configs with --config.field=value overrides
        "tensorflow-serving-api>=2.21,<2.22",  # warm-up records and the gRPC client
        "tensorboard>=2.21",  # TF 2.21 no longer installs it; Keras' TensorBoard callback needs it
        "numpy>=1.26",
        "matplotlib>=3.7",  # cell pictures and α heat-maps when Graphviz is missing
    ],
    extras_require={
        # LiteRT's interpreter, to run and time exported .tflite files (the converter is
        # TensorFlow's): `config.export.formats = "saved_model,litert"`, egs-export --format.
        "litert": ["ai-edge-litert>=2.0"],
        "test": [
            "pytest>=8",
            "pytest-xdist>=3.5",  # make test runs the suite on two workers
            "scipy>=1.11",
            "ruff>=0.6",
            "dill",  # tfds.testing needs these two
            "importlib_resources",
        ],
    },
    entry_points={"console_scripts": [
        "egs-demo=egs_keras.demo:run_main",
        "egs-search=trainers.search:run_main",
        "egs-train=trainers.train:run_main",
        "egs-export=trainers.export:run_main",
        "egs-pipeline=trainers.pipeline:run_main",
        "egs-count=trainers.count:run_main",
        "egs-tune=trainers.tune:run_main",
        "egs-compare=trainers.compare:run_main",
        "egs-mobilenet=trainers.mobilenet:run_main",
    ]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Framework :: TensorFlow",
    ],
)
