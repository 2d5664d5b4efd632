"""Multi-query associative recall (MQAR), with the semantics of zoology's `multiquery_ar`
(Arora, Eyuboglu et al. 2023, "Zoology: measuring and improving recall in efficient language models").

Each example opens with `num_kv_pairs` key-value pairs, then asks for every key once more:

    x: k1 v1 k2 v2 k3 v3 k4 v4 · · k3 · · · · k1 · · k4 · · · k2 · ·
    y: ·  ·  ·  ·  ·  ·  ·  ·  · · v3 · · · · v1 · · v4 · · · v2 · ·      (· in y = IGNORE, −100)

Keys are drawn from [1, V/2) and values from [V/2, V), each without repetition inside an example.
The label sits at the query key's own position (the model must output the value right after
reading the key again), so only `num_kv_pairs` positions per example count. Query slots are the even
offsets 0, 2, 4, … of the region after the pairs; each key's slot is drawn without replacement
with probability ∝ slot^(a−1) (a = `power_a`; small a puts queries close to the pairs, as repeated
bigrams are close in text; a = 1 is uniform). Every other position of that region holds a uniform
random token of the whole vocabulary (`random_non_queries`), else 0.

Train and test come from separate generator streams derived from `seed` (so no seed offset can make
them one stream), and `fresh` training draws a new batch per step from a third, as zoology's
100,000 examples are too many to keep fixed on a CPU budget: a fixed set overfits.
"""

from __future__ import annotations

from suite.data.registry import register_dataset
from suite.data.sequence import IGNORE, SequenceDataset, generator
from suite.lazy import lazy_import

torch = lazy_import("torch")  # imported on first use: loading a study declares datasets, never loads them

STREAMS = {"train": 0, "test": 1, "fresh": 2}  # derived-seed stream ids
CHUNK = 4096  # examples generated at a time (bounds the memory of one draw)


def check(V: int, T: int, num_kv_pairs: int, power_a: float) -> None:
    """zoology's conditions, as one-line refusals naming the parameter."""
    for name, value in (("V", V), ("T", T), ("num_kv_pairs", num_kv_pairs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"mqar: {name} must be an integer ≥ 1, got {value!r}")
    if T % 2:
        raise ValueError(f"mqar: T={T} must be even (query slots are every other position)")
    if 4 * num_kv_pairs > T:
        raise ValueError(
            f"mqar: T={T} cannot hold {num_kv_pairs} pairs and their queries (needs T ≥ 4·num_kv_pairs = {4 * num_kv_pairs})"
        )
    if V // 2 - 1 < num_kv_pairs or V - V // 2 < num_kv_pairs:
        raise ValueError(f"mqar: V={V} has too few keys or values for {num_kv_pairs} distinct pairs")
    if V <= T:
        raise ValueError(f"mqar: V={V} must exceed T={T} (zoology's condition)")
    if isinstance(power_a, bool) or not isinstance(power_a, int | float) or not power_a > 0:
        raise ValueError(f"mqar: power_a must be a number > 0, got {power_a!r}")


def slot_logits(slots: int, power_a: float) -> torch.Tensor:
    """log p(slot) up to a constant, p ∝ a·s^(a−1) for s = 1 … slots (zoology's power law)."""
    return (power_a - 1) * torch.arange(1, slots + 1, dtype=torch.float64).log()


def without_replacement(logits: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k distinct indices per row, drawn one after another with probability ∝ exp(logits) among
    those left (Gumbel top-k: the same law as numpy's choice(replace=False, p=…))."""
    uniform = torch.rand(logits.shape, generator=gen, dtype=torch.float64).clamp_(min=1e-300)
    return (logits - (-uniform.log()).log()).topk(k, dim=-1).indices


def distinct_uniform(n: int, population: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """k distinct indices in [0, population) per row, uniform over such draws: rows drawn with
    replacement are redrawn until none repeats (a few percent of rows for k ≪ population, and far
    cheaper than ranking the whole population per row); Gumbel top-k when k is not small."""
    if 4 * k > population:
        return without_replacement(torch.zeros(n, population), k, gen)
    out = torch.randint(population, (n, k), generator=gen)
    while True:
        ordered = out.sort(dim=1).values
        bad = (ordered[:, 1:] == ordered[:, :-1]).any(dim=1).nonzero().flatten()
        if not len(bad):
            return out
        out[bad] = torch.randint(population, (len(bad), k), generator=gen)


def sample(
    count: int, *, V: int, T: int, num_kv_pairs: int, power_a: float, random_non_queries: bool, gen
) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` MQAR examples: x (count, T) int64 and y (count, T) int64, IGNORE off the queries."""
    xs, ys = [], []
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        xs_, ys_ = _sample(n, V, T, num_kv_pairs, power_a, random_non_queries, gen)
        xs.append(xs_)
        ys.append(ys_)
    return torch.cat(xs), torch.cat(ys)


def _sample(n, V, T, pairs, power_a, random_non_queries, gen):
    half = V // 2
    keys = 1 + distinct_uniform(n, half - 1, pairs, gen)  # (n, P) in [1, V/2)
    values = half + distinct_uniform(n, V - half, pairs, gen)  # (n, P) in [V/2, V)
    context = 2 * pairs
    slots = (T - context) // 2
    gaps = without_replacement(slot_logits(slots, power_a).expand(n, slots), pairs, gen)  # (n, P)
    where = context + 2 * gaps  # each query's position in the example
    x = torch.zeros(n, T, dtype=torch.long)
    x[:, 0:context:2], x[:, 1:context:2] = keys, values
    x.scatter_(1, where, keys)
    y = torch.full((n, T), IGNORE, dtype=torch.long)
    y.scatter_(1, where, values)  # the label at the query key: the value bound to it
    if random_non_queries:
        noise = torch.randint(V, (n, T), generator=gen)
        filler = torch.ones(n, T, dtype=torch.bool)
        filler[:, :context] = False
        filler.scatter_(1, where, False)
        x = torch.where(filler, noise, x)
    return x, y


class Mqar(SequenceDataset):
    def __init__(self, *, V, T, num_kv_pairs, n_train, n_test, power_a, random_non_queries, fresh, seed):
        check(V, T, num_kv_pairs, power_a)
        for name, value in (("n_train", n_train), ("n_test", n_test)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"mqar: {name} must be an integer ≥ 1, got {value!r}")
        training = "a fresh batch every step" if fresh else f"{n_train:,} fixed examples"
        super().__init__(
            name="mqar",
            vocab_size=V,
            seq_len=T,
            num_classes=V,
            splits=("train", "test"),
            note=(
                f"{num_kv_pairs} key-value pairs in {T} tokens, vocabulary {V:,}; trained on {training}; "
                f"accuracy over the {num_kv_pairs} query positions of each of {n_test:,} test examples"
            ),
        )
        self.num_kv_pairs, self.power_a, self.random_non_queries = (
            num_kv_pairs,
            float(power_a),
            random_non_queries,
        )
        self.n_train, self.n_test, self.seed = n_train, n_test, seed
        self.task = "tokens"
        self.streaming = fresh

    def draw(self, count: int, *stream: int, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return sample(
            count,
            V=self.vocab_size,
            T=length or self.seq_len,
            num_kv_pairs=self.num_kv_pairs,
            power_a=self.power_a,
            random_non_queries=self.random_non_queries,
            gen=generator(self.seed, *stream),
        )

    def load(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The fixed splits (with `fresh`, train is evaluated on but not trained on)."""
        return {
            "train": self.draw(self.n_train, STREAMS["train"]),
            "test": self.draw(self.n_test, STREAMS["test"]),
        }

    def windows(self, split: str, length: int, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The split's examples at another length with the same pairs (zoology's extrapolation test:
        more distance between the pairs and their queries): its own rows at the trained length, else
        a stream of its own per length. `limit` keeps the first rows."""
        count = {"train": self.n_train, "test": self.n_test}[split]
        count = min(count, limit) if limit else count
        if length == self.seq_len:
            return self.draw(count, STREAMS[split])
        check(self.vocab_size, length, self.num_kv_pairs, self.power_a)
        return self.draw(count, STREAMS[split], length, length=length)

    def batch(self, step: int, batch_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """With `fresh`: new examples for each (trial seed, step), from a stream no split uses."""
        return self.draw(batch_size, STREAMS["fresh"], seed, step)


@register_dataset("mqar")
def mqar(
    V: int = 8192,
    T: int = 64,
    num_kv_pairs: int = 4,
    n_train: int = 100_000,
    n_test: int = 3_000,
    power_a: float = 0.01,
    random_non_queries: bool = True,
    fresh: bool = False,
    seed: int = 0,
) -> Mqar:
    """Multi-query associative recall (zoology): recall each key's value; labels only at the queries."""
    return Mqar(
        V=V,
        T=T,
        num_kv_pairs=num_kv_pairs,
        n_train=n_train,
        n_test=n_test,
        power_a=power_a,
        random_non_queries=random_non_queries,
        fresh=fresh,
        seed=seed,
    )


def chance(V: int) -> float:
    """Accuracy of guessing a value uniformly: 1 / (number of values)."""
    return 1 / (V - V // 2)
