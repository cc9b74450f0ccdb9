"""A cola dos capítulos 7–9: tabela de treinos, ruído entre sementes, escada e especificações geradas."""

import json

import numpy as np
import pytest

from helpers.laws import fit
from helpers.engine import sweeps
from helpers.chapters import cap07, cap08, cap09, common
from helpers.model.flops import deepseek_m


def _record(budget, lr, batch, loss, seed=0, n=2, d=32, status="ok", tokens=1000):
    return {"train": {"budget_flops": budget, "lr": lr, "batch_size_tokens": batch, "seed": seed},
            "model": {"num_hidden_layers": n, "hidden_size": d}, "status": status,
            "final_val_bpb": loss if status == "ok" else None,
            "flops_per_token": {"M": 2.0, "6N1": 1.0, "6N2": 1.5}, "parameters": {"non_embedding": 10},
            "tokens": tokens, "steps": 10, "wall_time_s": 1.0}


def test_ladder_is_increasing_in_m_and_uses_the_tiny_family():
    m = cap08.ladder_m()
    assert np.all(np.diff(m) > 0)
    assert m[0] == deepseek_m(cap08.ladder_config(0), 128)
    ratios = m[1:] / m[:-1]
    assert ratios.min() > 1.15 and ratios.max() < 3.5
    with pytest.raises(ValueError, match="degrau da escada"):
        cap08.ladder_config(len(cap08.SIZE_LADDER))


def test_runs_table_marks_divergence_as_nan():
    t = common.runs_table([_record(1e11, 1e-3, 512, 3.0), _record(1e11, 1e-2, 512, None, status="diverged")])
    assert t["loss"][0] == 3.0 and np.isnan(t["loss"][1])
    assert t["diverged"].tolist() == [False, True]
    with pytest.raises(ValueError, match="nenhum registro"):
        common.runs_table([])


def test_seed_noise_pools_repeated_configurations():
    recs = [_record(1e11, 1e-3, 512, v, seed=s) for s, v in enumerate((3.0, 3.06, 2.94))]
    recs += [_record(1e12, 1e-3, 512, v, seed=s) for s, v in enumerate((2.0, 2.02))]
    recs += [_record(1e12, 2e-3, 512, 9.0)]  # sem repetição: não entra
    noise = common.seed_noise(common.runs_table(recs))
    ss = ((np.array([3.0, 3.06, 2.94]) / 3.0 - 1) ** 2).sum() + ((np.array([2.0, 2.02]) / 2.01 - 1) ** 2).sum()
    assert noise["rel_std"] == pytest.approx(np.sqrt(ss / 3))
    assert noise["groups"] == 2 and noise["runs"] == 5
    with pytest.raises(ValueError, match="nenhuma configuração repetida"):
        common.seed_noise(common.runs_table(recs[-1:]))


def test_tolerance_and_batch_rounding():
    assert cap07.near_optimal_tolerance(0.0001) == 0.0025
    assert cap07.near_optimal_tolerance(0.013) == pytest.approx(0.026)
    with pytest.raises(ValueError, match="rel_std"):
        cap07.near_optimal_tolerance(-1)
    assert common.round_batch(1157) == 1152
    assert common.round_batch(1230) == 1280
    assert common.round_batch(10) == 128
    with pytest.raises(ValueError, match="lote"):
        common.round_batch(float("nan"))


def _laws():
    rows = []
    for c in (1e11, 1e12, 1e13):
        for de in np.linspace(-1, 1, 9):
            for db in np.linspace(-1, 1, 9):
                rows.append((c, 0.05 * c**-0.1 * np.exp(de), 0.3 * c**0.33 * np.exp(db), 2 * (1 + 0.02 * de**2 + 0.02 * db**2)))
    c, lr, b, loss = np.array(rows).T
    return fit.fit_hyperparameter_laws(c, lr, b, loss, tolerance=0.003, n_boot=20)


def test_isoflop_spec_uses_the_fitted_laws(tmp_path):
    laws = _laws()
    spec = cap08.isoflop_spec(laws, cap08.ISOFLOP_BUDGETS, cap08.ISOFLOP_WINDOWS)
    assert len(spec["runs"]) == sum(h - l + 1 for l, h in cap08.ISOFLOP_WINDOWS)
    for run in spec["runs"]:
        c = run["train.budget_flops"]
        assert run["train.lr"] == pytest.approx(float(laws.lr_opt(c)), rel=1e-3)
        assert run["train.batch_size_tokens"] % 128 == 0
        assert abs(np.log(run["train.batch_size_tokens"] / float(laws.batch_opt(c)))) <= np.log(1 + 128 / 1000)
    path = tmp_path / "iso.json"
    path.write_text(json.dumps(spec))
    planned = sweeps.expand(sweeps.load_spec(path))
    assert len(planned) == len(spec["runs"])
    mini = sweeps.expand(sweeps.load_spec(path), mini=True)
    assert len(mini) == 12 and len({p.train.budget_flops for p in mini}) == 3
    assert spec["description"].count("η =") == 1


def test_budgets_span_a_decade_and_a_half():
    b = cap08.ISOFLOP_BUDGETS
    assert len(b) >= 5 and np.log10(b[-1] / b[0]) >= 1.4999
    assert cap09.PREDICTION_BUDGET >= 10 * b[-1]
    assert all(h - l + 1 >= 7 for l, h in cap08.ISOFLOP_WINDOWS)
