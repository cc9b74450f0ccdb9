"""Capítulo 9 (protocolo v2): a previsão escrita, a conferência, os backtests e as representações.

Os oráculos são independentes do módulo: uma lei conhecida ``L(N, D) = E + A/N^α + B/D^β`` (com
``N = M/6``) nas janelas da escada ``LADDER_V2`` em torno do vértice verdadeiro, ruído relativo
conhecido, a especificação escrita pelo próprio comando ``prediction-spec`` (o recálculo tem de
reproduzi-la) e previsões escritas à mão (dentro/fora, erro relativo calculado à mão).
"""

import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from helpers.chapters import cap09_v2 as C
from helpers.chapters import protocol_v2 as P
from helpers.chapters import protocol_v2_specs as S
from helpers.chapters.words import count_phrase, versus
from helpers.engine.runs import flops_per_token, planned_steps
from helpers.engine.specs import expand, format_spec, load_spec, parse_spec
from helpers.laws.fit.noise import NoiseModel
from helpers.laws.predictions import write_predictions
from helpers.model.flops import six_n1, six_n2

SIGMA = 0.01  # ruído entre sementes verdadeiro (relativo)
ALPHA, BETA, A, B = 0.28, 0.317, 14.39, 66.54


def law(m, d, e=0.0):
    return e + A / (m / 6) ** ALPHA + B / d**BETA


def vertex(c, e=0.0):
    """O M ótimo verdadeiro de ``law`` no orçamento ``c`` (minimização numérica)."""
    r = minimize_scalar(lambda u: law(10**u, c / 10**u, e), bounds=(3, 8), method="bounded")
    return 10**r.x


def _record(p, loss, *, mini=False, trace=False):
    m = flops_per_token(p.model, p.train.seq_len, "M")
    d = planned_steps(p.model, p.train) * p.train.batch_size_tokens
    rec = {"run_id": p.run_id, "status": "ok", "mini": mini, "final_val_bpb": float(loss), "tokens": int(d),
           "flops_per_token": {"M": m, "6N1": six_n1(p.model), "6N2": six_n2(p.model)}, "wall_time_s": 120.0,
           "train": {"seed": p.train.seed}}
    if trace:
        rec["trace"] = [{"tokens": int(d * f), "val_bpb": float(loss * (1 + 0.5 * (1 - f)))} for f in (0, 0.25, 0.5, 1)]
    return rec


def _loss(p, rng, e=0.0, sigma=SIGMA):
    m = flops_per_token(p.model, p.train.seq_len, "M")
    return law(m, planned_steps(p.model, p.train) * p.train.batch_size_tokens, e) * math.exp(sigma * rng.standard_normal())


def _hyper_records(spec, rng):
    """Uma bacia em (ln taxa, ln lote) centrada no meio de cada grade (só para as leis e as sementes)."""
    planned = expand(spec)
    centre = {c: (np.mean([math.log(p.train.lr) for p in planned if p.train.budget_flops == c]),
                  np.mean([math.log(p.train.batch_size_tokens) for p in planned if p.train.budget_flops == c]))
              for c in {p.train.budget_flops for p in planned}}
    out = []
    for p in planned:
        t0, s0 = centre[p.train.budget_flops]
        t, s = math.log(p.train.lr) - t0, math.log(p.train.batch_size_tokens) - s0
        mean = 5.0 * p.train.budget_flops ** -0.03 * (1 + 0.04 * t * t + 0.03 * s * s)
        out.append(_record(p, mean * math.exp(SIGMA * rng.standard_normal())))
    return out


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A cadeia inteira em dados sintéticos: grade + sementes, perfis IsoFLOP, ``prediction-spec`` e alvos."""
    tmp = tmp_path_factory.mktemp("cap09v2")
    rng = np.random.default_rng(3)
    spec7 = parse_spec(S.hyper_spec(lambda c: 0.003, lambda c: 256, vertex), "h")
    recs7 = _hyper_records(spec7, rng)
    new, _ = P.add_seeds(spec7, recs7)
    spec7 = parse_spec(new, "h")
    recs7 = _hyper_records(spec7, rng)
    spec8 = parse_spec(S.isoflop_spec(lambda c: 0.003, lambda c: 256, vertex), "i")
    recs8 = [_record(p, _loss(p, rng)) for p in expand(spec8)]
    paths = {k: tmp / k for k in ("h.json", "h.jsonl", "i.json", "i.jsonl", "p.json")}
    paths["h.json"].write_text(format_spec(spec7.to_dict()), encoding="utf-8")
    paths["i.json"].write_text(format_spec(spec8.to_dict()), encoding="utf-8")
    _write(paths["h.jsonl"], recs7)
    _write(paths["i.jsonl"], recs8)
    code = P.main(["prediction-spec", "--hyper", str(paths["h.jsonl"]), "--isoflop", str(paths["i.jsonl"]),
                   "--hyper-spec", str(paths["h.json"]), "--isoflop-spec", str(paths["i.json"]), "--n-boot", "60",
                   "--out", str(paths["p.json"])])
    assert code == 0
    spec9 = load_spec(paths["p.json"])
    recs9 = [_record(p, _loss(p, rng), trace=True) for p in expand(spec9)]
    return {"spec7": spec7, "recs7": recs7, "spec8": spec8, "recs8": recs8, "spec9": spec9, "recs9": recs9,
            "paths": paths}


def _analysis(w, spec9=None, recs9=None, **kw):
    kw = {"n_boot_backtest": 60, "n_boot_reps": 60, **kw}
    return C.analysis(spec9 or w["spec9"], recs9 or w["recs9"], w["spec8"], w["recs8"], w["spec7"], w["recs7"], **kw)


@pytest.fixture(scope="module")
def chapter(world):
    return _analysis(world)


def test_recomputation_reproduces_what_the_command_wrote(world, chapter):
    pred = world["spec9"].predictions[0]
    assert C.written_n_boot(pred["method"]) == 60
    rec = chapter.recomputed
    assert rec["value"] == pred["value"] and list(rec["interval"]) == pred["interval"]
    assert rec["noise_source"] == "sementes novas da grade de hiperparâmetros"  # os perfis não repetem sementes
    assert chapter.numbers["recalc_frase"] == "reproduz exatamente o valor e o intervalo escritos"
    assert chapter.numbers["recalc_degrau_frase"] == "é o degrau treinado"
    # o intervalo de um treino é o mesmo sorteio do comando
    samples = rec["boot"].samples[f"loss@{chapter.budget:g}"]
    assert C._runs_interval(samples, rec["noise"], np.random.default_rng(5)) == \
        P._single_run_interval(samples, rec["noise"], np.random.default_rng(5))
    # e a lei verdadeira (sem piso) está perto do previsto
    m_t = S.ladder_m_v2()[rec["rung"]]
    assert abs(pred["value"] / law(m_t, 1e14 / m_t) - 1) < 0.03


def test_written_prediction_is_read_not_replaced(world, chapter):
    assert chapter.written == world["spec9"].predictions
    assert chapter.numbers["prev_valor"] == f"{world['spec9'].predictions[0]['value']:.4f}".replace(".", ",")
    assert chapter.numbers["prev_iguais"] == "a mesma previsão para todos os treinos"
    assert chapter.tables["previsao"].count(chapter.numbers["prev_valor"]) == 2  # uma linha por semente
    assert chapter.tables["recalculo"].count(chapter.numbers["prev_valor"]) == 2  # escrito e refeito


def test_input_hashes_are_checked_and_the_sentence_flips(world, chapter, tmp_path):
    # os dois resultados e as duas especificações que a previsão leu
    assert [i["status"] for i in chapter.inputs] == ["confere"] * 4
    assert chapter.numbers["hash_frase"].startswith("os quatro arquivos de entrada conferem")
    preds = [dict(p, inputs=[{"path": "h.jsonl", "sha256": p["inputs"][0]["sha256"]},
                             {"path": "falta.jsonl", "sha256": "0" * 64}]) for p in world["spec9"].predictions]
    (tmp_path / "h.jsonl").write_text("mudou\n", encoding="utf-8")
    checks = C.input_checks(preds, root=tmp_path)
    assert [c["status"] for c in checks] == ["difere", "ausente"]
    spec = parse_spec(write_predictions(S.prediction_spec(1e14, 15, 0.003, 1024), preds), "alvo")
    ch = _analysis(world, spec, [_record(p, 2.0) for p in expand(spec)], n_boot=20, root=tmp_path)
    assert ch.numbers["hash_frase"].startswith("2 de 2 arquivos de entrada não conferem")
    assert ch.numbers["hash_ok"] == 0 and "h.jsonl (difere)" in ch.numbers["hash_frase"]


def _hand_spec(value=2.0, interval=(1.98, 2.02)):
    spec = S.prediction_spec(1e14, 15, 0.003, 1024)
    preds = [{"select": {"train.seed": s}, "quantity": "final_val_bpb", "value": value, "interval": list(interval),
              "level": 0.9, "method": "escrita à mão (8 réplicas", "inputs": []} for s in S.PREDICTION_SEEDS]
    return parse_spec(write_predictions(spec, preds), "alvo")


@pytest.mark.parametrize("losses, inside, words", [
    ((2.01, 2.05), ("dentro", "fora"), ("1 das 2 medidas caiu dentro do intervalo de 90%", "não cumpre", "maior que")),
    ((2.005, 1.999), ("dentro", "dentro"), ("as duas medidas caíram dentro do intervalo de 90%", "cumpre", "menor que")),
    ((1.90, 2.12), ("fora", "fora"), ("nenhuma das 2 medidas caiu dentro do intervalo de 90%", "cumpre", "menor que")),
])
def test_inside_outside_and_relative_error_follow_the_numbers(world, losses, inside, words):
    spec = _hand_spec()
    recs = [_record(p, x) for p, x in zip(expand(spec), losses)]
    ch = _analysis(world, spec, recs, n_boot=20)
    n = ch.numbers
    assert (n["dentro_s0"], n["dentro_s1"]) == inside
    for s, x in zip((0, 1), losses):
        assert n[f"erro_s{s}"] == f"{100 * (x - 2.0) / 2.0:+.2f}".replace(".", ",")
        row = [c for c in ch.checks if c["select"] == {"train.seed": s}][0]
        assert row["error_pct"] == pytest.approx(100 * (x - 2.0) / 2.0)
    mean_err = 100 * (np.mean(losses) - 2.0) / 2.0
    assert n["erro_media"] == f"{mean_err:+.2f}".replace(".", ",")
    assert (n["dentro_frase"], n["meta_frase"], n["gadre_vs"]) == words
    assert n["recalc_frase"] == "não reproduz o valor escrito"  # o valor à mão não vem do pipeline
    assert n["sinal_frase"].startswith("a lei superestimou" if mean_err > 0 else "a lei subestimou")
    assert "2,0000" in ch.tables["conferencia"]


def _rows(spec, rng, e=0.0):
    cols = {k: [] for k in ("budget", "seed", "M", "tokens", "loss")}
    for p in expand(spec):
        cols["budget"].append(p.train.budget_flops)
        cols["seed"].append(0)
        cols["M"].append(flops_per_token(p.model, p.train.seq_len, "M"))
        cols["tokens"].append(planned_steps(p.model, p.train) * p.train.batch_size_tokens)
        cols["loss"].append(_loss(p, rng, e))
    return {k: np.asarray(v, dtype=float) for k, v in cols.items()}


def test_backtest_coverage_is_near_nominal_on_a_known_law_and_falls_with_a_floor():
    noise = NoiseModel("relative", SIGMA, dof=10, n_groups=5, source="sementes")
    cover = {}
    for e in (0.0, 0.8):
        spec = parse_spec(S.isoflop_spec(lambda c: 0.003, lambda c: 256, lambda c: vertex(c, e)), "i")
        rng = np.random.default_rng(11)
        hits, errors = [], []
        for i in range(25 if e == 0 else 8):
            rows = _rows(spec, rng, e)
            bt = C.backtests(rows, noise, n_boot=80, seed=i)
            assert {r["k"] for r in bt} == {3, 4, 5} and len(bt) == 6  # 3 + 2 + 1 pares (ajuste, orçamento maior)
            for r in bt:
                assert r["error_pct"] == pytest.approx(100 * (r["observed"] - r["predicted"]) / r["predicted"])
                assert r["covered"] == (r["lo"] <= r["observed"] <= r["hi"])
                assert r["factor"] == pytest.approx(r["target"] / max(r["fit_budgets"]))
            hits += [r["covered"] for r in bt]
            errors += [r["error_pct"] for r in bt]
        cover[e] = (np.mean(hits), np.mean(errors))
    assert 0.8 <= cover[0.0][0] <= 0.99  # 150 linhas (correlacionadas): perto dos 90%
    assert cover[0.8][0] < 0.75 and cover[0.8][1] > 0  # o piso E curva a lei: ela prevê perda baixa demais


def test_representations_use_their_own_budgets(chapter):
    t = chapter.target
    budgets = {k: r["budget"] for k, r in chapter.reps.items()}
    for rep in ("M", "6N1", "6N2"):
        assert budgets[rep] == pytest.approx(float(np.median(t[rep] * t["tokens"])))
    assert len({round(v, -6) for v in budgets.values()}) == 3
    assert budgets["6N1"] < budgets["6N2"] < budgets["M"]
    assert all("predicted" in r for r in chapter.reps.values())
    assert chapter.numbers["rep_melhor"] in C.REPRESENTATIONS.values()


def test_representation_words_flip_with_the_signs():
    def rep(err, pred=2.0):
        return {"budget": 1e14, "predicted": pred, "interval": (1.95, 2.05), "measured": pred * (1 + err / 100),
                "error_pct": err, "n": 2, "inside": 2}
    n = C._rep_numbers({"M": rep(0.1), "6N1": rep(2.0), "6N2": rep(-1.5)})
    assert n["rep_melhor"] == "M" and n["rep_padrao"].startswith("o mesmo padrão")
    assert n["rep_6N1_sentido"] == "superestima o desempenho" and n["rep_6N2_sentido"] == "subestima o desempenho"
    n = C._rep_numbers({"M": rep(1.0), "6N1": rep(-0.2), "6N2": rep(-1.5)})
    assert n["rep_melhor"] == "6N₁" and n["rep_padrao"] == "um padrão diferente do Apêndice A.2"
    n = C._rep_numbers({"M": rep(0.1, 2.0), "6N1": rep(0.3, 2.001), "6N2": rep(-0.1, 1.999)})
    assert n["rep_vs_ruido"].startswith("menor que")


def test_backtests_of_the_chapter_include_the_target(chapter):
    kinds = [r["kind"] for r in chapter.backtest]
    assert kinds.count("isoflop") == 6 and kinds.count("alvo") == 4  # k = 3, 4, 5, 6
    n = chapter.numbers
    assert n["bt_linhas"] == 6 and n["bt_alvo_linhas"] == 4
    assert n["bt_acertos"] == sum(bool(r["covered"]) for r in chapter.backtest if r["kind"] == "isoflop")
    assert n["bt_frase"].startswith(("compatível", "abaixo", "acima"))
    vertices = [r for r in chapter.backtest if r["kind"] == "isoflop" and r["covered"] is not None]
    above = sum(r["observed"] > r["predicted"] for r in vertices)
    assert n["bt_lado"] == f"em {above} das {len(vertices)} previsões de vértices o observado ficou acima do previsto"
    assert n["bt_espalham"] == ("não se espalham em torno de zero" if above in (0, len(vertices))
                                else "caem dos dois lados de zero")
    err = float(n["erro_media"].replace(",", "."))
    assert n["bt_alvo_lado"] == ("do mesmo lado" if (err > 0) == (2 * above > len(vertices))
                                 else "do outro lado")


def test_noise_and_comparison_words(chapter):
    n = chapter.numbers
    sigma = 100 * chapter.noise.sigma
    assert n["choshen_vs"] == ("menor que" if round(sigma, 2) < 3.5 else "maior que")
    assert n["alvo_fator"] == "31,6" and n["alvo_vs_ds"] == "32"
    assert versus(0.69, 0.7) == "menor que" and versus(0.704, 0.7) == "igual a" and versus(0.8, 0.7) == "maior que"
    assert count_phrase(2, 2, "do intervalo") == "as duas medidas caíram dentro do intervalo"
    assert count_phrase(1, 2, "x") == "1 das 2 medidas caiu dentro x" and count_phrase(0, 3, "x").startswith("nenhuma das 3")


def test_miniature_never_raises_and_is_labelled(world):
    rng = np.random.default_rng(5)
    view8, _ = S.mini_view(world["spec8"])
    recs8 = [_record(p, 3.0 + 0.001 * i) for i, p in enumerate(expand(view8))]  # perdas crescentes: sem vértice
    for r in recs8:
        r["mini"] = True
    view9, _ = S.mini_view(world["spec9"])
    recs9 = [dict(_record(p, 3.4 * math.exp(0.01 * rng.standard_normal()), trace=True), mini=True)
             for p in expand(view9)]
    ch = C.analysis(world["spec9"], recs9, world["spec8"], recs8, world["spec7"], world["recs7"], mini=True,
                    iso_mini=True, n_boot_backtest=20, n_boot_reps=20)
    assert ch.recomputed is None and ch.fit_error
    assert ch.noise_source == "suposto (1%)"  # a grade não tem registros de miniatura
    assert ch.measured_budget == pytest.approx(1e14 * world["spec9"].mini_scale["train.budget_flops"])
    assert ch.numbers["miniatura"] == "sim" and ch.numbers["rotulo"] == " (miniatura)"
    assert ch.numbers["dentro_s0"] == "fora" and ch.numbers["recalc_frase"].startswith("não se completa")
    assert ch.backtest == [] and ch.numbers["bt_frase"] == "sem linhas para conferir"
    assert all("error" in r for r in ch.reps.values())
    assert "sem ajuste" in ch.tables["representacoes"]
    for plot in (C.plot_prediction, C.plot_backtests, C.plot_target_curves):
        plt.close(plot(ch))


def test_plots_render(chapter):
    for plot in (C.plot_prediction, C.plot_backtests, C.plot_target_curves):
        fig = plot(chapter)
        assert fig.axes and fig.axes[0].get_xlabel()
        plt.close(fig)
    fig = C.plot_prediction(chapter)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any(lab.startswith("previsão escrita") for lab in labels) and "vértices IsoFLOP" in labels
    plt.close(fig)


def test_analysis_refuses_a_spec_without_predictions(world):
    bare = parse_spec(S.prediction_spec(1e14, 15, 0.003, 1024), "sem")
    with pytest.raises(ValueError, match="não tem previsões"):
        C.analysis(bare, [], world["spec8"], world["recs8"])
