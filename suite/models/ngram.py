"""The linear baseline a reviewer asks for first: a bag of unigrams and hashed bigrams.

Each review becomes the set of its words and of its adjacent word pairs; a pair is hashed into
`ngram_buckets` slots after the vocabulary (Weinberger et al. 2009; fastText's bigrams). The
model is one weight per n-gram and class, averaged over the n-grams present (or summed: 0/1
features, as NBSVM's, with `ngram_average: false`), plus a bias: a logistic regression, trained with the study's optimizer.
"""

from __future__ import annotations

import torch
from torch import nn

from suite import objective
from suite.models.encoders import NgramConfig

HASH_MULTIPLIER = 1_000_003  # a prime: (previous · M + current) mod buckets spreads pairs evenly


def ngram_ids(tokens: torch.Tensor, vocab_size: int, buckets: int, pad_id: int | None) -> torch.Tensor:
    """(B, T) token ids → (B, 2T − 1) n-gram ids: the unigrams as they are, then each bigram
    hashed into [vocab_size, vocab_size + buckets). An n-gram touching PAD gets id −1."""
    prev, cur = tokens[:, :-1], tokens[:, 1:]
    bigrams = vocab_size + (prev * HASH_MULTIPLIER + cur) % buckets  # (B, T − 1)
    ids = torch.cat([tokens, bigrams], dim=1)  # (B, 2T − 1)
    if pad_id is not None:
        pad = tokens == pad_id
        ids = ids.masked_fill(torch.cat([pad, pad[:, :-1] | pad[:, 1:]], dim=1), -1)
    return ids


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
    """Token ids (B, T) → logits (B,) or (B, C): mean (or sum, ngram_average false) of the weights
    of the row's distinct n-grams."""

    def __init__(self, cfg: NgramConfig, vocab_size: int, num_classes: int, pad_id):
        super().__init__()
        self.vocab_size, self.buckets, self.pad_id = vocab_size, cfg.ngram_buckets, pad_id
        self.average = cfg.ngram_average
        self.out = objective.logits_for(num_classes)
        self.weights = nn.EmbeddingBag(vocab_size + cfg.ngram_buckets, self.out, mode="sum")
        nn.init.zeros_(self.weights.weight)  # a linear model needs no symmetry breaking
        self.bias = nn.Parameter(torch.zeros(self.out))
        self.dropout = nn.Dropout(cfg.dropout)  # drops whole n-grams from a row while training
        if cfg.nb_weight and num_classes != 2:
            raise ValueError(f"nb_weight needs two classes (naive Bayes log-count ratios), got {num_classes}")
        # NB log-count ratios per n-gram (nb_weight), set by prepare(); None: unweighted
        self.register_buffer("ratio", torch.ones(vocab_size + cfg.ngram_buckets) if cfg.nb_weight else None)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        ids, weights = binary_weights(
            ngram_ids(tokens, self.vocab_size, self.buckets, self.pad_id), self.average
        )
        if self.ratio is not None:
            weights = weights * self.ratio[ids]
        logits = self.weights(ids, per_sample_weights=self.dropout(weights)) + self.bias  # (B, out)
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
            ids, weights = binary_weights(
                ngram_ids(tokens[start : start + 4096], self.vocab_size, self.buckets, self.pad_id)
            )
            present = (weights > 0).double()  # each distinct n-gram of a row once
            y = labels[start : start + 4096].long().unsqueeze(1).expand_as(ids)
            counts.index_put_((y.reshape(-1), ids.reshape(-1)), present.reshape(-1), accumulate=True)
        p, q = counts[1] + alpha, counts[0] + alpha
        self.ratio.copy_(torch.log((p / p.sum()) / (q / q.sum())).float())
