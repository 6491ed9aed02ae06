"""The whole job in one work directory: search → genotype (JSON + PNG) → evaluation training
→ test accuracy → SavedModel. `egs-pipeline` (and `make demo`) call `run_pipeline`.

A config with a `genotype` (a published name or a JSON file; segmentation configs have the
field) trains on it without searching; otherwise the genotype comes from the config's search
(a segmentation config's from its `cell_search`).

Layout::

    <workdir>/config.json     the resolved config
    <workdir>/search/         the search run (history, logs, checkpoints, genotype.json, cells/)
    <workdir>/train/          the evaluation run (history, logs, checkpoints, results.json)
    <workdir>/export/<n>/     the SavedModel, ready for TF Serving (with `config.export.formats`
                              "saved_model,litert": litert/, the .tflite files)
    <workdir>/summary.json    genotype, test accuracy, size, export path (and the exported
                              files' sizes and single-example latencies, with LiteRT)

Every stage resumes: the same command after an interruption continues where it stopped.
"""

import pathlib

from egs_keras import record_files
from egs_keras import search_space
from egs_keras.export import deployment
from egs_keras.export import formats as export_formats
from egs_keras.export import litert
from egs_keras.runs import export
from egs_keras.runs import tasks
from egs_keras.training import config as run_config
from egs_keras.training.workdir import Workdir


def run_pipeline(config, workdir, strategy="default"):
    """Runs every stage for `config` in `workdir`; returns the summary dict."""
    tasks.check_data(config)  # a missing data set is said before anything is written
    if "litert" in _export_settings(config)[0]:
        litert.interpreter_class()  # not installed: said now, not after the training
    return _run_stages(config, workdir, strategy)


def _export_settings(config):
    """(formats, LiteRT quantizations) of `config.export` (SavedModel only without one)."""
    settings = config.get("export") or run_config.export_section()
    return export_formats.check_formats(settings.formats), settings.litert_quantizations


def _run_stages(config, workdir, strategy="default"):
    with Workdir.open(workdir, strategy) as run_dir:
        workdir, chief = run_dir.path, run_dir.chief
        summary_path = workdir / "summary.json"
        run_dir.accept_config(config)
        formats, quantizations = _export_settings(config)
        if summary_path.exists():  # finished before: nothing left to do
            try:
                summary = record_files.read_json(summary_path, "the pipeline's summary")
            except record_files.RecordError as error:  # rewritten below from the stages' records
                print(f"Warning: {error} Writing it again from the stages' records.")
                summary = {}
            finished = summary.get("epochs") == config.train.epochs  # else: more were asked
            if (finished and "export" in summary and pathlib.Path(summary["export"]).exists()
                    and ("runtimes" in summary or "litert" not in formats)):
                return summary
        if config.get("genotype"):
            genotype = search_space.load_genotype(config.genotype)  # given: no search
        else:
            genotype = tasks.run_search(config, workdir / "search", strategy)
        results = tasks.run_training(config, workdir / "train", genotype, strategy)
        results.pop("model")
        summary = {**results, "genotype": genotype.to_dict()}
        if chief:  # (under multi_worker the other workers only train)
            export_path = export.export_training_run(
                workdir / "train", workdir / "export", formats=formats,
                quantizations=quantizations)
            summary["export"] = str(export_path)
            if "litert" in formats:
                summary["runtimes"] = deployment.compare_runtimes(export_path)
            record_files.write_json(summary_path, summary)
        return summary


