import pytest
import torch

from suite.models.char_rnn import CharRNN
from suite.models.decoder import POSITIONALS, DecoderLM, alibi_bias, alibi_slopes, optimizer_groups

V, BLOCK = 11, 8


def decoder(**knobs) -> DecoderLM:
    torch.manual_seed(0)
    return DecoderLM(V, BLOCK, **{"dim": 16, "depth": 2, "heads": 2, **knobs}).eval()


MODELS = {
    **{f"attention-{p}": (lambda p=p: decoder(positional=p)) for p in POSITIONALS},
    **{
        f"conv-{p}": (lambda p=p: decoder(mixer="conv", positional=p))
        for p in ("learned", "sinusoidal", "none")
    },
    "conv-dilated": lambda: decoder(mixer="conv", positional="none", dilate=True, kernel_size=3),
    "attention-naive-kernel": lambda: decoder(positional="rotary", kernel="naive"),
    "lstm": lambda: CharRNN(V, dim=8, hidden=12).eval(),
    "gru": lambda: CharRNN(V, dim=8, hidden=12, cell="gru", depth=2).eval(),
}


@pytest.mark.parametrize("name", MODELS)
def test_logits_per_position(name):
    model = MODELS[name]()
    x = torch.randint(V, (3, BLOCK))
    assert model(x).shape == (3, BLOCK, V)


@pytest.mark.parametrize("name", MODELS)
def test_changing_token_t_changes_no_earlier_logit(name):
    model = MODELS[name]()
    x = torch.randint(V, (2, BLOCK))
    base = model(x)
    for t in range(BLOCK):
        changed = x.clone()
        changed[:, t] = (changed[:, t] + 1) % V
        out = model(changed)
        assert torch.allclose(out[:, :t], base[:, :t], atol=1e-6), (name, t)
        assert not torch.allclose(out[:, t:], base[:, t:], atol=1e-6), (name, t)  # it does reach t onward


@pytest.mark.parametrize("positional", ["sinusoidal", "rotary", "alibi", "none"])
@pytest.mark.parametrize("factor", [2, 4])
def test_positions_that_extrapolate_run_past_the_training_context(positional, factor):
    model = decoder(positional=positional)
    x = torch.randint(V, (2, factor * BLOCK))
    out = model(x)
    assert out.shape == (2, factor * BLOCK, V) and torch.isfinite(out).all()
    # the first block's logits are those of the block alone: longer input changes nothing before it
    assert torch.allclose(out[:, :BLOCK], model(x[:, :BLOCK]), atol=1e-5)


def test_learned_positions_refuse_a_longer_context_in_one_line():
    model = decoder(positional="learned")
    with pytest.raises(ValueError, match="table of 8 positions and cannot read 16 tokens"):
        model(torch.randint(V, (1, 2 * BLOCK)))


def test_tied_weights_share_one_tensor():
    tied = decoder(tie_weights=True)
    assert tied.head.weight is tied.embedding.weight
    assert sum(p.numel() for p in tied.parameters()) + V * 16 == sum(
        p.numel() for p in decoder(tie_weights=False).parameters()
    )
    rnn = CharRNN(V, dim=8, hidden=8, tie_weights=True)
    assert rnn.head.weight is rnn.embedding.weight
    with pytest.raises(ValueError, match="hidden=12 must equal dim=8"):
        CharRNN(V, dim=8, hidden=12, tie_weights=True)


def test_rope_is_rotary_as_the_classifiers_call_it():
    x = torch.randint(V, (2, BLOCK))
    assert torch.equal(decoder(positional="rope")(x), decoder(positional="rotary")(x))
    assert not torch.equal(decoder(positional="none")(x), decoder(positional="rotary")(x))


def test_no_bias_anywhere_unless_asked():
    assert not [n for n, _ in decoder(bias=False).named_parameters() if n.endswith("bias")]
    assert [n for n, _ in decoder(bias=True).named_parameters() if n.endswith("bias")]


def test_alibi_slopes_and_bias():
    assert torch.allclose(alibi_slopes(4), torch.tensor([2**-2, 2**-4, 2**-6, 2**-8]))
    assert len(alibi_slopes(6)) == 6 and (alibi_slopes(6) > 0).all()
    bias = alibi_bias(torch.tensor([0.5]), 3)[0]
    expected = torch.tensor([[0, float("-inf"), float("-inf")], [-0.5, 0, float("-inf")], [-1.0, -0.5, 0]])
    assert torch.equal(bias, expected)


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"positional": "relative"}, "positional='relative' is not one of"),
        ({"mixer": "conv", "positional": "alibi"}, "acts inside attention"),
        ({"dim": 15, "heads": 2}, "heads=2 must divide dim=15"),
        ({"dim": 6, "heads": 2, "positional": "rotary"}, "even head width"),
        ({"mixer": "mamba"}, "mixer='mamba' is not one of"),
        ({"positional": "alibi", "kernel": "naive"}, "not kernel='naive'"),
    ],
)
def test_bad_knobs_are_refused_in_one_line(knobs, message):
    with pytest.raises(ValueError, match=message):
        decoder(**knobs)


def test_weight_decay_on_matrices_only_and_a_tied_tensor_once():
    model = decoder(tie_weights=True, bias=True)
    decay, no_decay = optimizer_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert sum(p.numel() for g in (decay, no_decay) for p in g["params"]) == sum(
        p.numel() for p in model.parameters()
    )
    assert sum(p is model.embedding.weight for p in decay["params"]) == 1
