"""Using a trained trial: its model rebuilt from its checkpoint (suite.checkpoints), to classify given
text (`ablate predict`) or to continue a prompt (`ablate sample`).

The results folder is the index: its runs table says which variants, datasets and seeds a study
ran, and each kept trial's checkpoint holds its model's configuration and its dataset's name and
parameters, so the model is built through the variant registry and the text is read with the
dataset's own vocabulary (a text corpus) or characters (a character language model).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suite import checkpoints, data, models
from suite.lazy import lazy_import
from suite.registry import UnknownNameError
from suite.store import Store

torch = lazy_import("torch")


def how(name: str) -> str:
    """How to get a study's checkpoints: run it again keeping them (its own folder, suite.overrides)."""
    study, _, hashed = name.partition("+")
    if hashed:
        return f"run {study} again with the overrides its study.json lists and measure.checkpoint=true"
    return f"run with measure.checkpoint=true (ablate run {study} measure.checkpoint=true)"


class UseError(Exception):
    """A request that cannot be answered; the message is one line saying what would be valid."""


@dataclass
class Prediction:
    text: str
    label: int
    name: str  # the class's name where the dataset gives one, else its number
    probability: float  # the model's probability of that class


def find(study_dir: Path, variant: str, seed: int | None = None, dataset: str | None = None) -> Path:
    """The checkpoint of the study's trial (variant, dataset, seed); without a seed, the lowest seed
    that has one. UseError names what is valid when one of them is unknown or nothing is kept."""
    name = study_dir.name
    if not (study_dir / "runs.parquet").is_file() and not (study_dir / ".fragments").is_dir():
        raise UseError(f"no results for {name!r} in {study_dir.parent}; run it first (ablate run {name})")
    runs = Store(study_dir).runs()
    runs = runs[runs["status"] == "ok"] if "status" in runs else runs.iloc[:0]
    variants = list(dict.fromkeys(runs.get("variant", [])))
    if variant not in variants:
        raise UseError(
            f"{name}: no finished trial of variant {variant!r}; valid: {', '.join(variants) or 'none'}"
        )
    runs = runs[runs["variant"] == variant]
    datasets = list(dict.fromkeys(runs["dataset"]))
    if dataset is None and len(datasets) > 1:
        raise UseError(
            f"{name}: {variant} ran on {len(datasets)} datasets; pick one with --dataset: {', '.join(datasets)}"
        )
    if dataset is not None and dataset not in datasets:
        raise UseError(
            f"{name}: {variant} has no finished trial on dataset {dataset!r}; valid: {', '.join(datasets)}"
        )
    runs = runs[runs["dataset"] == (dataset or datasets[0])]
    seeds = sorted(int(s) for s in runs["seed"])
    if seed is not None and seed not in seeds:
        raise UseError(
            f"{name}: {variant} has no finished trial at seed {seed}; valid: {', '.join(map(str, seeds))}"
        )
    store = Store(study_dir)
    by_seed = dict(zip((int(s) for s in runs["seed"]), runs["key"], strict=True))
    for s in [seed] if seed is not None else seeds:
        path = store.checkpoint_path(by_seed[s])
        if path.exists():  # a damaged one is reported by `load`, in one line
            return path
    which = f"seed {seed}" if seed is not None else "any seed"
    raise UseError(f"{name}: {variant} kept no checkpoint at {which}; {how(name)}")


def load(path: Path):
    """(model in eval mode, the checkpoint's meta, its dataset): rebuilt through the registries."""
    tensors, meta = checkpoints.read(path)
    try:
        shape = meta["data"]
        model_config, dataset_name, params = meta["model"], meta["dataset"], meta["dataset_params"]
    except KeyError as err:
        raise UseError(f"{path}: its configuration lacks {err}; write it again with this ablate") from None
    try:
        cfg = models.parse(model_config)
        model = models.build(
            cfg,
            vocab_size=shape["vocab_size"],
            seq_len=shape["seq_len"],
            num_classes=shape["num_classes"],
            pad_id=shape["pad_id"],
            task=shape["task"],
        )
        dataset = data.create(dataset_name, **params)
    except (
        UnknownNameError,
        ValueError,
        TypeError,
        KeyError,
    ) as err:  # unknown encoder or dataset, a refused knob
        first = (str(err.args[0]) if err.args else type(err).__name__).splitlines()[0]
        raise UseError(f"{path}: cannot rebuild its model here ({first})") from None
    checkpoints.load_into(model, tensors, meta, path)
    model.eval()
    return model, meta, dataset


def predict(model, meta: dict, dataset, texts: list[str]) -> list[Prediction]:
    """Each text's predicted class and its probability, read as the corpus reads its own rows."""
    from suite.data.text import TextCorpus
    from suite.data.tokenize import encode, words

    if not isinstance(dataset, TextCorpus) or meta["data"]["task"] != "classify":
        raise UseError(
            f"dataset {meta['dataset']!r} is not a text corpus with one label per text; "
            "predict reads text for the classifiers of imdb, rotten_tomatoes, yelp_full"
        )
    reason = dataset.unavailable()
    if reason:
        raise UseError(
            f"{meta['dataset']}: its vocabulary is built from its text, which is not here: {reason}"
        )
    vocabulary = dataset.vocabulary()
    ids = torch.from_numpy(encode([words(t) for t in texts], vocabulary, dataset.tokenizer).astype("int64"))
    device = next(model.parameters()).device
    with torch.no_grad():
        logits = model(ids.to(device)).float().cpu()
    if logits.dim() == 1:  # one logit: binary (suite.objective)
        p1 = torch.sigmoid(logits)
        labels = (logits > 0).long()
        probs = torch.where(labels == 1, p1, 1 - p1)
    else:
        all_probs = torch.softmax(logits, dim=-1)
        probs, labels = all_probs.max(dim=-1)
    names = tuple(getattr(dataset, "class_names", ()) or ())
    return [
        Prediction(text, int(y), names[int(y)] if int(y) < len(names) else f"class {int(y)}", float(p))
        for text, y, p in zip(texts, labels, probs, strict=True)
    ]


def sample(
    model, meta: dict, dataset, prompt: str, tokens: int, temperature: float, top_k: int | None, seed: int
) -> str:
    """`prompt` continued by `tokens` characters drawn from the model (suite.models.generate);
    the same seed gives the same text."""
    from suite.models.generate import sample_text

    if not (callable(getattr(dataset, "encode", None)) and callable(getattr(dataset, "decode", None))):
        raise UseError(
            f"dataset {meta['dataset']!r} is not a character-level language model (it has no encode/decode); "
            "sample continues text for a model trained on one, such as tinyshakespeare"
        )
    if not prompt:
        raise UseError("--prompt: give at least one character to continue")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    try:
        return sample_text(
            model, dataset, prompt, tokens, temperature=temperature, top_k=top_k, generator=generator
        )
    except ValueError as err:  # a character outside the vocabulary, a bad option
        raise UseError(str(err).splitlines()[0]) from None
