"""Word-level tokenization: text → words → ids of a vocabulary built on the training split.

Lowercased, HTML line breaks removed, punctuation split off as tokens of its own.
Ids: PAD = 0, UNK = 1, then START = 2 if asked for, then the most frequent words
of the training split (ties broken alphabetically, so the vocabulary is a pure
function of the training text). Rows are padded or truncated to `max_len` at the
front ("pre", as Keras' pad_sequences and the course) or at the back ("post").
Multi-hot vectors for the bag-of-words model are built from these ids inside the
model (`suite.models.bow.multi_hot`), so no (N, V) matrix is ever stored.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

PAD, UNK, START = 0, 1, 2
SPECIALS = ("<pad>", "<unk>", "<start>")
SIDES = ("pre", "post")

_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")  # words (with inner apostrophes) or one punctuation mark


def words(text: str) -> list[str]:
    """'A <br />great film, isn't it?' → ['a', 'great', 'film', ',', "isn't", 'it', '?']"""
    return _TOKEN.findall(_LINE_BREAK.sub(" ", text).lower())


# Kim's (2014) clean_str, as CNN_sentence/process_data.py applies it to MR: anything but ASCII
# letters, digits and ( ) , ! ? ' ` becomes a space (so . : - ; and accented letters go), clitics
# 's 've n't 're 'd 'll split off, the kept punctuation spaced out, then lower-cased
_KIM_DROP = re.compile(r"[^A-Za-z0-9(),!?'`]")
_KIM_CLITIC = re.compile(r"('s|'ve|n't|'re|'d|'ll)")
_KIM_PUNCT = re.compile(r"([,!()?])")


def clean_str(text: str) -> list[str]:
    """ "It isn't (quite) a film -- é." → ['it', 'is', "n't", '(', 'quite', ')', 'a', 'film']"""
    text = _KIM_CLITIC.sub(r" \1", _KIM_DROP.sub(" ", text))
    return _KIM_PUNCT.sub(r" \1 ", text).lower().split()


@dataclass(frozen=True)
class TokenizerSpec:
    vocab_size: int  # ids in all, the special tokens included
    max_len: int  # tokens per row after padding or truncation
    padding: str = "pre"  # where PAD goes in a short row: "pre" (front) or "post" (back)
    truncating: str = "pre"  # where a long row is cut: "pre" keeps its end, "post" its start
    start_token: bool = False  # put START before every row (it survives truncation)

    def __post_init__(self):
        specials = len(self.specials)
        if not isinstance(self.vocab_size, int) or self.vocab_size <= specials:
            raise ValueError(
                f"vocab_size must be an integer > {specials} (the special tokens "
                f"{', '.join(self.specials)} take ids 0..{specials - 1}), got {self.vocab_size!r}"
            )
        min_len = 2 if self.start_token else 1
        if not isinstance(self.max_len, int) or self.max_len < min_len:
            raise ValueError(f"max_len must be an integer ≥ {min_len}, got {self.max_len!r}")
        for name in ("padding", "truncating"):
            if getattr(self, name) not in SIDES:
                raise ValueError(f"{name} must be 'pre' or 'post', got {getattr(self, name)!r}")

    @property
    def specials(self) -> tuple[str, ...]:
        return SPECIALS if self.start_token else SPECIALS[:2]

    def to_dict(self) -> dict:
        return asdict(self)


def build_vocabulary(docs: Iterable[list[str]], spec: TokenizerSpec) -> list[str]:
    """The special tokens, then the `vocab_size - len(specials)` most frequent words of `docs`."""
    counts: Counter[str] = Counter()
    for doc in docs:
        counts.update(doc)
    keep = spec.vocab_size - len(spec.specials)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:keep]
    return [*spec.specials, *(word for word, _ in ranked)]


def encode(docs: list[list[str]], vocabulary: list[str], spec: TokenizerSpec, desc: str = "") -> np.ndarray:
    """Tokenized documents → (N, max_len) int32 ids, padded and truncated as `spec` says."""
    index = {word: i for i, word in enumerate(vocabulary)}
    room = spec.max_len - spec.start_token
    out = np.full((len(docs), spec.max_len), PAD, dtype=np.int32)
    for row, doc in enumerate(
        tqdm(docs, desc=desc or "encode", unit="doc", leave=False, disable=None if desc else True)
    ):
        ids = [index.get(word, UNK) for word in doc]
        if len(ids) > room:
            ids = ids[-room:] if spec.truncating == "pre" else ids[:room]
        if spec.start_token:
            ids = [START, *ids]
        if spec.padding == "pre":
            out[row, spec.max_len - len(ids) :] = ids
        else:
            out[row, : len(ids)] = ids
    return out


def decode(ids: Iterable[int], vocabulary: list[str]) -> list[str]:
    """Ids back to words, PAD dropped (for reading examples and for tests)."""
    return [vocabulary[i] for i in ids if i != PAD]
