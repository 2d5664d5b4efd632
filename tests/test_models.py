import pytest
import torch

from suite import models
from suite.models.blocks import ResidualBlock
from suite.models.config import ConfigError
from suite.models.positional import apply_rope, rope_angles, sinusoidal_table
from suite.registry import UnknownNameError

TOY = dict(vocab_size=5, seq_len=3)


def test_every_variant_builds_and_runs():
    """Every registered variant, on every task its configuration says it takes (timm-style: a new
    variant is tested without being listed): one label per sequence, or a target at every position
    (with as many classes as tokens for a next-token model); on a task it does not take it is
    refused in one line."""
    from suite.data.registry import TASKS

    x = torch.randint(0, 5, (2, 64))  # long enough for the lecture's valid convolutions
    shape = dict(vocab_size=5, seq_len=64)
    tested = set()
    for name in models.list():
        cfg = models.resolve(name)
        small = (
            {"dim": 8, "heads": 2}
            if getattr(cfg, "head_dim", None) or cfg.encoder == "decoder"
            else {"dim": 4}
        )
        if cfg.pretrained:  # the vectors are loaded by the runner; the architecture builds without them
            small["pretrained"] = None
        if getattr(cfg, "causal", None) is False:
            small["causal"] = True  # next-token prediction needs a model that reads only the past
        cfg = models.resolve(name, **small)
        for task in TASKS:
            build = dict(**shape, num_classes=5, task=task)
            if task not in type(cfg).tasks:
                with pytest.raises(ConfigError, match=f"task {task!r}"):
                    models.build(cfg, **build)
                continue
            if task == "lm" and cfg.reads_ahead():
                continue
            tested.add((name, task))
            if task == "classify":
                assert models.build(cfg, **{**build, "num_classes": 2})(x).shape == (2,), name
                assert models.build(cfg, **build)(x).shape == (2, 5), name
            else:
                assert models.build(cfg, **build)(x).shape == (2, 64, 5), (name, task)
    assert {t for _, t in tested} == set(TASKS)
    assert {"decoder_lm", "decoder_conv", "char_rnn"} <= {n for n, t in tested if t == "lm"}


def test_presets_are_the_course_models():
    assert models.resolve("mean").positional == "none"
    assert models.resolve("positional").positional == "learned"
    cfg = models.resolve("attention")
    assert (cfg.encoder, cfg.heads, cfg.positional) == ("attention", 1, "learned")
    assert models.resolve("multihead").heads == 2
    t = models.resolve("transformer")
    assert (t.positional, t.norm, t.ffn_mult) == ("sinusoidal", True, 2)


def test_residual_block_starts_as_identity_on_positive_inputs():
    block = ResidualBlock(3)
    x = torch.rand(4, 3)
    assert torch.allclose(block(x), 2 * x)  # relu(x) + x for x ≥ 0
    no_skip = ResidualBlock(3, residual=False)
    assert torch.allclose(no_skip(x), x)


def test_unknown_variant_names_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'attention'"):
        models.create("atention", **TOY)


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("lstm", {"positional": "rope"}, "rope"),
        ("multihead", {"dim": 3, "heads": 2}, "must divide"),
        ("mean", {"heads": 2}, "only to attention"),
        ("attention", {"dim": 6, "heads": 2, "positional": "rope"}, "even head width"),
        ("bow_mlp", {"positional": "learned"}, "bag of words"),
        ("conv1d", {"depth": 4}, "shrinks a length-3"),
        ("attention", {"kernel": "nope"}, "unknown attention kernel"),
        ("mean", {"dim": "wide"}, "dim must be int"),
        ("mean", {"dropout": 1.5}, "dropout"),
        ("mean", {"colour": 1}, "unknown model parameter 'colour'"),
        ("plain_self_attention", {"kernel": "nope"}, "unknown attention kernel"),
    ],
)
def test_impossible_combinations_are_refused(name, overrides, message):
    with pytest.raises(ConfigError, match=message):
        models.create(name, **TOY, **overrides)


def test_padding_is_ignored_by_mean_pooling_and_attention():
    torch.manual_seed(0)
    model = models.create("attention", vocab_size=10, seq_len=6, dim=4, pad_id=0).eval()
    short = torch.tensor([[3, 4, 5, 0, 0, 0]])
    longer = torch.tensor([[3, 4, 5, 0]])
    assert torch.allclose(model(short), model(longer), atol=1e-6)


def test_sinusoidal_and_rope_encodings():
    table = sinusoidal_table(4, 6)
    assert table.shape == (4, 6)
    assert torch.allclose(table[0], torch.tensor([0.0, 1, 0, 1, 0, 1]))
    # RoPE makes q·k depend on positions only through their difference.
    q, k = torch.randn(1, 1, 1, 4), torch.randn(1, 1, 1, 4)
    cos, sin = rope_angles(10, 4)

    def score(i, j):
        qi = apply_rope(q, cos[i : i + 1], sin[i : i + 1])
        kj = apply_rope(k, cos[j : j + 1], sin[j : j + 1])
        return (qi * kj).sum()

    assert torch.allclose(score(2, 5), score(5, 8), atol=1e-5)
    assert not torch.allclose(score(2, 5), score(2, 6), atol=1e-3)


def test_attention_and_mlp_skips_switch_separately():
    cfg = models.resolve("attention", mlp_residual=False)
    assert cfg.skips == (True, False)
    model = models.create("attention", attn_residual=False, **TOY)
    assert model.encoder.residual is False and model.encoder.mlps[0].residual is True
    t = models.create("transformer", dim=4, mlp_residual=False, **TOY)
    assert t.encoder.blocks[0].residual is True and t.encoder.blocks[0].ffn_residual is False
    assert "attn_residual" not in models.resolve("attention").to_dict()  # keys of older results stay valid
    with pytest.raises(
        ConfigError, match=r"attn_residual=True applies only to attention encoders \(attention,"
    ):
        models.create("lstm", attn_residual=True, **TOY)


# ── a new encoder is one module: its config class, its nn.Module and their registration ───────
from typing import Literal  # noqa: E402

from pydantic import Field  # noqa: E402
from torch import nn  # noqa: E402

from suite.models.config import ModelConfig, register_encoder  # noqa: E402


class GatedMlpConfig(ModelConfig):
    """The shared knobs, plus this encoder's own."""

    encoder: Literal["gated_mlp"] = "gated_mlp"
    widen: int = Field(2, ge=1)  # output width = widen · dim


@register_encoder("gated_mlp", config=GatedMlpConfig, width=lambda cfg: cfg.widen * cfg.dim)
class GatedMlpEncoder(nn.Module):
    """Each position through a gated linear unit, its output `widen` times wider (to test `width`)."""

    def __init__(self, cfg: GatedMlpConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.dim, 2 * cfg.widen * cfg.dim)

    def forward(self, x, keep):  # (B, T, D) → (B, T, widen·D)
        return nn.functional.glu(self.proj(x), dim=-1), keep


def test_a_new_encoder_registered_in_one_module_runs_in_a_study(write_study, tmp_path):
    from suite.kinds import load_study
    from suite.runner import run_study
    from suite.store import Store

    assert "gated_mlp" in models.config.encoder_names()
    gated = {"name": "mean", "label": "gated", "encoder": "gated_mlp", "widen": 3}
    path = write_study(variants=[gated, "mean"], seeds=1)
    study = load_study(path)
    store = Store(tmp_path / "results" / study.name)
    with store.lock():
        counts = run_study(study, store, progress=False)
    assert counts["ok"] == len(study.trials()) > 0
    by_label = {t.variant: t for t in study.trials()}
    assert by_label["gated"].config()["model"]["widen"] == 3
    assert "widen" not in by_label["mean"].config()["model"]  # other encoders' keys stay as they were
    model = models.create("mean", encoder="gated_mlp", widen=3, dim=4, **TOY)
    assert model.head.in_features == 12


def test_a_new_encoders_own_knob_is_validated_with_one_clear_line(write_study):
    from suite.kinds import load_study
    from suite.study import StudyError

    with pytest.raises(ConfigError, match=r"^widen must be ≥ 1, got 0$"):
        models.resolve("mean", encoder="gated_mlp", widen=0)
    with pytest.raises(ConfigError, match=r"^widen must be int, got 'wide'$"):
        models.resolve("mean", encoder="gated_mlp", widen="wide")
    with pytest.raises(
        ConfigError, match=r"^widen=3 applies only to encoder='gated_mlp', not encoder='lstm'$"
    ):
        models.resolve("lstm", widen=3)
    with pytest.raises(ConfigError, match="heads=2 applies only to attention encoders"):
        models.resolve("mean", encoder="gated_mlp", heads=2)
    path = write_study(variants=[{"name": "mean", "encoder": "gated_mlp", "widen": 0}], seeds=1)
    with pytest.raises(StudyError) as err:
        load_study(path).trials()
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "variants[0]: widen must be ≥ 1, got 0" in message


def test_an_encoder_registers_from_one_side_only():
    with pytest.raises(TypeError, match="not both"):
        register_encoder("twice", config=GatedMlpConfig, module="suite.models.blocks:ResidualBlock")


def test_an_encoder_ignores_shared_knobs_only_and_reports_factory_defaults():
    from typing import ClassVar, Literal

    from pydantic import Field

    from suite.models.config import ModelConfig

    class Odd(ModelConfig):
        encoder: Literal["odd"] = "odd"
        ignores: ClassVar[tuple[str, ...]] = ("widen",)

    with pytest.raises(TypeError, match=r"Odd.ignores names \['widen'\]"):
        register_encoder("odd", module="suite.models.blocks:ResidualBlock")(Odd)

    class Listed(ModelConfig):
        encoder: Literal["listed"] = "listed"
        sizes: list[int] = Field(default_factory=lambda: [4, 8])

    assert Listed.knob_defaults()["sizes"] == [4, 8]


def test_encoder_knobs_have_one_meaning_each_and_keep_their_study_spelling():
    """`hidden` in a study is the LSTM's hidden size, the convolution's channels or the bag of
    words' layer width: each encoder's own field, keyed as `hidden` as before."""
    lstm, conv, bow = (models.resolve(n, hidden=12) for n in ("lstm", "conv1d", "bow_mlp"))
    assert (lstm.hidden_size, conv.channels, bow.units) == (12, 12, 12)
    assert lstm.to_dict()["hidden"] == conv.to_dict()["hidden"] == bow.to_dict()["hidden"] == 12
    assert models.create("conv1d", hidden=12, **TOY).encoder.convs[0].out_channels == 12
    assert models.resolve("attention").to_dict()["hidden"] is None  # keyed at the old default
    flat = models.resolve("lstm", hidden=12).as_dict()
    assert models.config.parse(flat) == lstm  # a trial's flat dict rebuilds its configuration
    with pytest.raises(
        ConfigError, match=r"^hidden=12 applies only to encoders .*lstm.*, not encoder='attention'$"
    ):
        models.resolve("attention", hidden=12)
