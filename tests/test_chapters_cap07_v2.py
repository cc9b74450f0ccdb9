"""Capítulo 7 (protocolo v2): a análise inteira sobre registros sintéticos de uma bacia conhecida.

Os registros imitam os da varredura (mesmos ``run_id`` da especificação versionada), com uma bacia
em ``(ln taxa, ln lote)`` cujo mínimo está no centro de cada grade e ruído entre sementes
conhecido. A cadeia real é usada no meio: :func:`protocol_v2.add_seeds` escolhe onde repetir.
"""

import math

import numpy as np
import pytest

from helpers.chapters import cap07_v2 as C
from helpers.chapters import protocol_v2 as P
from helpers.engine.specs import expand, load_spec, parse_spec
from helpers.laws import deepseek, literature
from helpers.model.flops import deepseek_m

SIGMA = 0.01  # ruído entre sementes verdadeiro (relativo)
EVAL_SIGMA = 0.001  # ruído de cada metade da avaliação


def _centre(spec):
    """O centro (em log) da grade de cada orçamento: o mínimo verdadeiro da bacia sintética."""
    out = {}
    for p in expand(spec):
        out.setdefault(p.train.budget_flops, []).append((math.log(p.train.lr), math.log(p.train.batch_size_tokens)))
    return {c: np.mean(v, axis=0) for c, v in out.items()}


def _records(spec, runs, centre, rng, *, sigma=SIGMA):
    recs = []
    for p in runs:
        c = p.train.budget_flops
        t0, s0 = centre[c]
        t, s = math.log(p.train.lr), math.log(p.train.batch_size_tokens)
        base = 3.0 * c ** -0.03 * math.exp(0.03 * (t - t0) ** 2 + 0.02 * (s - s0) ** 2 + 0.004 * (t - t0) ** 3)
        loss = base * math.exp(sigma * rng.standard_normal())
        m = deepseek_m(p.model, p.train.seq_len)
        halves = [loss * math.exp(EVAL_SIGMA * rng.standard_normal()) for _ in range(2)]
        recs.append({
            "run_id": p.run_id, "mini": False, "status": "ok", "final_val_bpb": float(np.mean(halves)),
            "flops_per_token": {"M": m}, "tokens": c / m, "steps": int(c / m / p.train.batch_size_tokens),
            "wall_time_s": 60.0, "parameters": {"non_embedding": int(m / 6), "total": int(m / 6) + 8192},
            "evaluation": {"final": {"sampling": "spread", "tokens": 524288, "documents_touched": 55,
                                     "documents_total": 58, "fraction_of_split": 0.244, "halves_bpb": halves}},
        })
    return recs


def _grid_spec():
    """A grade versionada sem as sementes (que ficam no fim de ``runs``), com a sua miniatura."""
    d = load_spec(C.HYPER_SPEC_V2).to_dict()
    n = sum(1 for r in d["runs"] if r.get("train.seed", 0) == 0)
    assert all(r.get("train.seed", 0) == 0 for r in d["runs"][:n])
    d["runs"] = d["runs"][:n]
    d["mini_runs"] = [i for i in d["mini_runs"] if i < n]
    return parse_spec(d, "grade")


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(7)
    spec = _grid_spec()  # só a grade: as sementes, add_seeds escolhe aqui
    centre = _centre(spec)
    recs = _records(spec, expand(spec), centre, rng)
    new, _ = P.add_seeds(spec, recs)
    assert new is not None
    spec2 = parse_spec(new, "sintética")
    fresh = [p for p in expand(spec2) if p.train.seed != 0]
    recs += _records(spec2, fresh, centre, rng)
    return spec2, recs, centre


@pytest.fixture(scope="module")
def chapter(synthetic):
    spec, recs, _ = synthetic
    return C.analysis(spec, recs, n_boot=150)


def test_rows_follow_the_records(synthetic, chapter):
    spec, recs, _ = synthetic
    rows = chapter.rows
    grid = len(expand(_grid_spec()))  # a grade versionada (com as rodadas do refine)
    assert rows["loss"].size == len(recs) == grid + 15
    assert int(chapter.grid.sum()) == grid
    assert np.all(rows["eval_docs"] == 55) and np.all(rows["eval_docs_total"] == 58)
    # N vem do registro (parameters.non_embedding), não recalculado
    assert np.all(rows["N"] == np.floor(rows["M"] / 6))


def test_every_budget_is_interior_and_the_sentence_says_so(chapter):
    assert [r.status for r in chapter.edges] == ["interior"] * 5
    assert chapter.numbers["bordas_tocam"] == 0
    assert chapter.numbers["bordas_frase"].startswith("nenhum orçamento")


def test_noise_models_recover_the_injected_noise(chapter):
    lo, hi = chapter.seed_noise.sigma_ci
    assert lo <= SIGMA <= hi
    assert chapter.seed_noise.n_groups == 5 and chapter.seed_noise.dof == 10  # 5 grupos de 3 sementes novas
    # σ da perda (média das metades) = σ_metade/√2
    elo, ehi = chapter.eval_noise.sigma_ci
    assert elo <= EVAL_SIGMA / math.sqrt(2) <= ehi
    assert chapter.comparison.small
    assert chapter.numbers["ruido_aval_veredito"] == "pequeno perto do das sementes"


def test_laws_match_the_grid_centres_within_the_calibrated_interval(synthetic, chapter):
    _, _, centre = synthetic
    cs = np.array(sorted(centre))
    true_b = np.polyfit(np.log(cs), [centre[c][1] for c in cs], 1)[0]
    lo, hi = chapter.ci("alpha_batch")
    assert lo < hi
    assert abs(chapter.estimate["alpha_batch"] - true_b) < 0.12
    assert lo - 0.05 <= true_b <= hi + 0.05
    # o intervalo calibrado não é mais estreito que o ingênuo (que ignora o ruído da seleção)
    nlo, nhi = chapter.naive["alpha_batch"]
    assert hi - lo >= 0.8 * (nhi - nlo)
    assert chapter.boot.drop_rate < 0.05


def test_generated_words_follow_the_numbers(chapter):
    n = chapter.numbers
    lo, hi = chapter.ci("alpha_lr")
    assert n["lr_contem_ds"] == ("contém" if lo <= deepseek.ETA_EXP <= hi else "não contém")
    half = (chapter.ci("alpha_batch")[1] - chapter.ci("alpha_batch")[0]) / 2
    assert n["b_meta"] == ("atinge" if half <= C.BATCH_HALF_WIDTH_TARGET else "não atinge")
    assert C._sign_text((0.1, 0.3)).startswith("positivo")
    assert C._sign_text((-0.3, -0.1)).startswith("negativo")
    assert C._sign_text((-0.1, 0.3)).startswith("indeterminado")
    assert C._contains((0.2, 0.4), 0.3) == "contém" and C._contains((0.2, 0.4), 0.5) == "não contém"


def test_interval_width_and_law_direction_words_follow_the_numbers(chapter):
    n = chapter.numbers
    for name, key in (("lr", "alpha_lr"), ("b", "alpha_batch")):
        (lo, hi), (nlo, nhi) = chapter.ci(key), chapter.naive[key]
        assert n[f"{name}_largura_palavra"] == ("mais largo" if hi - lo > nhi - nlo else "não mais largo")
    nlo, nhi = chapter.naive["alpha_lr"]
    assert n["ing_lr_sinal"] == ("exclui o zero" if nlo > 0 or nhi < 0 else "contém o zero")
    assert n["tol_vs_ruido"] == ("menor" if chapter.tolerance < chapter.seed_noise.sigma else "maior")
    per = C._per_budget(chapter.rows, chapter.grid, chapter.selected, chapter.best, chapter.estimate, chapter.budgets)
    step = [p["lr_step"] / p["lr_ours"] for p in per]
    assert n["step_vs_nossa"] == ("mais altas" if min(step) > 1 else "mais baixas" if max(step) < 1
                                  else "ora mais altas, ora mais baixas")
    assert n["n_min"] == f"{chapter.rows['N'].min():,.0f}".replace(",", ".")


def test_step_law_and_deepseek_columns_are_the_published_laws(chapter):
    g = chapter.grid
    rows = chapter.rows
    per = C._per_budget(rows, g, chapter.selected, chapter.best, chapter.estimate, chapter.budgets)
    p = per[0]
    assert p["lr_ds"] == pytest.approx(0.3118 * p["C"] ** -0.125, rel=1e-3)
    assert p["lr_step"] == pytest.approx(1.79 * p["N"] ** -0.713 * p["D"] ** 0.307, rel=1e-9)
    assert p["batch_step"] == pytest.approx(literature.step_law_batch(p["D"]))
    closer = "a Step Law" if C._log_rms([q["lr_ours"] for q in per], [q["lr_step"] for q in per]) < \
        C._log_rms([q["lr_ours"] for q in per], [q["lr_ds"] for q in per]) else "a Eq. 1 do DeepSeek"
    assert chapter.numbers["lr_mais_perto"] == closer


def test_winner_bias_is_measured_against_the_fresh_seeds(chapter):
    # a semente da grade é a menor de 16 vizinhos parecidos: tende a ficar abaixo da média das novas
    assert chapter.numbers["vies_grupos"] == 5
    assert chapter.numbers["vies_sentido"] == "abaixo"  # a menor de 16 perdas ruidosas


def test_tables_and_plots(chapter):
    assert "DeepSeek" in chapter.tables["comparacao"] and "524" in chapter.tables["comparacao"]
    assert chapter.tables["bordas"].count("interior") == 5
    import matplotlib.pyplot as plt
    # a bacia escreve a perda medida com 3 casas (não o rótulo de 2 casas reformatado)
    fig = C.plot_basin(chapter)
    smallest = chapter.grid & (chapter.rows["budget"] == chapter.budgets[0])
    assert [t.get_text() for t in fig.axes[0].texts] == [f"{v:.3f}".replace(".", ",")
                                                         for v in chapter.rows["loss"][smallest]]
    plt.close(fig)
    for plot in (C.plot_basin, C.plot_grids, C.plot_laws, C.plot_noise):
        fig = plot(chapter)
        assert fig.axes
        plt.close(fig)


def test_miniature_without_a_basin_still_reports(synthetic):
    """Na miniatura (2 × 2 por orçamento) não há bacia: sem bootstrap, com as bordas relatadas."""
    spec, recs, centre = synthetic
    view, full = P.S.mini_view(spec)
    rng = np.random.default_rng(3)
    mini = _records(view, expand(view), {p.train.budget_flops: centre[full[p.run_id].train.budget_flops]
                                         for p in expand(view)}, rng)
    for r in mini:
        r["mini"] = True
    ch = C.analysis(spec, recs + mini, mini=True, n_boot=20)
    assert ch.mini and ch.boot is None
    assert ch.numbers["bordas_tocam"] >= 1


def test_design_coverage_runs_on_this_design(chapter):
    report = C.design_coverage(chapter, reps=20, n_boot=30)
    assert report.reps == 20 and set(report.quantities) == {"alpha_lr", "alpha_batch"}
    # a verdade do mundo sintético são as leis estimadas
    assert report.quantities["alpha_batch"].truth == pytest.approx(chapter.estimate["alpha_batch"])
    n = C.coverage_numbers(report)
    q = report.quantities["alpha_lr"].coverage
    assert n["cal_lr_ok"] == ("dentro" if 0.85 <= q <= 0.95 else "fora")
