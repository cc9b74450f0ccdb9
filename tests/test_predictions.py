"""Previsões antes dos treinos: :mod:`helpers.laws.predictions` e o campo ``predictions`` das especificações."""

from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pytest

from helpers.engine.specs import expand, parse_spec
from helpers.laws import predictions as pr
from helpers.laws.fit import fit_power_law

BASE = {"model": {"preset": "tiny", "num_hidden_layers": 2, "hidden_size": 32},
        "train": {"budget_flops": 1e11, "flops_convention": "M", "batch_size_tokens": 1024, "seq_len": 128,
                  "lr": 0.003, "eval_points": 2, "eval_tokens": 8192, "seed": 0}}
SHA = "0" * 64


def spec_dict() -> dict:
    return {"name": "teste_previsao", "base": BASE,
            "runs": [{"train.budget_flops": c, "train.seed": s} for c in (1e11, 3e11) for s in (0, 1, 2)]}


def pred(select, value=2.5, interval=(2.4, 2.6), quantity="final_val_bpb", **kw) -> dict:
    return {"select": select, "quantity": quantity, "value": value, "interval": list(interval), "level": 0.9,
            "method": kw.get("method", "lei de potência em C, intervalo t"), "inputs": kw.get("inputs", [])}


def test_write_predictions_adds_updates_and_keeps_the_runs(tmp_path):
    raw = spec_dict()
    frozen = copy.deepcopy(raw)
    src = tmp_path / "entrada.jsonl"
    src.write_text('{"run_id": "a"}\n', encoding="utf-8")
    inp = pr.file_input(src, root=tmp_path)
    assert inp == {"path": "entrada.jsonl", "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}

    d = pr.write_predictions(raw, [pred({"train.budget_flops": 3e11}, inputs=[inp]), pred("all", 2.6, (2.5, 2.7))])
    assert raw == frozen  # não muda o dicionário recebido
    spec = parse_spec(d)
    assert len(spec.predictions) == 2 and spec.predictions[0]["inputs"] == [inp]
    assert spec.spec_hash == parse_spec(raw).spec_hash
    assert [p.run_id for p in expand(spec)] == [p.run_id for p in expand(parse_spec(raw))]
    assert parse_spec(spec.to_dict()).to_dict() == spec.to_dict()
    assert spec.to_dict()["predictions"] == d["predictions"]

    # o mesmo select e a mesma grandeza: atualiza no lugar; outra grandeza: acrescenta
    d2 = pr.write_predictions(d, [pred({"train.budget_flops": 3e11}, 2.45, (2.3, 2.5)),
                                  pred({"train.budget_flops": 3e11}, 1.7, (1.6, 1.8), quantity="final_val_loss")])
    got = parse_spec(d2).predictions
    assert [p["value"] for p in got] == [2.45, 2.6, 1.7]


@pytest.mark.parametrize("bad,fragment", [
    (pred({"train.budget_flops": 1e13}), "não escolhe nenhum treino"),
    (pred({"train.budget_flops": 3e11}, 2.7, (2.4, 2.6)), r"lo ≤ value \(2.7\) ≤ hi"),
    ({**pred("all"), "level": 95}, r"'level' deve ser um número em \(0, 1\); recebi 95"),
    ({k: v for k, v in pred("all").items() if k != "method"}, r"faltam \['method'\]"),
    ({**pred("all"), "autor": "eu"}, r"campos desconhecidos \['autor'\]"),
    (pred("todos"), "'select' deve ser \"all\" ou um objeto"),
    (pred({"budget": 1e11}), "chave de variação inválida"),
    (pred("all", inputs=[{"path": "x.jsonl", "sha256": "abc"}]), r"inputs\[0\] deve ser"),
    (pred("all", method="  "), "'method' deve ser um texto não vazio"),
    ({**pred("all"), "value": float("nan")}, "'value' deve ser um número finito"),
])
def test_bad_predictions(bad, fragment):
    with pytest.raises(ValueError, match=fragment):
        pr.write_predictions(spec_dict(), [bad])


def test_repeated_prediction_in_the_spec_is_an_error():
    raw = {**spec_dict(), "predictions": [pred("all"), pred("all", 2.55)]}
    with pytest.raises(ValueError, match=r"predictions\[1\] repete"):
        parse_spec(raw)


def test_file_input_missing_file(tmp_path):
    with pytest.raises(ValueError, match="não encontrado"):
        pr.file_input(tmp_path / "nada.jsonl")


def records_for(spec, values: dict[tuple[float, int], float | None]) -> list[dict]:
    out = []
    for p in expand(spec):
        key = (p.train.budget_flops, p.train.seed)
        if key not in values:
            continue
        v = values[key]
        out.append({"run_id": p.run_id, "status": "ok" if v is not None else "diverged", "final_val_bpb": v})
    return out


def test_check_predictions_table():
    d = pr.write_predictions(spec_dict(), [pred({"train.budget_flops": 3e11}, 2.5, (2.45, 2.55)),
                                           pred({"train.budget_flops": 1e11}, 3.0, (2.9, 3.1)),
                                           pred("all", 2.0, (1.9, 2.1))])
    spec = parse_spec(d)
    recs = records_for(spec, {(3e11, 0): 2.50, (3e11, 1): 2.54, (3e11, 2): None,  # a semente 2 divergiu
                              (1e11, 0): 3.20, (1e11, 1): 3.22})  # a semente 2 ainda não terminou
    rows = pr.check_predictions(spec, recs)
    assert len(rows) == 3
    r = rows[0]
    assert r["runs"] == 3 and r["n"] == 2 and r["seeds"] == [0, 1] and r["pending"] == 0
    assert r["measured"] == pytest.approx(2.52) and r["error_pct"] == pytest.approx(100 * 0.02 / 2.5)
    assert r["covered"] is True and r["interval"] == (2.45, 2.55) and r["level"] == 0.9
    r = rows[1]
    assert r["pending"] == 1 and r["n"] == 2 and r["covered"] is False and r["error_pct"] == pytest.approx(100 * 0.21 / 3)
    assert rows[2]["runs"] == 6 and rows[2]["n"] == 4 and rows[2]["covered"] is False
    # sem nenhum treino medido: sem medida e sem veredito
    (empty,) = pr.check_predictions(parse_spec(pr.write_predictions(spec_dict(), [pred("all")])), [])
    assert empty["n"] == 0 and np.isnan(empty["measured"]) and empty["covered"] is None and empty["pending"] == 6


# --- backtest -------------------------------------------------------------------------

def power_fit_and_predict(fit: dict, target: float, level: float):
    """Lei de potência em log-log com o intervalo de predição t (a "receita" mais simples)."""
    f = fit_power_law(list(fit), list(fit.values()))
    lo, hi = f.prediction_interval(target, level)
    return float(f.predict(target)), (float(lo), float(hi))


BUDGETS = np.logspace(17, 20, 8)


def coverage(law, noise: float, level: float, *, budgets=BUDGETS, min_fit: int = 3,
             reps: int = 200) -> tuple[float, list[dict]]:
    """A cobertura agregada em ``reps`` conjuntos de dados sintéticos, e todas as linhas."""
    rows = []
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        obs = law(budgets) * np.exp(noise * rng.standard_normal(budgets.size))
        rows += pr.backtest(dict(zip(budgets, obs)), power_fit_and_predict, min_fit=min_fit, level=level).rows
    return sum(r["covered"] for r in rows) / len(rows), rows


def test_backtest_coverage_matches_the_level_when_the_law_is_right():
    cov, rows = coverage(lambda c: 5.0 * (c / 1e17) ** -0.1, noise=0.01, level=0.9)
    assert len(rows) == 200 * 5 and abs(cov - 0.9) < 0.03, cov
    assert abs(np.median([r["error_pct"] for r in rows])) < 0.5  # sem viés


def test_backtest_exposes_a_wrong_law():
    """Dados com termo irredutível, ajustados sem ele: a extrapolação erra para baixo e os intervalos falham."""
    budgets = np.logspace(17, 20, 12)
    cov, rows = coverage(lambda c: 1.5 + 3.0 * (c / 1e17) ** -0.3, noise=0.003, level=0.9, budgets=budgets,
                         min_fit=4, reps=50)
    assert cov < 0.5, cov
    assert np.mean([r["error_pct"] > 0 for r in rows]) > 0.9  # o medido fica acima do previsto
    far = [r["covered"] for r in rows if r["target"] == budgets[-1]]
    assert sum(far) <= 2, far  # e quanto mais longe a extrapolação, pior


def test_backtest_fits_only_on_smaller_budgets():
    calls = []
    observed = {1e17: 3.0, 3e17: 2.8, 1e18: 2.6, 3e18: 2.45, 1e19: 2.3}

    def fake(fit, target, level):
        calls.append((tuple(fit), target, level))
        assert all(c < target for c in fit) and all(fit[c] == observed[c] for c in fit)
        return 2.5, (2.4, 2.6)

    bt = pr.backtest(observed, fake, min_fit=3, level=0.8)
    assert [c[1] for c in calls] == [3e18, 1e19] and calls[0][0] == (1e17, 3e17, 1e18) and calls[1][2] == 0.8
    assert [r["covered"] for r in bt.rows] == [True, False] and bt.coverage == 0.5 and bt.hits == 1
    assert bt.rows[1]["error_pct"] == pytest.approx(100 * (2.3 - 2.5) / 2.5)
    assert bt.rows[1]["fit_budgets"] == (1e17, 3e17, 1e18, 3e18)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"budgets": {1e17: 1.0, 1e18: 0.9, 1e19: 0.8}}, r"pelo menos min_fit \+ 1 = 4 orçamentos"),
    ({"min_fit": 0}, "min_fit deve ser um inteiro ≥ 1"),
    ({"level": 1.5}, r"level deve ser um número em \(0, 1\)"),
    ({"budgets": {-1.0: 1.0, 1e18: 0.9, 1e19: 0.8, 1e20: 0.7}}, "deve ser um número finito e > 0"),
    ({"budgets": [(1e17, 1.0)]}, "budgets deve ser um dicionário"),
    ({"fit_and_predict": lambda fit, t, level: 2.0}, r"deve devolver \(valor, \(lo, hi\)\)"),
    ({"fit_and_predict": lambda fit, t, level: (2.0, (2.5, 1.5))}, "intervalo com lo = 2.5 > hi = 1.5"),
    ({"fit_and_predict": "não é função"}, "deve ser um chamável"),
])
def test_backtest_bad_input(kwargs, fragment):
    args = {"budgets": {1e17: 1.0, 1e18: 0.9, 1e19: 0.8, 1e20: 0.7},
            "fit_and_predict": lambda fit, t, level: (1.0, (0.5, 1.5)), **kwargs}
    with pytest.raises(ValueError, match=fragment):
        pr.backtest(args.pop("budgets"), args.pop("fit_and_predict"), **args)


def test_predictions_survive_the_worker_round_trip():
    """Os workers recebem ``spec.to_dict()`` e o leem de novo: o campo tem de voltar igual."""
    d = pr.write_predictions(spec_dict(), [pred("all")])
    spec = parse_spec(json.loads(json.dumps(parse_spec(d).to_dict())))
    assert spec.predictions == parse_spec(d).predictions
