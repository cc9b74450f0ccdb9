"""Grades interiores: o campo ``refine`` das especificações e :mod:`helpers.laws.refine`.

Os resultados são sintéticos, de leis conhecidas: uma bacia em log(taxa) × log(lote) e uma parábola
em log(M), com o ótimo fora da grade. O que se confere: a extensão entra só do lado do ótimo, o
ciclo estender → "treinar" → estender termina com a região interior, uma grade já interior volta
igual, e os treinos (``run_id``) das especificações do livro não mudam com os campos novos.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.engine.specs import expand, format_spec, load_spec, parse_spec
from helpers.laws import refine
from helpers.model.flops import deepseek_m

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "experiments").glob("*.json"))

BASE = {"model": {"preset": "tiny", "num_hidden_layers": 2, "hidden_size": 32},
        "train": {"budget_flops": 1e11, "flops_convention": "M", "batch_size_tokens": 1024, "seq_len": 128,
                  "lr": 0.003, "schedule": "multistep", "eval_points": 2, "eval_tokens": 8192, "seed": 0}}
HYPER_REFINE = {"kind": "hyper", "group": "train.budget_flops",
                "axes": {"train.lr": {"factor": 2.0},
                         "train.batch_size_tokens": {"factor": 2.0, "multiple_of": 128, "min": 128}},
                "tolerance": 0.0025}
LADDER = [[1, 16], [1, 32], [2, 32], [2, 48], [3, 48], [3, 64], [4, 64], [4, 80], [5, 80], [5, 96], [6, 96],
          [6, 112]]
ISO_REFINE = {"kind": "isoflop", "group": "train.budget_flops",
              "ladder": {"keys": ["model.num_hidden_layers", "model.hidden_size"], "values": LADDER},
              "min_each_side": 3}


def hyper_spec(grids: dict[float, tuple[list, list]], refine_field=HYPER_REFINE) -> dict:
    runs = [{"train.budget_flops": c, "train.lr": lr, "train.batch_size_tokens": b}
            for c, (lrs, batches) in grids.items() for lr in lrs for b in batches]
    return {"name": "teste_hiper", "description": "grade sintética", "base": BASE, "runs": runs,
            "refine": refine_field}


#: O ótimo de cada orçamento: taxa e lote (a bacia é simétrica em log2 de cada um).
OPTIMA = {1e11: (0.016, 512), 3e11: (0.002, 256)}


def bowl(lr: float, batch: float, budget: float) -> float:
    lr_opt, b_opt = OPTIMA[budget]
    return 2.0 + 0.01 * math.log2(lr / lr_opt) ** 2 + 0.01 * math.log2(batch / b_opt) ** 2


def simulate(spec, records=(), *, law=None, diverge=lambda p: False) -> list[dict]:
    """Os registros de uma "varredura": os de ``records`` e um novo para cada treino que falta."""
    law = law or (lambda p: bowl(p.train.lr, p.train.batch_size_tokens, p.train.budget_flops))
    done = {r["run_id"]: r for r in records}
    out = list(records)
    for p in expand(spec):
        if p.run_id in done:
            continue
        bad = diverge(p)
        m = deepseek_m(p.model, p.train.seq_len)
        out.append({"run_id": p.run_id, "status": "diverged" if bad else "ok",
                    "final_val_bpb": None if bad else law(p), "flops_per_token": {"M": m},
                    "tokens": p.train.budget_flops / m})
    return out


def refine_until_interior(spec, records, *, max_rounds=10, **sim):
    history = []
    for _ in range(max_rounds):
        new, reasons = refine.refine_spec(spec, records)
        if new is spec:
            return spec, records, history
        old = {p.run_id for p in expand(spec)}
        history.append([p for p in expand(new) if p.run_id not in old])
        spec = new
        records = simulate(spec, records, **sim)
    raise AssertionError(f"a grade não ficou interior em {max_rounds} rodadas")


# --- hiperparâmetros ---------------------------------------------------------------

def test_hyper_extends_only_toward_the_optimum_and_ends_interior():
    spec = parse_spec(hyper_spec({1e11: ([0.001, 0.002, 0.004], [256, 512, 1024]),
                                  3e11: ([0.001, 0.002, 0.004], [512, 1024, 2048])}))
    records = simulate(spec)
    reports = {r.group: r for r in refine.edge_report(spec, records)}
    assert reports[1e11].edges == (("train.lr", "high"),)
    assert reports[3e11].edges == (("train.batch_size_tokens", "low"),)
    assert reports[1e11].best == {"train.lr": 0.004, "train.batch_size_tokens": 512}

    new, reasons = refine.refine_spec(spec, records)
    added = [p for p in expand(new) if p.run_id not in {q.run_id for q in expand(spec)}]
    by_budget = {c: [p for p in added if p.train.budget_flops == c] for c in OPTIMA}
    # 1e11: só taxas maiores que a grade, nos lotes da região e vizinhos (não o produto inteiro)
    assert {(p.train.lr, p.train.batch_size_tokens) for p in by_budget[1e11]} == {(0.008, 256), (0.008, 512),
                                                                                   (0.008, 1024)}
    # 3e11: só lotes menores, nas taxas da região e vizinhas
    assert {(p.train.lr, p.train.batch_size_tokens) for p in by_budget[3e11]} == {(0.001, 256), (0.002, 256),
                                                                                   (0.004, 256)}
    assert len(reasons) == 2 and all("borda" in r for r in reasons)
    # os treinos antigos continuam os mesmos, na mesma ordem
    assert [p.run_id for p in expand(new)][:len(expand(spec))] == [p.run_id for p in expand(spec)]

    final, records, history = refine_until_interior(spec, records)
    reports = {r.group: r for r in refine.edge_report(final, records)}
    assert all(r.status == "interior" and not r.touches for r in reports.values())
    assert reports[1e11].best == {"train.lr": 0.016, "train.batch_size_tokens": 512}
    assert reports[3e11].best == {"train.lr": 0.002, "train.batch_size_tokens": 256}
    for rnd in history:  # cada rodada só anda para o lado do ótimo
        for p in rnd:
            if p.train.budget_flops == 1e11:
                assert p.train.lr > 0.004 and p.train.batch_size_tokens in (256, 512, 1024)
            else:
                assert p.train.batch_size_tokens < 512 and p.train.lr in (0.001, 0.002, 0.004)
    # idempotente: a grade interior volta igual
    again, reasons = refine.refine_spec(final, records)
    assert again is final and reasons == []


def test_interior_grid_is_unchanged():
    spec = parse_spec(hyper_spec({1e11: ([0.004, 0.008, 0.016, 0.032, 0.064], [128, 256, 512, 1024, 2048])}))
    records = simulate(spec)
    (report,) = refine.edge_report(spec, records)
    assert report.status == "interior" and report.edges == () and "interior" in report.line
    new, reasons = refine.refine_spec(spec, records)
    assert new is spec and new.to_dict() == spec.to_dict() and reasons == []


def test_diverged_runs_bound_the_region():
    """Um treino divergido na borda é um ponto ruim: a região ao lado dele não toca a borda."""
    spec = parse_spec(hyper_spec({1e11: ([0.004, 0.008, 0.016, 0.032], [256, 512, 1024])}))
    records = simulate(spec, diverge=lambda p: p.train.lr == 0.032)
    (report,) = refine.edge_report(spec, records)
    assert report.best == {"train.lr": 0.016, "train.batch_size_tokens": 512}
    assert ("train.lr", "high") not in report.edges
    # sem os divergidos, a mesma região tocaria a borda superior da taxa
    kept = parse_spec(hyper_spec({1e11: ([0.004, 0.008, 0.016], [256, 512, 1024])}))
    (report,) = refine.edge_report(kept, simulate(kept))
    assert ("train.lr", "high") in report.edges


def test_pending_group_is_reported_not_refined():
    spec = parse_spec(hyper_spec({1e11: ([0.001, 0.002, 0.004], [256, 512, 1024]),
                                  3e11: ([0.001, 0.002, 0.004], [512, 1024, 2048])}))
    records = [r for r in simulate(spec) if r["run_id"] != expand(spec)[0].run_id]
    reports = {r.group: r for r in refine.edge_report(spec, records)}
    assert reports[1e11].status == "pending" and reports[1e11].finished == 8 and "8/9" in reports[1e11].line
    new, _ = refine.refine_spec(spec, records)
    added = [p for p in expand(new) if p.run_id not in {q.run_id for q in expand(spec)}]
    assert added and all(p.train.budget_flops == 3e11 for p in added)


def test_axis_limit_is_reported_as_blocked():
    """O lote não desce de ``min``: a borda fica tocada, mas nada entra desse lado."""
    OPTIMA[5e11] = (0.004, 64)
    try:
        spec = parse_spec(hyper_spec({5e11: ([0.002, 0.004, 0.008], [128, 256, 512])}))
        records = simulate(spec)
        (report,) = refine.edge_report(spec, records)
        assert report.edges == (("train.batch_size_tokens", "low"),) and report.blocked == report.edges
        new, reasons = refine.refine_spec(spec, records)
        assert new is spec and len(reasons) == 1 and "limite" in reasons[0]
    finally:
        del OPTIMA[5e11]


# --- IsoFLOP -----------------------------------------------------------------------

def iso_spec(windows: dict[float, tuple[int, int]], refine_field=ISO_REFINE) -> dict:
    runs = [{"train.budget_flops": c, "model.num_hidden_layers": LADDER[i][0], "model.hidden_size": LADDER[i][1],
             "train.lr": 0.003, "train.batch_size_tokens": 256}
            for c, (lo, hi) in windows.items() for i in range(lo, hi + 1)]
    return {"name": "teste_isoflop", "base": BASE, "runs": runs, "refine": refine_field}


def ladder_m(i: int) -> float:
    from helpers.model.config import tiny
    return deepseek_m(tiny(LADDER[i][0], hidden_size=LADDER[i][1]), 128)


#: O degrau (fracionário, em log M) do ótimo de cada orçamento.
ISO_OPTIMA = {1e11: 2.4, 1e12: 8.6}


def parabola(p) -> float:
    lo, hi = math.floor(ISO_OPTIMA[p.train.budget_flops]), math.ceil(ISO_OPTIMA[p.train.budget_flops])
    frac = ISO_OPTIMA[p.train.budget_flops] - lo
    u_opt = (1 - frac) * math.log10(ladder_m(lo)) + frac * math.log10(ladder_m(hi))
    return 2.0 + 0.5 * (math.log10(deepseek_m(p.model, 128)) - u_opt) ** 2


def test_isoflop_window_moves_toward_the_vertex_until_three_sizes_each_side():
    spec = parse_spec(iso_spec({1e11: (4, 8), 1e12: (3, 7)}))
    records = simulate(spec, law=parabola)
    reports = {r.group: r for r in refine.edge_report(spec, records)}
    assert reports[1e11].edges == (("ladder", "low"),) and reports[1e11].window == (4, 8)
    assert reports[1e12].edges == (("ladder", "high"),)
    assert reports[1e11].best == {"model.num_hidden_layers": 3, "model.hidden_size": 48}  # a borda da janela

    new, reasons = refine.refine_spec(spec, records)
    added = [p for p in expand(new) if p.run_id not in {q.run_id for q in expand(spec)}]
    rung = {tuple(v): i for i, v in enumerate(LADDER)}
    idx = {c: sorted(rung[(p.model.num_hidden_layers, p.model.hidden_size)] for p in added
                     if p.train.budget_flops == c) for c in ISO_OPTIMA}
    assert idx[1e11] == [1, 2, 3] and idx[1e12] == [8, 9, 10]  # degraus consecutivos, só do lado do ótimo
    assert all(p.train.lr == 0.003 and p.train.batch_size_tokens == 256 for p in added)
    assert len(reasons) == 2

    final, records, _ = refine_until_interior(spec, records, law=parabola)
    for r in refine.edge_report(final, records):
        assert r.status == "interior" and r.vertex_accepted
        assert min(r.sides) >= 3
        u = math.log10(r.vertex)
        assert math.log10(ladder_m(r.window[0])) < u < math.log10(ladder_m(r.window[1]))
    again, reasons = refine.refine_spec(final, records)
    assert again is final and reasons == []


def test_isoflop_ladder_end_is_blocked():
    ISO_OPTIMA[3e11] = 0.2
    try:
        spec = parse_spec(iso_spec({3e11: (0, 6)}))
        records = simulate(spec, law=parabola)
        (report,) = refine.edge_report(spec, records)
        assert report.edges == (("ladder", "low"),) and report.blocked == (("ladder", "low"),)
        assert "escada acaba" in report.line
        new, reasons = refine.refine_spec(spec, records)
        assert new is spec and any("estenda refine.ladder.values" in r for r in reasons)
    finally:
        del ISO_OPTIMA[3e11]


def test_isoflop_run_outside_the_ladder_is_an_error():
    raw = iso_spec({1e11: (2, 6)})
    raw["runs"].append({"train.budget_flops": 1e11, "model.num_hidden_layers": 2, "model.hidden_size": 64})
    spec = parse_spec(raw)
    with pytest.raises(ValueError, match="não é um degrau de refine.ladder"):
        refine.edge_report(spec, simulate(spec, law=parabola))


# --- o campo refine nas especificações -----------------------------------------------

@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_new_fields_do_not_change_runs_or_hash(path):
    # A especificação sem os campos novos (as que já os têm, como as do protocolo v2, sem eles):
    # pôr ou tirar refine e predictions não muda nenhum treino.
    raw = {k: v for k, v in json.loads(path.read_text(encoding="utf-8")).items() if k not in ("refine", "predictions")}
    spec = parse_spec(raw)
    before = [p.run_id for p in expand(spec)]
    assert spec.refine is None and spec.predictions is None and set(spec.to_dict()) <= set(raw) | {
        "grid", "runs", "mini", "mini_scale", "description"}
    committed = load_spec(path)
    assert [p.run_id for p in expand(committed)] == before and committed.spec_hash == spec.spec_hash
    extra = {**raw, "refine": HYPER_REFINE,
             "predictions": [{"select": "all", "quantity": "final_val_bpb", "value": 2.5, "interval": [2.4, 2.6],
                              "level": 0.95, "method": "teste", "inputs": []}]}
    with_fields = parse_spec(extra)
    assert with_fields.spec_hash == spec.spec_hash
    assert [p.run_id for p in expand(with_fields)] == before
    assert [p.run_id for p in expand(with_fields, mini=True)] == [p.run_id for p in expand(spec, mini=True)]
    d = with_fields.to_dict()
    assert d["refine"] == HYPER_REFINE and parse_spec(d).to_dict() == d
    assert parse_spec(json.loads(format_spec(d))).to_dict() == d
    assert parse_spec(json.loads(format_spec(spec.to_dict()))).to_dict() == spec.to_dict()


BAD_REFINE = [
    ([], "deve ser um objeto"),
    ({"kind": "grade", "group": "train.budget_flops"}, "'hyper' ou 'isoflop'"),
    ({"kind": "hyper", "axes": {"train.lr": {"factor": 2}}}, "falta o campo obrigatório 'group'"),
    ({"kind": "hyper", "group": "budget", "axes": {"train.lr": {"factor": 2}}}, "chave de variação inválida"),
    ({"kind": "hyper", "group": "train.budget_flops", "axes": {}}, "1 ou 2 eixos"),
    ({"kind": "hyper", "group": "train.budget_flops", "axes": {"train.lr": {"factor": 1.0}}}, "factor deve ser um número > 1"),
    ({"kind": "hyper", "group": "train.budget_flops", "axes": {"train.lr": {"factor": 2, "passo": 1}}},
     "campos desconhecidos"),
    ({"kind": "hyper", "group": "train.budget_flops",
      "axes": {"train.batch_size_tokens": {"factor": 2, "multiple_of": 12.5}}}, "multiple_of deve ser um inteiro"),
    ({"kind": "hyper", "group": "train.budget_flops",
      "axes": {"train.lr": {"factor": 2, "min": 0.1, "max": 0.01}}}, "min = 0.1 > max = 0.01"),
    ({"kind": "hyper", "group": "train.budget_flops", "axes": {"train.lr": {"factor": 2}}, "tolerance": 1.5},
     r"'tolerance' deve ser um número em \[0, 1\); recebi 1.5"),
    ({"kind": "hyper", "group": "train.lr", "axes": {"train.lr": {"factor": 2}}}, "é também a chave do grupo"),
    ({"kind": "isoflop", "group": "train.budget_flops"}, "falta o campo obrigatório 'ladder'"),
    ({"kind": "isoflop", "group": "train.budget_flops", "ladder": {"keys": ["model.num_hidden_layers"],
                                                                   "values": [[1], [2], [2]]}}, "degraus repetidos"),
    ({"kind": "isoflop", "group": "train.budget_flops", "ladder": {"keys": ["model.num_hidden_layers"],
                                                                   "values": [[1], [2, 3], [4]]}},
     r"ladder.values\[1\] deve ser uma lista de 1 números"),
    ({**ISO_REFINE, "min_each_side": 0}, "'min_each_side' deve ser um inteiro ≥ 1; recebi 0"),
    ({**ISO_REFINE, "scale": "N"}, "'scale' deve ser um de"),
    ({**ISO_REFINE, "tolerance": 0.01}, "campos desconhecidos \\['tolerance'\\] para kind = 'isoflop'"),
]


@pytest.mark.parametrize("field,fragment", BAD_REFINE)
def test_bad_refine_field(field, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_spec({"name": "x", "base": BASE, "refine": field}, "x.json")


# --- a linha de comando ---------------------------------------------------------------

def _write(tmp_path, raw, records):
    spec_path, results = tmp_path / "spec.json", tmp_path / "res.jsonl"
    spec_path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    results.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return spec_path, results


def test_cli_check_extend_and_converge(tmp_path, capsys):
    raw = hyper_spec({1e11: ([0.001, 0.002, 0.004], [256, 512, 1024]),
                      3e11: ([0.001, 0.002, 0.004], [512, 1024, 2048])})
    spec_path, results = _write(tmp_path, raw, simulate(parse_spec(raw)))
    original = spec_path.read_text(encoding="utf-8")

    assert refine.main([str(spec_path), "--results", str(results), "--check"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and all("toca" in line for line in out)
    assert spec_path.read_text(encoding="utf-8") == original  # --check não grava nada

    new_path = tmp_path / "nova.json"
    assert refine.main([str(spec_path), "--results", str(results), "--out", str(new_path)]) == 0
    assert "6 treino(s) novo(s)" in capsys.readouterr().out
    assert spec_path.read_text(encoding="utf-8") == original
    assert len(expand(load_spec(new_path))) == len(expand(load_spec(spec_path))) + 6

    # o ciclo pela linha de comando: estender (por cima de SPEC), "treinar", até nada tocar
    for _ in range(10):
        spec = load_spec(spec_path)
        results.write_text("".join(json.dumps(r) + "\n" for r in simulate(spec)), encoding="utf-8")
        if refine.main([str(spec_path), "--results", str(results), "--check"]) == 0:
            break
        assert refine.main([str(spec_path), "--results", str(results)]) == 0
    else:
        raise AssertionError("a linha de comando não levou a grade ao interior")
    out = capsys.readouterr().out.strip().splitlines()
    assert sum("interior" in line for line in out[-2:]) == 2
    before = spec_path.read_text(encoding="utf-8")
    assert refine.main([str(spec_path), "--results", str(results)]) == 0
    assert "nada a estender" in capsys.readouterr().out
    assert spec_path.read_text(encoding="utf-8") == before  # nada entrou: nada gravado


def test_cli_pending_fails_the_check(tmp_path, capsys):
    raw = hyper_spec({1e11: ([0.004, 0.008, 0.016, 0.032, 0.064], [128, 256, 512, 1024, 2048])})
    spec_path, results = _write(tmp_path, raw, simulate(parse_spec(raw))[:-1])
    assert refine.main([str(spec_path), "--results", str(results), "--check"]) == 1
    assert "24/25 treinos terminados" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["no_spec", "no_results", "results_dir", "no_refine", "bad_json", "bad_field",
                                  "bad_out", "no_args", "unknown_arg"])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    raw = hyper_spec({1e11: ([0.001, 0.002, 0.004], [256, 512, 1024])})
    spec_path, results = _write(tmp_path, raw, simulate(parse_spec(raw)))
    argv = [str(spec_path), "--results", str(results)]
    if case == "no_spec":
        argv[0] = str(tmp_path / "nao_existe.json")
    elif case == "no_results":
        argv[2] = str(tmp_path / "nao_existe.jsonl")
    elif case == "results_dir":
        argv[2] = str(tmp_path)
    elif case == "no_refine":
        spec_path.write_text(json.dumps({k: v for k, v in raw.items() if k != "refine"}), encoding="utf-8")
    elif case == "bad_json":
        spec_path.write_text("{ isto não é json", encoding="utf-8")
    elif case == "bad_field":
        spec_path.write_text(json.dumps({**raw, "refine": {**HYPER_REFINE, "tolerance": -1}}), encoding="utf-8")
    elif case == "bad_out":
        argv += ["--out", str(tmp_path / "pasta_que_nao_existe" / "x.json")]
    elif case == "no_args":
        argv = []
    elif case == "unknown_arg":
        argv += ["--depressa"]
    assert refine.main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("erro:") and "Traceback" not in captured.err, captured.err
    assert captured.out == ""


def test_cli_as_a_module(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "helpers.laws.refine", str(tmp_path / "nada.json"), "--results",
                           str(tmp_path / "nada.jsonl")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "não encontrada" in proc.stderr
