"""egs-pipeline: search → genotype (JSON + PNG) → evaluation training → test accuracy →
SavedModel, all in one work directory. Interrupted, the same command resumes.

    egs-pipeline --config=configs/demo.py --workdir=runs/demo
"""

import json

from absl import app

from egs_keras.training import pipeline
from trainers import logging_setup
from trainers import run_flags


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}; all options are flags.")
    logging_setup.quiet_logging()
    summary = pipeline.run_pipeline(run_flags.resolved_config(), run_flags.WORKDIR.value,
                                    run_flags.STRATEGY.value)
    genotype = summary.pop("genotype")
    print(json.dumps(summary, indent=2))
    print(f"Genotype: {run_flags.WORKDIR.value}/search/genotype.json "
          f"({sum(len(n) for c in genotype['cells'].values() for n in c['nodes'])} operations)")


def run_main():
    app.run(main)


if __name__ == "__main__":
    run_main()
