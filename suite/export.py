"""`ablate export STUDY --to mlflow|tensorboard`: a study's results in the trackers people already use.

One tracker run per trial: its resolved configuration as parameters (`model.dim`,
`training.lr`, `dataset.T`, …), its curves as step metrics (`<split>/loss`,
`<split>/accuracy` at each history step), its final metrics (accuracy, loss,
throughput, peak memory) and where it was measured as tags. Each library is an
optional extra (`pip install 'ablate[mlflow]'`, `'ablate[tensorboard]'`), imported
only here. A trial's key identifies its tracker run, so exporting again replaces each trial's
run instead of adding one (MLflow: the run tagged with its `trial_key` is deleted and written
anew, since metric histories only append; TensorBoard: the trial's event folder is replaced).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

TARGETS = ("mlflow", "tensorboard")
EXTRA = {"mlflow": "mlflow-skinny", "tensorboard": "tensorboard"}
TAGS = ("study", "variant", "dataset", "device", "status", "role", "device_name", "torch_version",
        "git_commit", "ablate_version", "host", "measured_at")  # fmt: skip
NOT_METRICS = {"seed", "cpu_count", "threads"}


class ExportError(RuntimeError):
    """An export that cannot run (library missing, no results); the message says what to do."""


def params(row) -> dict[str, str]:
    """A trial's configuration, flattened to `section.key` parameters."""
    config = json.loads(row["config"])
    out = {"variant": row["variant"], "dataset": row["dataset"], "seed": str(row["seed"])}
    for section in ("model", "training", "measure"):
        out.update({f"{section}.{k}": json.dumps(v) for k, v in config.get(section, {}).items()})
    out.update({f"dataset.{k}": json.dumps(v) for k, v in config.get("dataset_params", {}).items()})
    out["variant_name"] = config.get("variant_name", row.get("variant_name", ""))
    return out


def finals(row) -> dict[str, float]:
    """The row's numbers (final and best metrics, speed, memory), without NaNs."""
    out = {}
    for key, value in row.items():
        if key in NOT_METRICS or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(float(value)):
            out[key] = float(value)
    return out


def curves(history) -> list[tuple[str, int, float]]:
    """(metric name, step, value) for each point of one trial's history."""
    out = []
    for point in history.itertuples():
        for metric in ("loss", "accuracy"):
            value = float(getattr(point, metric))
            if math.isfinite(value):
                out.append((f"{point.split}/{metric}", int(point.step), value))
    return out


def export(results_dir: Path, target: str, out: str | Path | None = None) -> tuple[str, int]:
    """Export the results folder to `target`; return where it went and how many runs were written."""
    from suite.store import Store

    store = Store(results_dir)
    runs = store.runs()
    if not len(runs):
        raise ExportError(f"{results_dir}: no results to export (run the study first)")
    history = store.history()
    by_key = dict(tuple(history.groupby("key"))) if len(history) else {}
    meta = store.meta()
    name = meta.get("name", Path(results_dir).name)
    tuning = set((meta.get("tuning") or {}).get("keys") or [])  # trials that only chose a configuration
    rows = [
        (
            {**row, "role": "tuning" if row["key"] in tuning else "study"},
            by_key.get(row["key"], history.iloc[0:0]),
        )
        for row in runs.to_dict("records")
    ]
    if target == "mlflow":
        return _mlflow(name, rows, out or "mlruns"), len(rows)
    if target == "tensorboard":
        return _tensorboard(name, rows, Path(out or "tensorboard")), len(rows)
    raise ExportError(f"unknown export target {target!r}; choose from {', '.join(TARGETS)}")


def _need(module: str, target: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(
            f"--to {target} needs {EXTRA[target]}: pip install 'ablate[{target}]' (or pip install {EXTRA[target]})"
        ) from None


def _mlflow(study: str, rows, out: str | Path) -> str:
    """An MLflow experiment named after the study; `out` is a tracking URI or a folder (a file store)."""
    _need("mlflow", "mlflow")
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    from suite.kinds import FINISHED

    uri = str(out) if "://" in str(out) or str(out).startswith("file:") else Path(out).resolve().as_uri()
    if uri.startswith("file:"):
        # A folder is MLflow's file store, which MLflow 3 keeps in maintenance behind this switch
        # (its database stores need the full mlflow package); `mlflow ui` needs it set as well.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(study)
    except Exception as err:  # noqa: BLE001 - MLflow's own: a URI it has no store for
        if "Unsupported" not in type(err).__name__ and "unsupported URI" not in str(err):
            raise
        scheme = uri.split("://", 1)[0]
        raise ExportError(
            f"--out {out}: MLflow has no tracking store for {scheme}:// URIs; give a folder, a file: URI, "
            "an http(s):// tracking server or a database URI such as sqlite:///mlflow.db"
        ) from None
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(study)
    earlier = _runs_by_trial(client, experiment_id)
    for row, history in rows:
        for run_id in earlier.get(row["key"], []):  # an earlier export of this trial: replaced
            client.delete_run(run_id)
        run_name = f"{row['variant']} · {row['dataset']} · seed {row['seed']}"
        tags = {k: str(row[k]) for k in TAGS if row.get(k) is not None}
        run = client.create_run(experiment_id, run_name=run_name, tags={**tags, "trial_key": row["key"]})
        run_id = run.info.run_id
        metrics = [Metric(name, value, 0, step) for name, step, value in curves(history)]
        metrics += [Metric(k, v, 0, 0) for k, v in finals(row).items()]
        param_list = [Param(k, v[:6000]) for k, v in params(row).items()]
        for start in range(0, max(len(metrics), 1), 1000):  # MLflow takes at most 1000 metrics per batch
            client.log_batch(
                run_id, metrics=metrics[start : start + 1000], params=param_list if start == 0 else []
            )
        client.set_terminated(run_id, "FINISHED" if row["status"] in FINISHED else "FAILED")
    return uri


def _runs_by_trial(client, experiment_id: str) -> dict[str, list[str]]:
    """The experiment's active runs by the `trial_key` tag an export gave them."""
    out: dict[str, list[str]] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        for run in page:
            key = run.data.tags.get("trial_key")
            if key:
                out.setdefault(key, []).append(run.info.run_id)
        token = page.token
        if not token:
            return out


def _tensorboard(study: str, rows, out: Path) -> str:
    """One event folder per trial, <out>/<study>/<variant>/<dataset>/seed<k> (tuning trials under
    tuning/, each configuration's as seed<k>-<trial key>, since they share their seeds); the
    configuration as hparams and text, the curves as scalars, the final metrics as `final/...`."""
    _need("tensorboard", "tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    root = out / study
    # Two trials that would share a folder (dataset entries of one name, devices) each get their key
    place = [(r["role"], r["variant"], r["dataset"], r["seed"]) for r, _ in rows]
    for (row, history), where in zip(rows, place, strict=True):
        tuning = row["role"] == "tuning"
        run = f"seed{row['seed']}" + (f"-{row['key']}" if tuning or place.count(where) > 1 else "")
        folder = (root / "tuning" if tuning else root) / _safe(row["variant"]) / _safe(row["dataset"]) / run
        if folder.exists():
            shutil.rmtree(folder)
        with SummaryWriter(log_dir=str(folder)) as writer:
            for name, step, value in curves(history):
                writer.add_scalar(name, value, step)
            metrics = finals(row)
            for name, value in metrics.items():
                writer.add_scalar(f"final/{name}", value, 0)
            writer.add_text("config", "\n".join(f"    {k} = {v}" for k, v in params(row).items()), 0)
            writer.add_text("trial", f"key {row['key']}, status {row['status']}, {row['role']} trial", 0)
            writer.add_hparams(
                params(row),
                {f"hparam/{k}": v for k, v in metrics.items() if k.startswith(("final_", "best_"))},
                run_name=".",
            )
    return str(root)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=," else "_" for c in str(text))
