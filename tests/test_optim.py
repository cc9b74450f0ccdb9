"""O AdamW do treinador contra o do PyTorch (o oráculo): mesmos bits, mesmo formato de estado."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from helpers.engine.optim import FusedAdamW, clip_grad_norm
from helpers.engine.trainer import _param_groups
from helpers.model.config import tiny
from helpers.model.transformer import Transformer

SRC = Path(__file__).resolve().parents[1] / "src"


def _model(seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(tiny(2, hidden_size=32)).train()


def _batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (4, 32), generator=g), torch.randint(0, 256, (4, 32), generator=g)


def _torch_adamw(model, lr=3e-3, betas=(0.9, 0.95)):
    return torch.optim.AdamW(_param_groups(model, 0.1), lr=lr, betas=betas, eps=1e-8, fused=True)


def _ours(model, lr=3e-3, betas=(0.9, 0.95)):
    return FusedAdamW(_param_groups(model, 0.1), lr=lr, betas=betas, eps=1e-8)


def _train(model, opt, steps, *, start=0, torch_clip=False, max_norm=0.5):
    for i in range(start, start + steps):
        for group in opt.param_groups:  # um agendamento qualquer: o lr muda a cada passo
            group["lr"] = 3e-3 * (1 + i) / (start + steps)
        x, y = _batch(i)
        F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
        if torch_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm, foreach=True)
        else:
            clip_grad_norm(model.parameters(), max_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)


def _flat(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_same_bits_as_torch_fused_adamw():
    a, b = _model(), _model()
    _train(a, _torch_adamw(a), 12, torch_clip=True)
    _train(b, _ours(b), 12)
    assert torch.equal(_flat(a), _flat(b))
    assert not torch.equal(_flat(a), _flat(_model()))  # e o treino mexeu nos pesos


@pytest.mark.parametrize("direction", ["nosso->torch", "torch->nosso"])
def test_state_dict_is_interchangeable_with_torch(direction):
    """Um ponto de controle de um continua no outro, e dá os mesmos pesos de um treino direto."""
    first, second = (_ours, _torch_adamw) if direction == "nosso->torch" else (_torch_adamw, _ours)
    model = _model()
    opt = first(model)
    _train(model, opt, 6)
    saved = {"model": {k: v.clone() for k, v in model.state_dict().items()}, "opt": opt.state_dict()}
    resumed = _model(seed=1)  # pesos diferentes, sobrescritos pelo ponto de controle
    resumed.load_state_dict(saved["model"])
    opt2 = second(resumed, lr=1.0, betas=(0.5, 0.5))  # hiperparâmetros vêm do estado
    opt2.load_state_dict(saved["opt"])
    assert opt2.param_groups[0]["betas"] == (0.9, 0.95)
    _train(resumed, opt2, 4, start=6)
    # o treino direto, com o mesmo lr em cada passo (o agendamento de _train depende de start + steps)
    reference = _model()
    ref_opt = _ours(reference)
    _train(reference, ref_opt, 6)
    _train(reference, ref_opt, 4, start=6)
    assert torch.equal(_flat(resumed), _flat(reference))


def test_state_dict_format_matches_torch():
    a, b = _model(), _model()
    oa, ob = _torch_adamw(a), _ours(b)
    _train(a, oa, 2, torch_clip=True)
    _train(b, ob, 2)
    sa, sb = oa.state_dict(), ob.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for k in sa["state"]:
        assert sa["state"][k].keys() == sb["state"][k].keys()
        for name in sa["state"][k]:
            assert torch.equal(sa["state"][k][name], sb["state"][k][name]), (k, name)
            assert sa["state"][k][name].dtype == sb["state"][k][name].dtype


@pytest.mark.parametrize("max_norm", [1e-3, 1e3])  # recorta / não recorta
def test_clip_grad_norm_matches_torch(max_norm):
    a, b = _model(), _model()
    x, y = _batch(0)
    for m in (a, b):
        F.cross_entropy(m(x).flatten(0, 1), y.flatten()).backward()
    ta = torch.nn.utils.clip_grad_norm_(a.parameters(), max_norm, foreach=True)
    tb = clip_grad_norm(b.parameters(), max_norm)
    assert torch.equal(ta, tb)
    ga = torch.cat([p.grad.flatten() for p in a.parameters()])
    gb = torch.cat([p.grad.flatten() for p in b.parameters()])
    assert torch.equal(ga, gb)
    if max_norm < 1:
        assert float(torch.linalg.vector_norm(gb)) == pytest.approx(max_norm, rel=1e-3)


def test_parameters_without_gradient_are_left_alone():
    model = _model()
    opt = _ours(model)
    frozen = model.embed_tokens.weight
    before = frozen.detach().clone()
    x, y = _batch(0)
    F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
    frozen.grad = None
    opt.step()
    assert torch.equal(frozen, before)
    assert frozen not in opt.state


@pytest.mark.parametrize("kwargs, fragment", [
    ({"lr": -1.0}, "lr deve ser um número em [0.0, ∞); recebi -1.0"),
    ({"lr": "abc"}, "lr deve ser"),
    ({"lr": 1e-3, "betas": (1.0, 0.9)}, "betas[0] deve ser um número em [0.0, 1.0); recebi 1.0"),
    ({"lr": 1e-3, "eps": float("nan")}, "eps deve ser"),
])
def test_bad_hyperparameters_are_rejected_in_portuguese(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        FusedAdamW(_param_groups(_model(), 0.1), **kwargs)
    assert fragment in str(info.value)


def test_mismatched_state_is_rejected():
    opt = _ours(_model())
    other = _ours(Transformer(tiny(1, hidden_size=16)))
    state = other.state_dict()
    state["param_groups"][0]["params"] = state["param_groups"][0]["params"][:1]
    with pytest.raises(ValueError, match="não corresponde"):
        opt.load_state_dict(state)


def test_training_does_not_import_the_compiler():
    """O custo que esta classe evita: um treino não importa ``torch._dynamo`` (~1,4 s por processo)."""
    code = ("import sys\n"
            "from helpers.engine.trainer import train, TrainConfig\n"
            "from helpers.model.config import tiny\n"
            "r = train(tiny(1), TrainConfig(steps=3, batch_size_tokens=256, seq_len=32, lr=1e-3, eval_points=1,"
            " eval_tokens=512), quiet=True)\n"
            "assert r.status == 'ok', r.status\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
