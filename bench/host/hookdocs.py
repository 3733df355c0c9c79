"""Render the hook reference (docs/plugins.md) from the hookspec docstrings.

``python -m bench.host.hookdocs > docs/plugins.md``; a test keeps the file in sync.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from bench.host import hookspecs

INTRO = """# Writing plugins

ECG Bench is extended through [pluggy](https://pluggy.readthedocs.io) hooks. A plugin is a
module with functions decorated by `hookimpl`; a third-party package exposes it in the
`bench` entry-point group:

```toml
[project.entry-points.bench]
my_plugin = "my_package.bench_plugin"
```

Everything a plugin needs is in **`bench.api`** (one import, listed below). The built-in
plugins (`bench.plugins.*`, `bench.tasks.*`, `bench.leaderboard.plugin`) use the same hooks.

## Rules of the house

- **Metadata at import, implementations on use.** The registered module must not import
  torch, timm, torchvision, POT or matplotlib (a test checks the built-ins in a fresh
  interpreter): every plugin loads for `bench --help` and `bench list`. Spec fields that
  hold code take a small function that imports inside, or a
  `LazyFunction("my_package.model:build")`; a heavy command registers with
  `add_lazy_command(cli, "name", "my_package.cli:command", "One-line help.")`.
- **Hooks are called by pluggy.** `tryfirst`/`trylast`, `wrapper=True` (and old-style
  `hookwrapper=True`) behave as pluggy documents. Each implementation is isolated: an
  exception is recorded against its plugin and hook, with the file and line, and the other
  plugins go on.
- **Failures are visible.** A plugin that fails to import, implements an unknown hook
  (`unknown hook 'bench_register_model'; did you mean 'bench_register_models'?`) or raises
  in a hook is listed by `bench plugins` (status `error`, also in `--json`) and warned
  about in one line on every command; `bench --verbose ...` adds the traceback.
  `bench --strict-plugins ...` or `BENCH_STRICT_PLUGINS=1` (CI) turns any plugin error
  into exit code 2. An unknown `--model`/`--task` names the plugins that failed to load.
- `BENCH_LOAD_PLUGINS=bench.plugins.metrics,my_plugin` restricts loading to the named
  plugins.

## The public API: `bench.api`

| names | what |
|---|---|
| `hookimpl`, `__version__` | the hook marker and the harness version |
| `refuse_second_import_name` | guard for a plugin package imported under a second name |
| `tokens_method` | the `ModelSpec.features` of a module whose own `tokens` method is its features contract |
| `ModelSpec`, `ModelMeta`, `BuiltModel`, `PretrainingFacts` | a model: `build(...)`, what it is (`meta`: description, family, size, `pretrained_on` corpora in the source vocabulary), what it is fed (`input`) and its capabilities (features, saliency, default weights, recipe, pretraining command); what `build` returns |
| `ImageInput`, `SignalInput` | the two input representations (`ModelSpec.input`): a rendered image with its normalisation, or signals through the image recipe or the model's own `SignalRecipe` (with `SegmentAggregation` for a segment model) |
| `TaskSpec`, `Cohort`, `CohortError`, `REQUIRED_COLUMNS`, `TIME_COLUMN` | a task (classification, regression or survival): label definition + one cohort loader per data source |
| `MetricSpec`, `ScoreData`, `MetricValue` | a metric: `compute(ScoreData) -> MetricValue` |
| `TokenizerSpec` | a visual tokenizer for MIM pretraining |
| `ECGSignal`, `ECGFormatError`, `STANDARD_LEADS`, `SIGNAL_UNITS` | the one signal type: `(leads × samples)` float32 in mV, standard lead names and order |
| `read_wfdb`, `read_muse_xml`, `write_muse_xml`, `read_manifest`, `load_manifest_signal`, `ludb_table`, `read_ludb_signal`, `read_ludb_fiducials`, `resolve_ludb_dir`, `ptbxl_table`, `read_ptbxl_signal`, `resolve_ptbxl_dir` | readers: every one returns an `ECGSignal` in mV or a table, and names the file in its errors |
| `synthetic_loader`, `ludb_loader`, `ptbxl_loader`, `manifest_loader`, `muse_loader`, `wfdb_loader`, `code15_loader`, `code_test_loader`, `echonext_loader`, `mimic_iv_ecg_loader`, `chapman_loader`, `ECHONEXT_FLAGS`, `column_rule`, `LabelRule` | cohort loaders of the built-in sources: `loader(task, rule)` → `TaskSpec.loaders` value |
| `bootstrap_indices`, `Unit` | the shared bootstrap resamples (patient-level multiplicity matrices; `stratify=labels` keeps each replicate's class balance) |
| `percentile_ci`, `metric_replicates`, `DEFAULT_REPLICATES`, `DEFAULT_LEVEL`, `check_binary_inputs` | CI helpers and the input check of binary score metrics |
| `paired_bootstrap`, `delong_test`, `delong_covariance`, `paired_permutation` | paired comparisons of two models on one test set (the leaderboard's, DeLong's test for AUROC, and the permutation test swapping models within patients) |
| `known_sex`, `age_years`, `age_band`, `AGE_BANDS` | how a cohort's `sex` and `age` values are read (stratified splits, subgroup metrics) |
| `LazyFunction`, `add_lazy_command`, `import_object` | lazy references for fast start-up |
| `load_yaml` | YAML as the harness reads it (PyYAML's safe loader; `5e-4` is a number, as in YAML 1.2) |
| `IMAGENET_MEAN`, `IMAGENET_STD` | default image normalisation |
| `SignalRecipe`, `SignalFilter`, `SegmentAggregation`, `apply_recipe`, `RecordRule`, `real_segments`, `scatter_slots` | a signal model's own preprocessing and segment handling |
| `PreprocessConfig`, `preprocess`, `preprocess_batch`, `DEFAULT_PREPROCESS`, `RenderConfig`, `render_batch`, `DEFAULT_RENDER`, `lead_row_band`, `region_mask`, `Fiducials` | the paper's preprocessing and image renderer, and ECG regions for saliency |
| `CohortLoader`, `user_sources`, `split_cohort`, `stream_unlabelled`, `label_column`, `label_columns`, `prediction_labels`, `score_column` | cohorts, splits, the synthetic pretraining stream and the label layout |
| `FineTuneRecipe`, `DEFAULT_RECIPE`, `PAPER_RECIPE`, `CNN_RECIPE`, `TRANSFORMER_RECIPE` | fine-tuning recipes (`ModelSpec.recipe`) |
| `pretrain_loop`, `LoopResult`, `StepOutput`, `Checkpointing`, `init_distributed`, `rank_world`, `resolve_device`, `autocast` | the pretraining loop every recipe shares (`bench pretrain`), the device resolver and bf16 autocast |
| `selection_score` | the number an epoch-selection policy maximises for one training-history entry (which evaluation a cell kept) |
| `load_state_dict_file`, `save_state_dict_file`, `load_into`, `read_metadata`, `read_torch_file`, `CheckpointError` | checkpoint I/O (safetensors first; pickles refused) |
| `find_weights`, `released_weights`, `create_timm_model`, `warn_random_init`, `RANDOM`, `file_sha256` | weight lookup (`--weights`, `BENCH_WEIGHTS_DIR`) and a weights file's content hash as cell identities record it |
| `read_label_names` | a released fine-tuned head's label names from `bench predict --labels` (a `label_def.csv` or one name per line) |
| `build_released`, `tensor_state`, `without_dataparallel` | the build of a port of released weights: its file (architecture read from it, keys loaded strictly) or its profile at random init |
| `Bundle`, `BundleError`, `write_bundle`, `cell_dir_of`, `verify_bundle`, `rederive`, `Check`, `Verdict`, `PASS`, `FAIL`, `NOTE`, `NOT_DERIVABLE` | submission bundles (`bench submit`/`bench verify`): write, open safely, verify, re-derive a record from its predictions; the checks a verifier reports (`bench_verify_folder`) |
| `replicate_counts`, `replicate_values`, `percentile_interval`, `NotDerivable` | the independent reference scorer (scikit-learn points, a plain bootstrap loop over the replicates) that verification uses instead of the harness's kernels |
| `Corpus`, `SYNTHETIC_STREAM` | a pretraining corpus, declared in checkpoints and checked for contamination |
| `ResultRecord`, `read_jsonl`, `dumps`, `RunStore`, `macro_values`, `cell_id`, `git_sha`, `package_versions`, `stable_hash`, `portable_path`, `read_json_object` | result records, the run store and provenance (loggers, the leaderboard); one JSON object from a file, with a one-line error naming it |
| `ExecutorSpec`, `Executor`, `ExecutorSettings`, `CellJob`, `JobResult`, `OnResult`, `WORKER_MODULES`, `ExecutorError`, `error_text`, `import_backend`, `run_cell` | the executor protocol: what `bench_register_executors` registers and what a worker runs |
| `PROFILES`, `Profile`, `CACHE_ENV`, `default_cache_dir`, `worker_count`, `get_host` | run profiles, the cache directory, thread counts and the process's plugin host |

### What a model receives

- `build(num_classes=, profile=, input_size=, weights=)` returns a `BuiltModel` whose
  `init` (`random`, `imagenet`, `mim`, `file`) goes into every result record. `profile` is
  the model-size profile, `"paper"` or `"quick"` (`bench run --profile tiny` builds
  `"quick"` models); `input_size` is `ModelSpec.input_size(image size)`; `weights` is a
  path, `"random"` or `None` for the model's default (`ModelSpec.default_weights`).
- **Image models** (`input=ImageInput(mean=, std=, channels_last=)`, the default) get
  `(batch, 3, S, S)` float32 renderings of the paper's recipe (500 Hz, 5 s, band-pass
  0.5–40 Hz, median filter, leads I, II, V1–V6), normalised with the input's `mean`/`std`;
  `input_size` is `S` (224 paper, 112 quick).
- **Signal models** (`input=SignalInput()`) get `(batch, leads, samples)` float32 in mV:
  by default the same filtered 8 leads, 2,500 samples at 500 Hz; `SignalInput(recipe)`
  with a `SignalRecipe` gets the model's own leads, rate, normalisation and segment length
  instead. `input_size` is the samples per segment.
- **Segment models** (`SignalInput(recipe, segments)`, a `SegmentAggregation`: ECG-FM)
  encode each segment slot on its own. Their `features` map one
  segment `(batch, leads, segment_samples)` to tokens; the harness makes a record of the
  segments it really has (slot 0, and each later slot holding a non-zero sample): its
  embedding is the mean of theirs and attention heads mask the empty slots. The module's
  forward takes whole records and combines its head's window scores with the
  `bench.training.segments.RecordRule` in its `record_rule` attribute (per label, the `mean`
  or `max` of the window probabilities), which the harness sets to each task's labels.
  Predictions also hold every window's score alone (`window<j>:score`).

### What a task provides

`TaskSpec.loaders` maps a source name to `loader(options) -> Cohort`. `options` holds that
source's `--source-option SOURCE.KEY=VALUE` flags and YAML `source_options` (plus
`n_patients` for `synthetic`); environment variables are not merged in, a loader reads its
own (the built-in ones: `BENCH_LUDB_DIR`, `BENCH_PTBXL_DIR`, `BENCH_MANIFEST`,
`BENCH_MUSE_DIR`). A `Cohort` is a manifest (`record_id`, `patient_id`, `site`, `label`
0/1, plus any columns) and `load_signal(record_id) -> ECGSignal`; bad input raises
`CohortError`/`ECGFormatError` naming the file and field. The built-in loaders take a
label rule (`table -> 0/1/NaN per row`, NaN excludes the record), so a task on a
supported source is a rule and a spec.

### What a metric computes

A `"scores"` metric's `compute(ScoreData)` sees one test set: `y_true`, `y_score` (the
positive-class probability), `groups` (patient ids) and `replicate_indices`, the shared
`(replicates, n)` multiplicity matrix that every model is scored on. Report the CI from
those resamples (`percentile_ci`), and optionally give `replicates(y_true, y_score,
weights) -> values` so the leaderboard's paired test is vectorised (without it the test
calls `compute` once per replicate). Every registered score metric gets paired
differences in `bench leaderboard`. `default=True` metrics run for every cell;
`bench run --metric NAME` adds `NAME` to the defaults. A metric with settings names its
entry of the run's `metric_options` (`MetricSpec.options`, set with `--metric-option
ENTRY.KEY=VALUE` or YAML `metric_options: {ENTRY: {KEY: VALUE}}`) and checks it
(`check_options(settings)` raises `ValueError`), before anything trains; an entry that no
requested metric reads is an error. The saliency metrics read `saliency.images`, the test
ECGs the run-level saliency explains per model and task (default 64), and `saliency.seeds`
(`lowest`, the default, or `all`: the cell of every seed at the largest fraction, so a
saliency comparison can be held to agreeing seeds). A metric with `run` may name the cells
it reads checkpoints from (`run_cells(config) -> [(fraction, seed), …]`; default: the
largest fraction and lowest seed), which the leaderboard's saved progress trains again.

## A complete plugin: model, task and metric

`examples/bench-example-plugin/` is an installable package with all three, tested end to
end from a fresh install (`bench run` and `bench leaderboard`). Its files follow.
"""

#: The example package's files shown in the document, in reading order.
EXAMPLE_FILES: tuple[tuple[str, str], ...] = (
    ("pyproject.toml", "toml"),
    ("src/bench_example_plugin/plugin.py", "python"),
    ("src/bench_example_plugin/model.py", "python"),
    ("src/bench_example_plugin/task.py", "python"),
    ("src/bench_example_plugin/metric.py", "python"),
)
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "bench-example-plugin"

LOGGER_HEADING = """## A logger plugin: MLflow

Loggers are plugins on the lifecycle hooks `bench_run_started`, `bench_result` and
`bench_run_finished`. The built-in MLflow logger (`bench run --log mlflow`) is the
reference example: it acts only when the run's config enables it, imports its library only
then, and turns itself off with one warning when logging fails, so a tracking outage
never stops a run.
"""
LOGGER_FILE = Path(__file__).resolve().parents[2] / "plugins" / "mlflow_logger" / "__init__.py"

HOOKS_HEADING = """## Hook reference

(Generated from `bench/host/hookspecs.py` by `python -m bench.host.hookdocs`.)
"""


def hook_names() -> list[str]:
    """Names of all hook specifications, in definition order."""
    return [
        name for name, obj in vars(hookspecs).items() if name.startswith("bench_") and callable(obj)
    ]


def example_sections() -> list[str]:
    """The example plugin's files as fenced code blocks (a source checkout is required)."""
    if not EXAMPLE_DIR.is_dir():
        raise FileNotFoundError(f"{EXAMPLE_DIR}: the docs are rendered from a source checkout")
    return [
        f"### `{name}`\n\n```{language}\n{(EXAMPLE_DIR / name).read_text().rstrip()}\n```\n"
        for name, language in EXAMPLE_FILES
    ]


def render() -> str:
    """The full Markdown document."""
    logger = f"```python\n{LOGGER_FILE.read_text().rstrip()}\n```\n"
    parts = [INTRO, *example_sections(), LOGGER_HEADING, logger, HOOKS_HEADING]
    for name in hook_names():
        func = getattr(hookspecs, name)
        signature = f"{name}{inspect.signature(func)}".replace("'", "")
        doc = inspect.cleandoc(func.__doc__ or "")
        parts.append(f"### `{name}`\n\n```python\n{signature}\n```\n\n{doc}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
