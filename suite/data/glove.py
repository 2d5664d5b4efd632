"""GloVe word vectors (Pennington et al. 2014) in their text format, for frozen pretrained embeddings.

The format: one word per line, then its vector, separated by single spaces
("the 0.418 0.24968 -0.41242 …"). The 6B vectors ship as glove.6B.zip
(glove.6B.{50,100,200,300}d.txt inside). A named vector set is looked up as
$ABLATE_DATA/glove/<name>.txt (or the zip there), then in the cache, and only
then downloaded (with its checksum) into the cache; the zip is read in place.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from suite.data.download import DataError, Remote, cache_dir, data_root, fetch, why_unavailable
from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported on first use: loading a study declares datasets, never loads them

ARCHIVE = Remote(  # md5 as published alongside many loaders; size as served by nlp.stanford.edu
    url="https://nlp.stanford.edu/data/glove.6B.zip",
    filename="glove.6B.zip",
    digest="056ea991adb4740ac6bf1b6d9b50408b",
    algorithm="md5",
    size=862_182_613,
)
NAME = re.compile(r"^glove\.6B\.(50|100|200|300)d$")
SUBDIR = "glove"


def dimension(name: str) -> int:
    match = NAME.match(name)
    if not match:
        raise ValueError(
            f"pretrained={name!r} is not a known vector set; use glove.6B.50d, glove.6B.100d, "
            "glove.6B.200d or glove.6B.300d"
        )
    return int(match.group(1))


def locate(name: str, *, cache: str | Path | None = None, download: bool = True) -> Path:
    """The text file <name>.txt, or the zip holding it: local copy, cache, then download."""
    dimension(name)
    for folder in filter(None, (data_root(SUBDIR), cache_dir(cache) / SUBDIR)):
        for candidate in (folder / f"{name}.txt", folder / ARCHIVE.filename):
            if candidate.is_file():
                return candidate
    return fetch(ARCHIVE, cache_dir(cache) / SUBDIR, download=download)


def unavailable(name: str, **kwargs) -> str | None:
    """Why the vectors cannot be had here (the file to place where), or None."""
    why = why_unavailable(lambda: locate(name, **kwargs))
    return f"GloVe vectors {name}: {why}" if why else None


def _lines(path: Path, name: str) -> Iterator[str]:
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as archive, archive.open(f"{name}.txt") as member:
                yield from io.TextIOWrapper(member, encoding="utf-8")
        except (zipfile.BadZipFile, KeyError) as err:
            raise DataError(f"{path}: no readable {name}.txt inside ({err})") from err
        return
    with open(path, encoding="utf-8") as handle:
        yield from handle


def read_vectors(path: Path, name: str, vocabulary: list[str]) -> tuple[torch.Tensor, int]:
    """(len(vocabulary), dim) vectors, rows in vocabulary order, zeros for words GloVe lacks
    (as the lecture's embedding_matrix); and how many words were missing."""
    dim = dimension(name)
    index = {word: i for i, word in enumerate(vocabulary)}
    out = torch.zeros(len(vocabulary), dim)
    found = torch.zeros(len(vocabulary), dtype=torch.bool)
    for number, line in enumerate(_lines(path, name), start=1):
        word, _, rest = line.rstrip("\n").partition(" ")
        row = index.get(word)
        if row is None:
            continue
        values = rest.split(" ")
        if len(values) != dim:
            raise DataError(f"{path}: line {number} ({word!r}) has {len(values)} values, {name} has {dim}")
        try:
            out[row] = torch.tensor([float(v) for v in values])
        except ValueError as err:
            raise DataError(f"{path}: line {number} ({word!r}): {err}") from None
        found[row] = True
    return out, int((~found).sum())


def load_into(embedding: torch.nn.Embedding, name: str, vocabulary: list[str], **kwargs) -> int:
    """Copy the vectors into `embedding` (its rows = vocabulary ids); return the missing count."""
    if embedding.embedding_dim != dimension(name):
        raise ValueError(
            f"{name} vectors are {dimension(name)} wide; the model's dim is {embedding.embedding_dim}"
        )
    vectors, missing = read_vectors(locate(name, **kwargs), name, vocabulary)
    with torch.no_grad():
        embedding.weight.copy_(vectors.to(embedding.weight.device, embedding.weight.dtype))
    return missing
