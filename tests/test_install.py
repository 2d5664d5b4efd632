"""The built wheel, installed (not editable) into a fresh venv, works from any folder.

The fresh venv sees this venv's packages through a .pth line, so torch and the rest are
not downloaded again; `ablate` itself comes only from the wheel (the editable install's
finder is in a .pth file of this venv, which a .pth line does not run).
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("install")]


def sh(*cmd, cwd: Path, env=None) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, f"{cmd} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from this checkout's sources; returns its bin folder."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"  # build from a copy: setuptools writes build/ and *.egg-info beside the sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("suite", "studies"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    sh(*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", ".", cwd=src)
    (wheel,) = (tmp / "dist").glob("ablate-*.whl")
    venv = tmp / "venv"
    sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    purelib = Path(
        sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip()
    )
    # Dependencies live in this venv's site-packages, or on PYTHONPATH where a machine puts them there.
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != ROOT]
    (purelib / "zz_dependencies.pth").write_text("\n".join([sysconfig.get_paths()["purelib"], *extra]) + "\n")
    sh(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=tmp)
    return venv / "bin"


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("ABLATE_")} | {"PYTHONPATH": ""}


def test_installed_ablate_finds_the_catalogue_and_writes_results_where_it_runs(installed, tmp_path):
    env = clean_env()
    where = sh(installed / "python", "-c", "import suite; print(suite.__file__)", cwd=tmp_path, env=env)
    site = Path(where.stdout.strip()).parent.parent
    assert str(site).startswith(str(installed.parent)), "suite must come from the wheel"

    listed = sh(installed / "ablate", "list", "studies", cwd=tmp_path, env=env).stdout
    assert "ablation_positional" in listed and "[built-in]" in listed

    (tmp_path / "studies").mkdir()
    study = {
        "variants": ["mean"],
        "datasets": ["reversal"],
        "seeds": 2,
        "model": {"dim": 2},
        "training": {"epochs": 3, "history_every": 3},
        "measure": {"repeats": 1, "warmup": 0, "memory": False},
        "threads": 1,
    }
    (tmp_path / "studies" / "mine.yaml").write_text(yaml.safe_dump(study))
    listed = sh(installed / "ablate", "list", "studies", cwd=tmp_path, env=env).stdout
    assert "mine" in listed and "heads" in listed  # the user's folder and the catalogue

    sh(installed / "ablate", "run", "mine", "--no-progress", cwd=tmp_path, env=env)
    runs = pd.read_parquet(tmp_path / "results" / "mine" / "runs.parquet")
    assert list(runs["status"]) == ["ok", "ok"]
    assert set(runs["ablate_version"]) == {json.loads(json.dumps(_version()))}
    assert set(runs["git_commit"]) == {"unknown"}  # no checkout: the version says what ran
    assert not (site / "results").exists() and not (site / "studies").exists()

    other = tmp_path / "elsewhere"
    other.mkdir()
    sh(installed / "ablate", "run", "../studies/mine.yaml", "seeds=1", "--no-progress", cwd=other, env=env)
    (folder,) = (other / "results").iterdir()
    assert folder.name.startswith("mine+")
    assert json.loads((folder / "study.json").read_text())["overrides"] == {"seeds": 1}


def _version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_installed_ablate_keeps_a_checkpoint_and_predicts_from_it(installed, tmp_path):
    """A fresh run with measure.checkpoint=true, then `ablate predict` on a review, all from the wheel."""
    import bz2
    import csv

    env = clean_env() | {"ABLATE_CACHE": str(tmp_path / "cache")}
    corpus = tmp_path / "rt.csv.bz2"
    with bz2.open(corpus, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("category", "text", "movie_name", "has_plot_and_reviews"))
        for i in range(20):
            writer.writerow(("fresh", f"a witty delight, number {i}", f"m{i}", "False"))
            writer.writerow(("rotten", f"a tedious mess, number {i}", f"m{i}", "False"))
    (tmp_path / "studies").mkdir()
    study = {
        "variants": ["embedding_mean"],
        "datasets": [{"name": "rotten_tomatoes", "data_path": str(corpus), "vocab_size": 40, "max_len": 6}],
        "seeds": 1,
        "model": {"dim": 4},
        "training": {"lr": 0.05, "epochs": 10, "history_every": 5},
        "measure": {"repeats": 1, "warmup": 0, "memory": False},
        "threads": 1,
    }
    (tmp_path / "studies" / "reviews.yaml").write_text(yaml.safe_dump(study))
    sh(
        installed / "ablate",
        "run",
        "reviews",
        "measure.checkpoint=true",
        "--no-progress",
        cwd=tmp_path,
        env=env,
    )
    (folder,) = (tmp_path / "results").iterdir()
    assert len(list((folder / "checkpoints").glob("*.safetensors"))) == 1
    out = sh(
        installed / "ablate",
        "predict",
        folder.name,
        "embedding_mean",
        "A witty delight",
        cwd=tmp_path,
        env=env,
    )
    label, probability, text = out.stdout.strip().split("\t")
    assert label in ("fresh", "rotten") and 0.5 <= float(probability) <= 1 and text == "A witty delight"


PLUGIN = '''
from suite.data.download import DataPath
from suite.data.registry import register_dataset
from suite.data.tinyshakespeare import TinyShakespeare
from suite.models.config import register_encoder
from suite.models.decoder import DecoderLM


@register_dataset("plugin_chars")
def plugin_chars(block_size: int = 16, data_path: DataPath = None):
    """A character corpus in tinyshakespeare's format, next-character targets."""
    dataset = TinyShakespeare(
        block_size=block_size, train_fraction=0.9, data_path=data_path, cache_dir=None, download=False
    )
    dataset.name, dataset.task = "plugin_chars", "lm"
    return dataset


@register_encoder("plugin_decoder", whole_model=True)
class PluginDecoder(DecoderLM):
    def __init__(self, cfg, vocab_size, num_classes, pad_id):
        super().__init__(vocab_size, cfg.max_len, dim=cfg.dim, depth=cfg.depth, heads=2, tie_weights=True)
'''


def test_installed_ablate_samples_from_a_character_model_it_trained(installed, tmp_path):
    """A decoder LM (a plugin: the wheel registers no LM variant yet) trained by `ablate run` with
    checkpoints, then `ablate sample`, reproducible from its seed."""
    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "chars_plugin.py").write_text(PLUGIN)
    (tmp_path / "input.txt").write_text("to be or not to be, that is the question.\n" * 30)
    env = clean_env() | {"PYTHONPATH": str(tmp_path / "plug"), "ABLATE_PLUGINS": "chars_plugin"}
    (tmp_path / "studies").mkdir()
    study = {
        "variants": [
            {"name": "embedding_mean", "label": "decoder", "encoder": "plugin_decoder", "max_len": 16}
        ],
        "datasets": [{"name": "plugin_chars", "data_path": str(tmp_path / "input.txt")}],
        "seeds": 1,
        "model": {"dim": 16},
        "training": {"optimizer": "adamw", "lr": 0.01, "steps": 30, "batch_size": 16, "history_every": 30},
        "measure": {"repeats": 1, "warmup": 0, "memory": False, "checkpoint": True},
        "threads": 1,
    }
    (tmp_path / "studies" / "chars.yaml").write_text(yaml.safe_dump(study))
    sh(installed / "ablate", "run", "chars", "--no-progress", cwd=tmp_path, env=env)
    args = ["sample", "chars", "decoder", "--prompt", "to be", "--tokens", "25", "--temperature", "0.8"]
    first = sh(installed / "ablate", *args, "--top-k", "5", cwd=tmp_path, env=env).stdout
    again = sh(installed / "ablate", *args, "--top-k", "5", cwd=tmp_path, env=env).stdout
    assert first == again and first.startswith("to be") and len(first.rstrip("\n")) == 30
