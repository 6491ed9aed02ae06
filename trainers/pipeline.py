"""egs-pipeline: search → genotype (JSON + PNG) → evaluation training → test accuracy →
SavedModel, all in one work directory. Interrupted, the same command resumes.

    egs-pipeline --config=configs/demo.py --workdir=runs/demo
"""

import json

from absl import flags

from egs_keras import runs
from egs_keras.export import litert
from trainers import run_flags
from trainers import startup

CONFIG = run_flags.define_config()
WORKDIR = run_flags.define_workdir()
STRATEGY = run_flags.define_strategy()
flags.adopt_module_key_flags(run_flags)  # listed by --help
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    startup.begin(argv)
    summary = runs.run_pipeline(run_flags.resolved_config(CONFIG), WORKDIR.value,
                                    STRATEGY.value)
    summary.pop("genotype")
    print(json.dumps(summary, indent=2))
    if "runtimes" in summary:
        print(runtimes_table(summary["runtimes"]))
    print(f"Work directory: {WORKDIR.value} (genotype: search/genotype.json, pictures: "
          "search/cells/, SavedModel: export/)")


def runtimes_table(runtimes):
    """The exported files' sizes and single-example latencies as a small text table."""
    names = {"saved_model": "SavedModel, TensorFlow"}
    lines = ["Exported network, one example at a time on this machine:",
             f"  {'file and runtime':<30}{'size':>12}{'latency':>12}"]
    order = ["saved_model", *(f"litert_{q}" for q in litert.QUANTIZATIONS)]
    for key in sorted(runtimes, key=lambda k: order.index(k) if k in order else len(order)):
        row = runtimes[key]
        name = names.get(key, key.replace("litert_", "LiteRT, ") + " .tflite")
        lines.append(f"  {name:<30}{row['bytes'] / 1e3:>9.1f} kB{row['milliseconds']:>9.2f} ms")
    return "\n".join(lines)


def run_main():
    startup.run(main)


if __name__ == "__main__":
    run_main()
