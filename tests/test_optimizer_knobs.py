"""`training.rho` and `training.eps`: Keras' RMSprop (Chollet's IMDB MLP) as knobs, torch's own
optimizers untouched where they are unset."""

import pytest
import torch
from conftest import training_dict
from torch import nn

from suite import identity
from suite.kinds import load_study
from suite.study import TRAINING_BASELINE, StudyError, TrainingSpec, _defaults
from suite.train import make_optimizer
from suite.vectorized import FlatParameters


def _keyed(**knobs) -> dict:
    return identity.section(training_dict(**knobs), _defaults(TrainingSpec), TRAINING_BASELINE)


def _steps(param: nn.Parameter, optimizer: torch.optim.Optimizer, n: int = 5) -> None:
    for i in range(n):
        optimizer.zero_grad()
        (param * torch.tensor([1.0, -2.0, 3e-4]) * (i + 1)).sum().backward()
        optimizer.step()


def test_rho_and_eps_reach_torchs_rmsprop_as_alpha_and_eps():
    p = nn.Parameter(torch.ones(3))
    opt = make_optimizer([p], training_dict(optimizer="rmsprop", lr=1e-3, rho=0.9, eps=1e-7))
    assert isinstance(opt, torch.optim.RMSprop)
    assert opt.param_groups[0]["alpha"] == 0.9 and opt.param_groups[0]["eps"] == 1e-7
    ref = nn.Parameter(torch.ones(3))
    _steps(p, opt)
    _steps(ref, torch.optim.RMSprop([ref], lr=1e-3, alpha=0.9, eps=1e-7))
    assert torch.equal(p, ref)
    other = nn.Parameter(torch.ones(3))  # torch's alpha 0.99 takes other steps: the knob is not inert
    _steps(other, torch.optim.RMSprop([other], lr=1e-3))
    assert not torch.equal(p, other)


def test_unset_each_optimizer_keeps_torchs_defaults():
    p = nn.Parameter(torch.ones(3))
    rmsprop = make_optimizer([p], training_dict(optimizer="rmsprop")).param_groups[0]
    assert (rmsprop["alpha"], rmsprop["eps"]) == (0.99, 1e-8)
    adadelta = make_optimizer([p], training_dict(optimizer="adadelta", lr=1.0)).param_groups[0]
    assert (adadelta["rho"], adadelta["eps"]) == (0.9, 1e-6)
    assert make_optimizer([p], training_dict()).param_groups[0]["eps"] == 1e-8
    assert make_optimizer([p], training_dict(eps=1e-7)).param_groups[0]["eps"] == 1e-7  # adam's too


def test_the_stacked_seeds_flat_optimizer_gets_them_too():
    flat = FlatParameters(
        [nn.Parameter(torch.ones(2))], training_dict(optimizer="rmsprop", rho=0.9, eps=1e-7)
    )
    group = flat.optimizer.param_groups[0]
    assert (group["alpha"], group["eps"]) == (0.9, 1e-7)


def test_unset_they_stay_out_of_trial_keys_and_set_they_enter():
    assert not {"rho", "eps"} & set(_keyed(optimizer="rmsprop"))
    assert _keyed(optimizer="rmsprop", rho=0.9, eps=1e-7) == {
        **_keyed(optimizer="rmsprop"),
        "rho": 0.9,
        "eps": 1e-7,
    }


@pytest.mark.parametrize(
    ("training", "message"),
    [
        (
            {"optimizer": "adam", "rho": 0.9},
            r"training: rho is the squared-gradient average's decay of rmsprop and adadelta; optimizer adam has none",
        ),
        (
            {"optimizer": "sgd", "eps": 1e-7},
            r"training: eps is added to an adaptive optimizer's denominator; sgd has none",
        ),
        ({"optimizer": "rmsprop", "rho": 1.5}, r"training.rho: .*less than 1"),
        ({"optimizer": "rmsprop", "eps": 0}, r"training.eps: .*greater than 0"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(write_study, training, message):
    path = write_study(training={"lr": 0.01, "epochs": 2, **training})
    with pytest.raises(StudyError, match=message) as err:
        load_study(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
