"""O módulo do capítulo 10: tabelas, números colados e frases de comparação conferidos por fora.

As contas independentes usam os resultados crus (``results/*.jsonl``), a Eq. 4 do DeepSeek
escrita à mão e ajustes feitos aqui com ``numpy`` — não as funções que o módulo usa.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from helpers.chapters import cap10
from helpers.chapters.common import ROOT
from helpers.laws import deepseek
from helpers.presentation.plots import fmt


@pytest.fixture(scope="module")
def study():
    return cap10.quality_study(n_boot=200, quiet=True)


@pytest.fixture(scope="module")
def numbers(study):
    laws, noise = cap10.calculator_laws(study, n_boot=50)
    return cap10.chapter_numbers(study, laws, noise), laws, noise


def _raw(name):
    lines = (ROOT / "results" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in (json.loads(x) for x in lines if x.strip()) if not r.get("mini")]


def test_study_splits_the_runs_by_corpus(study):
    raw = _raw("cap10_qualidade")
    assert len(study.records) == len(raw)
    counts = {}
    for r in raw:
        c = r["train"]["corpus"]
        counts[c.get("degradation", "none")] = counts.get(c.get("degradation", "none"), 0) + 1
    assert study.runs_per_corpus == {"limpo": counts["none"], "boilerplate": counts["boilerplate"],
                                     "ruido": counts["ruido"], "embaralhado": counts["embaralhado"]}


def test_loss_at_the_largest_budget_matches_a_parabola_fitted_here(study, numbers):
    nums = numbers[0]
    for name in ("limpo", "ruido"):
        t = study.tables[name]
        top = np.nanmax(t["budget"])
        idx = (t["budget"] == top) & np.isfinite(t["loss"])
        c2, c1, c0 = np.polyfit(np.log10(t["M"][idx]), t["loss"][idx], 2)
        vertex = c0 - c1**2 / (4 * c2)
        assert nums[f"q_loss_{name}"] == fmt(vertex, ".3f")


def test_exponent_difference_on_known_samples():
    base = np.linspace(0.4, 0.6, 1001)
    fits = {"limpo": SimpleNamespace(a=0.5, boot=SimpleNamespace(samples={"a": base})),
            "x": SimpleNamespace(a=0.6, boot=SimpleNamespace(samples={"a": base + 0.1}))}
    fake = SimpleNamespace(fits=fits)
    d, lo, hi = cap10.exponent_difference(fake, "x")
    assert d == pytest.approx(0.1)
    assert lo == pytest.approx(0.1) and hi == pytest.approx(0.1)  # diferença constante: intervalo de largura zero


def test_comparison_words_follow_the_numbers(study, numbers):
    nums = numbers[0]
    for name in ("boilerplate", "ruido", "embaralhado"):
        d, lo, hi = cap10.exponent_difference(study, name)
        assert nums[f"q_cmp_{name}"] == ("maior" if study.fits[name].a > study.fits["limpo"].a else "menor")
        assert nums[f"q_sig_{name}"] == ("inclui" if lo <= 0 <= hi else "exclui")
        assert ("contrário" in nums[f"q_rumo_{name}"]) == (d > 0)
    lo, hi = study.fits["limpo"].boot.ci("a")
    assert nums["q_cpu_verdict"].startswith("concordam" if lo <= study.cpu_fit.a <= hi else "discordam")
    if all(nums[f"q_sig_{n}"] == "inclui" for n in ("boilerplate", "ruido", "embaralhado")):
        assert nums["q_nenhuma"] == "nenhuma diferença exclui o zero"
        assert nums["q_veredito"] == "não confirma nem refuta"


def test_noise_phrase_can_say_both_things():
    assert cap10._noise_phrase(-0.5, 1.7).startswith("dentro do ruído")
    assert cap10._noise_phrase(6.1, 1.7).startswith("acima do limpo")
    assert cap10._noise_phrase(-6.1, 1.7).startswith("abaixo do limpo")


def test_67b_numbers_from_equation_4_by_hand(numbers):
    nums = numbers[0]
    c0, c = 1e19, 9.95e23
    m0 = 0.1715 * c0**0.5243  # DeepSeek Eq. 4, dados atuais: M_opt = 0,1715·C^0,5243
    m = lambda a: m0 * (c / c0) ** a  # noqa: E731
    assert nums["q_67b_span"] == fmt(m(0.578) / m(0.450), ".1f") == "4,4"
    assert nums["q_67b_ratio"] == fmt(m(0.524) / m(0.450), ".1f")
    real = 4.973e11  # facts.md: M do 67B com contexto 4096
    nearest = min((0.450, 0.524, 0.578), key=lambda a: abs(math.log(m(a) / real)))
    assert nearest == 0.524 and nums["q_67b_perto"] == "dados internos atuais"
    assert nums["q_67b_fator"] == fmt(m(0.524) / real, ".2f")
    assert nums["q_a_span"] == "0,128"
    m_1e23 = lambda a: m0 * (1e23 / c0) ** 0.5243 * (c / 1e23) ** a  # noqa: E731
    assert nums["q_ex1_span"] == fmt(m_1e23(0.578) / m_1e23(0.450), ".2f")


def test_calculator_comparison_at_1e12(numbers):
    nums, laws, _ = numbers
    lr_ds = deepseek.ETA_COEF * 1e12**deepseek.ETA_EXP
    b_ds = deepseek.BATCH_COEF * 1e12**deepseek.BATCH_EXP
    assert nums["q_lr_cmp"] == ("menor" if laws["lr"](1e12) < lr_ds else "maior")
    assert nums["q_b_cmp"] == ("menor" if laws["batch"](1e12) < b_ds else "maior")
    assert nums["q_lr_ds"] == fmt(lr_ds, ".2g")


def test_tables_have_one_row_per_corpus_and_the_published_values(study):
    table = cap10.exponent_table(study)
    assert len(table.splitlines()) == 2 + len(study.names) + 1
    assert fmt(study.fits["ruido"].a, ".3f") in table
    t4 = cap10.table4_table()
    for row in deepseek.TABLE4:
        assert fmt(row.a, ".3f") in t4
    assert "DeepSeek, dados atuais" in cap10.allocation_table(study)


def test_planning_exercise_by_hand(study):
    plan = cap10.planning_exercise(study, target=0.07)
    widths = [study.fits[n].boot.ci("a")[1] - study.fits[n].boot.ci("a")[0] for n in study.names]
    shrink = math.sqrt(2) * np.mean(widths) / 2 / 0.07
    assert plan["shrink"] == pytest.approx(shrink)
    assert plan["runs_factor"] == pytest.approx(shrink**2)
    seconds = sum(r["wall_time_s"] for r in _raw("cap08_isoflop"))
    assert plan["cpu_hours_runs"] == pytest.approx(2 * shrink**2 * seconds / 3600)


def test_profiles_figure_has_a_panel_per_corpus(study):
    import matplotlib.pyplot as plt

    fig = cap10.plot_profiles(study)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(study.names)
    assert all("$a$ = " in ax.get_title() for ax in visible)
    assert "ruído: $a$ = " + fmt(study.fits["ruido"].a, ".3f") in [ax.get_title() for ax in visible]
    # legível na largura da página: nenhuma letra abaixo de 9 pt depois que o navegador encolhe a figura
    import matplotlib.text

    from helpers.presentation import plots

    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    assert min(sizes) * plots.displayed_scale(fig) >= plots.MIN_READABLE_PT - 1e-6
    plt.close(fig)
