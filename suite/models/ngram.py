"""The linear baseline a reviewer asks for first: a bag of unigrams and hashed bigrams.

Each review becomes the set of its words and of its adjacent word pairs; a pair is hashed into
`ngram_buckets` slots after the vocabulary (Weinberger et al. 2009; fastText's bigrams). The
model is one weight per n-gram and class, averaged over the n-grams present (binary features,
as NBSVM's; or summed: 0/1 features, as NBSVM's f̂, with `ngram_average: false`), plus a bias: a
logistic regression, trained with the study's optimizer. With `ngram_dim`, each n-gram has an
embedding of that width instead, averaged the same way and read by a linear layer: fastText
(Joulin et al. 2017), a low-rank factorisation of the linear model.
"""

from __future__ import annotations

import torch
from torch import nn

from suite import objective
from suite.models.encoders import NgramConfig

HASH_MULTIPLIER = 1_000_003  # a prime: (previous · M + current) mod buckets spreads pairs evenly
INT32_KEYS = 2**31  # (row, id) keys below this sort as int32, about twice as fast as int64


def ngram_ids(
    tokens: torch.Tensor, vocab_size: int, buckets: int, pad_id: int | None, bigrams: bool = True
) -> torch.Tensor:
    """(B, T) token ids → (B, 2T − 1) n-gram ids: the unigrams as they are, then each bigram
    hashed into [vocab_size, vocab_size + buckets) (without `bigrams`: (B, T), the unigrams). An
    n-gram touching PAD gets id −1."""
    if not bigrams:
        return tokens.masked_fill(tokens == pad_id, -1) if pad_id is not None else tokens
    prev, cur = tokens[:, :-1], tokens[:, 1:]
    pairs = vocab_size + (prev * HASH_MULTIPLIER + cur) % buckets  # (B, T − 1)
    ids = torch.cat([tokens, pairs], dim=1)  # (B, 2T − 1)
    if pad_id is not None:
        pad = tokens == pad_id
        ids = ids.masked_fill(torch.cat([pad, pad[:, :-1] | pad[:, 1:]], dim=1), -1)
    return ids


def distinct(
    tokens: torch.Tensor,
    vocab_size: int,
    buckets: int,
    pad_id: int | None,
    bigrams: bool = True,
    average: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, T) token ids → each row's distinct n-grams (`ngram_ids`' ids, none touching PAD), flat
    and sorted within a row, with the rows' offsets and the weight that averages a row over them:
    `binary_weights` (`average`: else 1 each) on the real tokens alone, without its padded (B, 2T − 1) sort (a whole IMDB
    review is 269 of 2,800 tokens on average), to the same sums."""
    b = tokens.shape[0]
    real = tokens != pad_id if pad_id is not None else torch.ones_like(tokens, dtype=torch.bool)
    where = real.nonzero()  # (K, 2): row, column, row-major
    row, col = where[:, 0], where[:, 1]
    words = tokens[row, col]
    size = vocab_size + (buckets if bigrams else 0)
    keys = [row * size + words]
    if bigrams:
        pair = (row[1:] == row[:-1]) & (col[1:] == col[:-1] + 1)  # adjacent real tokens of one row
        hashed = vocab_size + (words[:-1][pair] * HASH_MULTIPLIER + words[1:][pair]) % buckets
        keys.append(row[1:][pair] * size + hashed)
    keys = torch.cat(keys)
    if b * size < INT32_KEYS:
        keys = keys.int()
    keys = torch.unique(keys).long()  # sorted: by row, then by id
    row = keys // size
    counts = torch.bincount(row, minlength=b)
    offsets = counts.cumsum(0) - counts
    weights = 1.0 / counts.clamp(min=1).float() if average else torch.ones(b, device=tokens.device)
    return keys - row * size, offsets, weights[row]


def binary_weights(ids: torch.Tensor, average: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted ids and a weight per position that averages each row over its *distinct* valid
    n-grams (`average`), else is 1 for each (Wang & Manning's binarized f̂): a repeated n-gram
    counts once (multi-hot), padding (−1) not at all."""
    ids, _ = ids.sort(dim=1)  # (B, N)
    first = torch.ones_like(ids, dtype=torch.bool)
    first[:, 1:] = ids[:, 1:] != ids[:, :-1]
    keep = (first & (ids >= 0)).float()
    weights = keep / keep.sum(dim=1, keepdim=True).clamp(min=1.0) if average else keep
    return ids.clamp(min=0), weights


class NgramLinear(nn.Module):
    """Token ids (B, T) → logits (B,) or (B, C): mean (or sum, `ngram_average: false`) of the weights
    (or, with `ngram_dim`, of the embeddings, then a linear layer) of the row's distinct n-grams."""

    def __init__(self, cfg: NgramConfig, vocab_size: int, num_classes: int, pad_id):
        super().__init__()
        self.vocab_size, self.buckets, self.pad_id = vocab_size, cfg.ngram_buckets, pad_id
        self.bigrams, self.average = cfg.bigrams, cfg.ngram_average
        size = vocab_size + (cfg.ngram_buckets if cfg.bigrams else 0)
        self.out = objective.logits_for(num_classes)
        if cfg.ngram_dim is None:
            self.weights = nn.EmbeddingBag(size, self.out, mode="sum")
            nn.init.zeros_(self.weights.weight)  # a linear model needs no symmetry breaking
            self.head = None
        else:  # fastText's initialisation: input vectors U(±1/dim), the output layer zero
            self.weights = nn.EmbeddingBag(size, cfg.ngram_dim, mode="sum")
            nn.init.uniform_(self.weights.weight, -1.0 / cfg.ngram_dim, 1.0 / cfg.ngram_dim)
            self.head = nn.Linear(cfg.ngram_dim, self.out, bias=False)
            nn.init.zeros_(self.head.weight)
        self.bias = nn.Parameter(torch.zeros(self.out))
        self.dropout = nn.Dropout(cfg.dropout)  # drops whole n-grams from a row while training
        if cfg.nb_weight and num_classes != 2:
            raise ValueError(f"nb_weight needs two classes (naive Bayes log-count ratios), got {num_classes}")
        # NB log-count ratios per n-gram (nb_weight), set by prepare(); None: unweighted
        self.register_buffer("ratio", torch.ones(size) if cfg.nb_weight else None)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if (self.training and self.dropout.p > 0) or tokens.device.type != "cpu":
            # n-gram dropout draws its mask over the padded (B, N) layout, as it always has; off the
            # CPU the sort keeps the step on the device (`distinct` reads sizes back: a sync)
            ngrams = ngram_ids(tokens, self.vocab_size, self.buckets, self.pad_id, self.bigrams)
            ids, weights = binary_weights(ngrams, self.average)
            offsets = None
        else:  # the same sums over the real n-grams alone (padding added only zeros)
            ids, offsets, weights = distinct(
                tokens, self.vocab_size, self.buckets, self.pad_id, self.bigrams, self.average
            )
        if self.ratio is not None:
            weights = weights * self.ratio[ids]
        bags = self.weights(ids, offsets, per_sample_weights=self.dropout(weights))
        logits = (bags if self.head is None else self.head(bags)) + self.bias  # (B, out)
        return logits.squeeze(-1)

    @torch.no_grad()
    def prepare(self, tokens: torch.Tensor, labels: torch.Tensor, alpha: float = 1.0) -> None:
        """nb_weight: r = log((p/‖p‖₁) / (q/‖q‖₁)), p and q the smoothed counts of rows holding each
        n-gram among the positive and the negative training rows (Wang & Manning 2012, α = 1).
        Called with the train split only, before training (suite.train_run)."""
        if self.ratio is None:
            return
        size = self.ratio.numel()
        counts = torch.zeros(2, size, dtype=torch.float64, device=self.ratio.device)
        for start in range(0, len(tokens), 4096):
            chunk = tokens[start : start + 4096]
            ids, offsets, _ = distinct(chunk, self.vocab_size, self.buckets, self.pad_id, self.bigrams)
            lengths = torch.diff(offsets, append=offsets.new_tensor([len(ids)]))
            y = labels[start : start + 4096].long().repeat_interleave(lengths)  # each distinct n-gram once
            counts.index_put_((y, ids), torch.ones_like(ids, dtype=torch.float64), accumulate=True)
        p, q = counts[1] + alpha, counts[0] + alpha
        self.ratio.copy_(torch.log((p / p.sum()) / (q / q.sum())).float())
