"""Kim's (2014) CNN-rand protocol as knobs: Adadelta, the head's max-norm, uniform embeddings, clean_str."""

import pytest
import torch
from conftest import training_dict
from torch import nn

from suite import data, identity, models
from suite.data.tokenize import clean_str, words
from suite.study import TRAINING_BASELINE, TrainingSpec, _defaults
from suite.train import One, make_optimizer, train
from suite.vectorized import unstackable
from tests.test_mr import write_corpus

KIM = {
    "encoder": "conv1d",
    "dim": 8,
    "hidden": 2,
    "kernel_sizes": [2, 3],
    "pooling": "max",
    "head_dropout": 0.5,
}


def _model(**knobs):
    torch.manual_seed(0)
    cfg = models.config.parse({**KIM, **knobs})
    return models.build(cfg, vocab_size=30, seq_len=6, num_classes=2, pad_id=0)


def _splits(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, 30, (n, 6), generator=g)
    x[: n // 2, 4:] = 0  # some padding
    y = (x[:, 0] > 15).long()
    return {"train": (x, y), "val": (x[:10], y[:10])}


def test_adadelta_is_torchs_with_rho():
    training = training_dict(optimizer="adadelta", lr=1.0, rho=0.95)
    p = nn.Parameter(torch.ones(3))
    opt = make_optimizer([p], training)
    assert isinstance(opt, torch.optim.Adadelta)
    assert opt.defaults["rho"] == 0.95 and opt.defaults["eps"] == 1e-6 and opt.defaults["lr"] == 1.0
    ref = nn.Parameter(torch.ones(3))
    ref_opt = torch.optim.Adadelta([ref], lr=1.0, rho=0.95)
    for q, o in ((p, opt), (ref, ref_opt)):
        for _ in range(3):
            o.zero_grad()
            (q * torch.tensor([1.0, -2.0, 3.0])).sum().backward()
            o.step()
    assert torch.equal(p, ref) and not torch.equal(p, torch.ones(3))


def test_rho_and_the_new_model_knobs_stay_out_of_keys_at_their_defaults():
    keyed = identity.section(training_dict(), _defaults(TrainingSpec), TRAINING_BASELINE)
    assert "rho" not in keyed
    assert "rho" in identity.section(
        training_dict(optimizer="adadelta", rho=0.95), _defaults(TrainingSpec), TRAINING_BASELINE
    )

    def model_keyed(cfg):
        as_dict = models.config.parse(cfg).as_dict()
        return identity.section(as_dict, models.config.defaults(), models.config.KEY_BASELINE)

    assert not {"head_max_norm", "embedding_uniform"} & set(model_keyed(KIM))
    assert model_keyed({**KIM, "head_max_norm": 3.0})["head_max_norm"] == 3.0


def test_max_norm_bounds_the_heads_weight_vector_after_every_step():
    model = _model(head_max_norm=0.05)
    training = training_dict(optimizer="adadelta", lr=1.0, epochs=3, batch_size=8, select="final")
    members = One(model, _splits(), training, seed=0)
    norms = []
    for _ in range(5):
        batch = next(members.train_batches())
        members.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(model(batch.x), batch.targets[0].float()).backward()
        members.step()
        norms.append(model.head.weight.norm(dim=1).max().item())
    assert max(norms) <= 0.05 + 1e-6
    free = _model()  # the same training without the bound leaves the head longer
    train(free, _splits(), training, torch.device("cpu"), seed=0)
    assert free.head.weight.norm(dim=1).max().item() > 0.05


def test_max_norm_only_shrinks_rows_above_the_bound():
    model = _model(head_max_norm=1.0)
    with torch.no_grad():
        model.head.weight.copy_(torch.full_like(model.head.weight, 0.01))
    before = model.head.weight.clone()
    model.constrain()
    assert torch.equal(model.head.weight, before)
    with torch.no_grad():
        model.head.weight.mul_(1000)
    model.constrain()
    assert model.head.weight.norm(dim=1).max().item() == pytest.approx(1.0, rel=1e-5)


def test_a_max_norm_model_is_not_stacked():
    assert unstackable(_model(head_max_norm=3.0, head_dropout=0.0))
    assert unstackable(_model(head_dropout=0.0)) is None


def test_uniform_embedding_init_is_bounded_and_keeps_pad_zero():
    model = _model(embedding_uniform=0.25)
    w = model.embedding.weight
    assert w.abs().max().item() <= 0.25 and w[1:].abs().max().item() > 0.2
    assert torch.equal(w[0], torch.zeros_like(w[0]))
    assert _model().embedding.weight.abs().max().item() > 1.0  # torch's N(0, 1) otherwise


def test_clean_str_is_kims_rules():
    text = "it isn't (quite) the 21st century's film -- a caf\xe9 : yes !"
    assert clean_str(text) == [
        "it", "is", "n't", "(", "quite", ")", "the", "21st", "century", "'s", "film", "a", "caf",
        "yes", "!",
    ]  # fmt: skip
    assert words(text) != clean_str(text)


def test_mr_clean_str_tokenizes_as_kim_and_keys_its_cache_apart(tmp_path):
    folder = write_corpus(tmp_path / "mr")
    plain = data.create("mr", data_path=str(folder), folds=5, vocab_size=200, max_len=12)
    kim = data.create("mr", data_path=str(folder), folds=5, vocab_size=200, max_len=12, clean_str=True)
    plain.load(), kim.load()
    assert "." in plain.vocabulary() and "." not in kim.vocabulary()  # clean_str drops periods
    assert "caf" in kim.vocabulary() and "café" in plain.vocabulary()
    files = plain.locate()
    assert plain.cache_path(files) != kim.cache_path(files)
    with pytest.raises(ValueError, match="clean_str"):
        data.create("mr", data_path=str(folder), clean_str="yes")
