"""helpers.chapters.protocol_v2: a cadeia v2 (grade → sementes → IsoFLOP → previsão) como comandos.

A cadeia roda de verdade em miniatura (hyper-spec → treinos → relatório de bordas → seeds →
isoflop-spec → treinos). A previsão usa resultados **sintéticos** de uma bacia e de perfis com
vértice conhecido: com ~100 passos, o menor modelo vence em todo orçamento de miniatura e nenhum
perfil IsoFLOP tem vértice interior — a previsão em si não tem miniatura. O treino da previsão
roda em miniatura e é conferido com ``check_predictions``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from helpers.chapters import protocol_v2 as P
from helpers.chapters import protocol_v2_specs as S
from helpers.chapters.common import ROOT, write_spec
from helpers.engine import sweeps
from helpers.engine.runs import flops_per_token, planned_steps
from helpers.engine.specs import expand, format_spec, load_spec, parse_spec
from helpers.laws import refine
from helpers.laws.predictions import check_predictions
from helpers.model.config import tiny

COMMITTED = ROOT / "experiments" / "cap07_hiperparametros_v2.json"


def _initial() -> dict:
    """A grade que ``hyper-spec`` escreve: a versionada sem os treinos que o ``refine`` e o ``seeds``
    acrescentaram depois (os dois só acrescentam ao fim de ``runs``)."""
    d = json.loads(COMMITTED.read_text(encoding="utf-8"))
    d["runs"] = d["runs"][:80]
    d["mini_runs"] = [i for i in d["mini_runs"] if i < 80]  # as sementes entram depois na miniatura
    if not d.get("grid"):
        d.pop("grid", None)
    return d


@pytest.fixture(autouse=True)
def _user_cache(monkeypatch):
    """O corpus padrão, do cache do usuário (como test_book_specs_run_in_miniature)."""
    monkeypatch.delenv("LEIS_DE_ESCALA_CACHE", raising=False)


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = P.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- a especificação versionada e o desenho ------------------------------------------------------

def test_committed_spec_is_what_the_command_writes(tmp_path, capsys):
    out = tmp_path / "h.json"
    code, text, _ = _run(capsys, "hyper-spec", "--out", out)
    assert code == 0 and "escrevi" in text and "de CPU" in text and "2 workers" in text
    assert out.read_text(encoding="utf-8") == format_spec(_initial())
    # o que veio depois é do refine: mais taxas e lotes nos mesmos orçamentos, com os mesmos modelos
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    models = {(r["train.budget_flops"], r["model.num_hidden_layers"], r["model.hidden_size"]) for r in committed["runs"][:80]}
    for r in committed["runs"][80:]:
        assert (r["train.budget_flops"], r["model.num_hidden_layers"], r["model.hidden_size"]) in models
        assert set(r) <= {"train.budget_flops", "model.num_hidden_layers", "model.hidden_size", "train.lr",
                          "train.batch_size_tokens", "train.seed"}


def test_hyper_design():
    spec = parse_spec(_initial(), "inicial")
    assert spec.refine == {"kind": "hyper", "group": "train.budget_flops",
                           "axes": {"train.lr": {"factor": 2.0},
                                    "train.batch_size_tokens": {"factor": 2.0, "multiple_of": 64, "min": 64}},
                           "tolerance": 0.0025, "quantity": "final_val_bpb"}
    planned = expand(spec)
    budgets = sorted({p.train.budget_flops for p in planned})
    assert np.allclose(np.log10(budgets), [10.5, 11, 11.5, 12, 12.5], atol=1e-3)
    for p in planned:
        t = p.train
        assert (t.seq_len, t.eval_sampling, t.eval_tokens, t.final_eval_tokens, t.eval_points) == (64, "spread", 65536,
                                                                                                     524288, 4)
        assert p.model.head_dim == S.HEAD_DIM_V2 and (p.model.num_hidden_layers, p.model.hidden_size) in S.LADDER_V2
    # Os melhores pontos v1 (dos orçamentos que o v2 repete) ficam no 2º ou 3º valor de cada eixo da grade v2.
    v1 = [json.loads(line) for line in (ROOT / "results" / "cap07_hiperparametros.jsonl").read_text().splitlines()]
    for c in budgets:
        grid = [p for p in planned if p.train.budget_flops == c]
        assert len(grid) == 16 and len({p.model for p in grid}) == 1
        lrs = sorted({p.train.lr for p in grid})
        batches = sorted({p.train.batch_size_tokens for p in grid})
        assert np.allclose(np.diff(np.log2(lrs)), 1) and np.allclose(np.diff(np.log2(batches)), 1)
        runs_v1 = [r for r in v1 if r["train"]["seed"] == 0 and r["status"] == "ok"
                   and math.isclose(r["train"]["budget_flops"], c, rel_tol=1e-3)]
        if runs_v1:
            best = min(runs_v1, key=lambda r: r["final_val_bpb"])["train"]
            assert lrs.index(best["lr"]) in (1, 2) and batches.index(best["batch_size_tokens"]) in (1, 2)
    assert min(p.train.batch_size_tokens for p in planned) == 64
    assert "seq_len" not in spec.description and "64 tokens" in spec.description
    assert "protocol_v2 hyper-spec" in spec.description and "cap08_isoflop.jsonl" in spec.description


def test_ladder_reaches_below_v1_with_finer_steps():
    m = S.ladder_m_v2()
    assert np.all(np.diff(m) > 0)
    steps = m[1:] / m[:-1]
    start = S.LADDER_V2.index((1, 32))
    assert np.all((steps[start:] >= 1.25) & (steps[start:] <= 1.6)), steps
    assert S.LADDER_V2[0] == (1, 8) and m[0] < S.ladder_m_v2()[S.LADDER_V2.index((1, 16))]
    with pytest.raises(ValueError, match="múltiplo de head_dim"):  # o motivo das cabeças de 8
        tiny(1, hidden_size=8)
    assert S.window(5.43e4) == (0, 6) and S.window(6.27e5) == (6, 13)
    with pytest.raises(ValueError, match=r"\(0, ∞\)"):
        S.window(-1.0)
    with pytest.raises(ValueError, match=r"\[0, 18\]"):
        S.ladder_config_v2(19)


def test_cost_estimate_is_positive_and_sums():
    planned = expand(parse_spec(_initial(), "inicial"))
    est = S.cpu_estimate(planned, workers=2)
    assert est["runs"] == 80 and est["cpu_s"] > 0
    assert est["cpu_s"] / 2 <= est["wall_s"] <= est["cpu_s"] and est["longest_s"] <= est["wall_s"]
    assert "h de CPU" in S.describe_estimate(est, "da grade") or "min de CPU" in S.describe_estimate(est, "da grade")
    with pytest.raises(ValueError, match="workers"):
        S.cpu_estimate(planned, workers=0)


def test_write_spec_keeps_refine_and_predictions(tmp_path):
    spec = json.loads(COMMITTED.read_text())
    spec["predictions"] = [{"select": "all", "quantity": "final_val_bpb", "value": 2.0, "interval": [1.9, 2.1],
                            "level": 0.9, "method": "teste", "inputs": []}]
    write_spec(spec, tmp_path / "s.json")
    assert (tmp_path / "s.json").read_text() == format_spec(spec)
    loaded = load_spec(tmp_path / "s.json")
    assert loaded.refine == spec["refine"] and list(loaded.predictions) == spec["predictions"]


# --- dados sintéticos -----------------------------------------------------------------------------

def _record(p, loss: float, *, mini: bool = False) -> dict:
    return {"run_id": p.run_id, "status": "ok", "mini": mini, "final_val_bpb": float(loss),
            "flops_per_token": {"M": flops_per_token(p.model, p.train.seq_len, "M")},
            "tokens": planned_steps(p.model, p.train) * p.train.batch_size_tokens}


def _write_records(path, recs) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")


def _hyper_records(spec, rng, *, shift: float = 0.0) -> list[dict]:
    """Uma bacia em (ln taxa, ln lote) centrada no meio da grade de cada orçamento (``shift``: em
    passos de 2×, na taxa), 0,5% de ruído."""
    planned = expand(spec)
    centre = {}
    for c in {p.train.budget_flops for p in planned}:
        grid = [p for p in planned if p.train.budget_flops == c and p.train.seed == 0]
        centre[c] = (np.mean([math.log(p.train.lr) for p in grid]) + shift * math.log(2),
                     np.mean([math.log(p.train.batch_size_tokens) for p in grid]))
    out = []
    for p in planned:
        t0, s0 = centre[p.train.budget_flops]
        t, s = math.log(p.train.lr) - t0, math.log(p.train.batch_size_tokens) - s0
        mean = 5.0 * p.train.budget_flops ** -0.03 * (1 + 0.04 * t * t + 0.03 * s * s)
        out.append(_record(p, mean * math.exp(0.005 * rng.standard_normal())))
    return out


def _isoflop_records(spec, vertex, rng) -> list[dict]:
    """Perfis parabólicos em log10 M com vértice em ``vertex(C)``, 0,5% de ruído."""
    out = []
    for p in expand(spec):
        c = p.train.budget_flops
        u = math.log10(flops_per_token(p.model, p.train.seq_len, "M") / vertex(c))
        out.append(_record(p, 5.0 * c ** -0.03 * (1 + 0.3 * u * u) * math.exp(0.005 * rng.standard_normal())))
    return out


# --- a cadeia -------------------------------------------------------------------------------------

def test_chain_in_miniature(tmp_path, capsys):
    spec7, res7 = tmp_path / "h.json", tmp_path / "h.jsonl"
    assert _run(capsys, "hyper-spec", "--out", spec7)[0] == 0
    records = sweeps.run_sweep(load_spec(spec7), res7, mini=True, quiet=True)
    assert len(records) == 12 and all(r["mini"] for r in records)
    # O relatório de bordas (helpers.laws.refine) na especificação da miniatura.
    view = tmp_path / "h_mini.json"
    view.write_text(format_spec(S.mini_view(load_spec(spec7))[0].to_dict()), encoding="utf-8")
    capsys.readouterr()
    code = refine.main([str(view), "--results", str(res7), "--check"])
    assert code in (0, 1) and len(capsys.readouterr().out.strip().splitlines()) == 3  # um por orçamento da miniatura
    # Sementes: sem --mini, os registros de miniatura não contam (tudo pendente) → recusa, uma linha.
    code, out, err = _run(capsys, "seeds", spec7, "--results", res7)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and "pendentes" in err
    code, out, _ = _run(capsys, "seeds", spec7, "--results", res7, "--mini")
    assert code == 0 and "9 treino(s) novo(s)" in out
    spec = load_spec(spec7)
    fresh = [p for p in expand(spec) if p.train.seed != 0]
    assert len(fresh) == 9 and {p.train.seed for p in fresh} == {1, 2, 3}
    assert len(spec.mini_runs) == 21
    before = spec7.read_bytes()
    assert _run(capsys, "seeds", spec7, "--results", res7, "--mini")[0] == 0  # idempotente
    assert spec7.read_bytes() == before
    assert len(sweeps.run_sweep(spec, res7, mini=True, quiet=True)) == 9
    spec8, res8 = tmp_path / "i.json", tmp_path / "i.jsonl"
    code, out, _ = _run(capsys, "isoflop-spec", "--hyper", res7, "--hyper-spec", spec7, "--out", spec8, "--mini")
    assert code == 0 and "de CPU" in out
    iso = load_spec(spec8)
    assert iso.refine["kind"] == "isoflop" and iso.refine["min_each_side"] == 3
    assert iso.refine["ladder"]["values"] == [list(r) for r in S.LADDER_V2]
    budgets = sorted({p.train.budget_flops for p in expand(iso)})
    assert len(budgets) == 6 and np.allclose(np.diff(np.log10(budgets)), 0.4, atol=1e-3)
    assert "(miniatura)" in iso.description and "protocol_v2 isoflop-spec" in iso.description
    records = sweeps.run_sweep(iso, res8, mini=True, quiet=True)
    assert len(records) == 12 and all(r["status"] in ("ok", "diverged") for r in records)


def test_protocol_on_synthetic_results(tmp_path, capsys):
    rng = np.random.default_rng(0)
    spec7, res7 = tmp_path / "h.json", tmp_path / "h.jsonl"
    spec7.write_text(format_spec(_initial()), encoding="utf-8")
    # Uma grade cujo ótimo está além da borda de taxa: recusa, uma linha, código 1, nada gravado.
    _write_records(res7, _hyper_records(load_spec(spec7), rng, shift=3.0))
    code, out, err = _run(capsys, "seeds", spec7, "--results", res7)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "toca a borda" in err
    assert spec7.read_text(encoding="utf-8") == format_spec(_initial())
    # Uma grade interior: 3 sementes novas (1, 2, 3) na melhor configuração de cada orçamento.
    _write_records(res7, _hyper_records(load_spec(spec7), rng))
    code, out, _ = _run(capsys, "seeds", spec7, "--results", res7)
    assert code == 0 and "15 treino(s) novo(s)" in out
    spec = load_spec(spec7)
    # as sementes dos orçamentos que a miniatura já tinha (1º, 3º e 5º) entram na miniatura
    assert len(spec.runs) == 95 and spec.mini_runs[12:] == (80, 81, 82, 86, 87, 88, 92, 93, 94)
    assert _run(capsys, "seeds", spec7, "--results", res7)[0] == 0 and load_spec(spec7).runs == spec.runs
    _write_records(res7, _hyper_records(spec, rng))
    spec8, res8 = tmp_path / "i.json", tmp_path / "i.jsonl"
    assert _run(capsys, "isoflop-spec", "--hyper", res7, "--hyper-spec", spec7, "--out", spec8)[0] == 0
    iso = load_spec(spec8)
    prior = P.v1_priors()
    _write_records(res8, _isoflop_records(iso, prior.m_opt, rng))
    spec9 = tmp_path / "p.json"
    code, out, err = _run(capsys, "prediction-spec", "--hyper", res7, "--isoflop", res8, "--hyper-spec", spec7,
                          "--isoflop-spec", spec8, "--n-boot", 200, "--out", spec9)
    assert code == 0, err
    target = load_spec(spec9)
    planned = expand(target)
    assert [p.train.seed for p in planned] == [0, 1]
    assert planned[0].train.budget_flops == 1e14 >= 30 * max(p.train.budget_flops for p in expand(iso))
    assert len(target.predictions) == 2
    for pred in target.predictions:
        lo, hi = pred["interval"]
        assert lo <= pred["value"] <= hi and pred["level"] == 0.9
        assert {i["path"] for i in pred["inputs"]} == {str(p.resolve()) for p in (res7, res8, spec7, spec8)}
        assert all(len(i["sha256"]) == 64 for i in pred["inputs"])
    true = 5.0 * 1e14 ** -0.03
    assert abs(target.predictions[0]["value"] / true - 1) < 0.03
    # O treino da previsão em miniatura, e a conferência das previsões.
    res9 = tmp_path / "p.jsonl"
    records = sweeps.run_sweep(target, res9, mini=True, quiet=True)
    assert len(records) == 2
    rows = check_predictions(S.mini_view(target)[0], records)
    assert len(rows) == 2 and all(r["n"] == 1 and math.isfinite(r["measured"]) for r in rows)
    assert check_predictions(target, records)[0]["pending"] == 1  # a especificação inteira ainda espera o treino


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    empty = tmp_path / "vazio.jsonl"
    empty.write_text("")
    cases = [
        (2, "hyper-spec", "--out", tmp_path),
        (2, "hyper-spec", "--out", tmp_path / "falta" / "x.json"),
        (2, "hyper-spec"),
        (2, "comando-que-nao-existe"),
        (2, "seeds", COMMITTED, "--results", tmp_path / "nao-existe.jsonl"),
        (2, "seeds", COMMITTED, "--results", empty, "--seeds", "0", "1", "2"),
        (2, "seeds", COMMITTED, "--results", empty, "--seeds", "1", "1", "2"),
        (2, "seeds", COMMITTED, "--results", empty, "--seeds", "um"),
        (2, "seeds", tmp_path / "nao-existe.json", "--results", empty),
        (2, "isoflop-spec", "--hyper", tmp_path / "nao-existe.jsonl", "--out", tmp_path / "i.json"),
        (2, "prediction-spec", "--hyper", empty, "--isoflop", empty, "--n-boot", "3", "--out", tmp_path / "p.json"),
        (1, "seeds", COMMITTED, "--results", empty),  # nada treinado: recusa do protocolo
        (1, "isoflop-spec", "--hyper", empty, "--hyper-spec", COMMITTED, "--out", tmp_path / "i.json"),
    ]
    for expected, *argv in cases:
        code, out, err = _run(capsys, *argv)
        lines = err.strip().splitlines()
        assert code == expected, (argv, err)
        assert len(lines) == 1 and lines[0].startswith("erro:") and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "i.json").exists() and not (tmp_path / "p.json").exists()
