"""Capítulo 10 — qualidade dos dados e expoentes de escala (DeepSeek LLM §3.3).

- :data:`QUALITY_CORPORA` — os corpora do experimento: nome → (degradação, nível), com as
  degradações de :mod:`helpers.engine.degradations`;
- :func:`quality_spec` — os treinos IsoFLOP do capítulo 8 repetidos em cada corpus;
- :func:`corpus_name` — o nome do corpus de treino de um registro;
- :func:`quality_study` — lê (ou recalcula em miniatura) a varredura e ajusta os perfis
  IsoFLOP de cada corpus: um :class:`QualityStudy`; as tabelas, os números colados no
  texto e as frases de comparação do capítulo saem dele: :func:`exponent_table`,
  :func:`allocation_table`, :func:`chapter_numbers`, :func:`plot_profiles`;
- :func:`calculator_laws` e :func:`explorer_presets` — o que os dois exploradores recebem;
- :func:`planning_exercise` — a conta do exercício de planejamento.

Linha de comando::

    python -m helpers.chapters.cap10 spec --out experiments/cap10_qualidade.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine import sweeps
from ..laws import deepseek, fit
from ..presentation import widgets
from ..presentation.plots import fmt, format_si, markdown_table, new_figure, plot_isoflop
from .cap07 import chapter7_laws
from .cap08 import isoflop_fit
from .common import ROOT, runs_table, write_spec

__all__ = ["QUALITY_CORPORA", "quality_spec", "corpus_name", "QualityStudy", "quality_study", "exponent_difference",
           "table4_table", "exponent_table", "calculator_laws", "explorer_presets", "allocation_table",
           "chapter_numbers", "plot_profiles", "planning_exercise", "BUDGET_67B", "LABELS", "main"]

#: Os nomes dos corpora como o texto os escreve.
LABELS = {"limpo": "limpo", "boilerplate": "boilerplate", "ruido": "ruído", "embaralhado": "embaralhado"}
#: O orçamento do 67B (M·D, Eq. 2 com contexto 4096 e 2 tri de *tokens*), arredondado como no texto.
BUDGET_67B = 9.95e23
#: As três linhas do DeepSeek na Tabela 4 (dados antigos, atuais, OpenWebText2).
_DEEPSEEK_ROWS = tuple(r for r in deepseek.TABLE4 if r.label.startswith("DeepSeek"))

#: Os corpora do experimento: nome → (degradação, nível).
QUALITY_CORPORA: dict[str, tuple[str, float]] = {
    "limpo": ("none", 0.0),
    "boilerplate": ("boilerplate", 0.5),
    "ruido": ("ruido", 0.1),
    "embaralhado": ("embaralhado", 1.0),
}


def quality_spec(isoflop: dict, *, corpora=tuple(QUALITY_CORPORA), name: str = "cap10_qualidade") -> dict:
    """Os perfis IsoFLOP do capítulo 8 repetidos em cada corpus (mesmos orçamentos, tamanhos,
    taxas e lotes); só o corpus de treino muda."""
    runs = []
    for corpus in corpora:
        kind, level = QUALITY_CORPORA[corpus]
        for r in isoflop["runs"]:
            run = dict(r)
            if kind != "none":
                run["train.corpus"] = {"degradation": kind, "degradation_level": level}
            runs.append(run)
    n = len(isoflop["runs"])
    desc = (
        f"Capítulo 10 (DeepSeek LLM §3.3, Tabela 4): os {n} treinos IsoFLOP de cap08_isoflop repetidos em "
        f"{len(corpora)} corpora de treino — " + "; ".join(
            f"{c} ({QUALITY_CORPORA[c][0]}, nível {QUALITY_CORPORA[c][1]})" for c in corpora)
        + ". A validação é sempre o texto limpo. Gerada por 'python -m helpers.chapters.cap10 spec'."
    )
    # Miniatura: em cada corpus, os 4 tamanhos do menor orçamento (segundos; exercita o caminho todo,
    # mas um orçamento só não dá lei — o notebook então usa os resultados versionados).
    mini = [k * n + j for k in range(len(corpora)) for j in list(isoflop.get("mini_runs", range(4)))[:4]]
    return {"name": name, "description": desc, "base": isoflop["base"], "runs": runs,
            "mini": isoflop.get("mini", {}), "mini_scale": isoflop.get("mini_scale", {}), "mini_runs": mini}


def corpus_name(record: dict) -> str:
    """O nome (de :data:`QUALITY_CORPORA`) do corpus de treino de um registro."""
    c = record["train"]["corpus"]
    pair = (c.get("degradation", "none"), float(c.get("degradation_level", 0.0)))
    for name, value in QUALITY_CORPORA.items():
        if (value[0], float(value[1])) == pair:
            return name
    return f"{pair[0]}:{pair[1]}"


@dataclass(frozen=True)
class QualityStudy:
    """A varredura de qualidade ajustada: um perfil IsoFLOP por corpus e a verificação cruzada na CPU.

    ``tables[nome]`` são os vetores de :func:`helpers.chapters.common.runs_table` dos treinos
    daquele corpus, ``fits[nome]`` o :class:`helpers.laws.fit.IsoFlopFit` deles; ``cpu_fit``
    é o ajuste da varredura IsoFLOP do capítulo 8 (corpus limpo, CPU). ``notes`` registra o
    que aconteceu na leitura (por exemplo, uma miniatura sem ajuste que voltou aos resultados
    versionados).
    """

    records: list
    names: tuple
    tables: dict
    fits: dict
    cpu_fit: fit.IsoFlopFit
    devices: tuple
    notes: tuple = ()

    @property
    def runs_per_corpus(self) -> dict[str, int]:
        return {n: int(self.tables[n]["loss"].size) for n in self.names}


def _by_corpus(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(corpus_name(r), []).append(r)
    return out


def _fit_corpora(records: list[dict], n_boot: int) -> tuple[tuple, dict, dict, list[str]]:
    groups = _by_corpus(records)
    names = tuple(n for n in QUALITY_CORPORA if n in groups)
    tables = {n: runs_table(groups[n]) for n in names}
    fits, notes = {}, []
    for n in names:
        try:
            fits[n] = isoflop_fit(tables[n], n_boot=n_boot)
        except ValueError as exc:  # miniatura: orçamentos pequenos demais para ter mínimo interior
            notes.append(f"{n}: sem ajuste IsoFLOP nesta execução ({exc})")
    return names, tables, fits, notes


def quality_study(*, recompute: bool = False, n_boot: int = 1000, quiet: bool = False) -> QualityStudy:
    """Os perfis IsoFLOP de cada corpus de ``cap10_qualidade`` e o do capítulo 8 na CPU.

    Com ``recompute=True`` roda a miniatura da varredura; se ela não der um ajuste por
    corpus (um orçamento só não dá lei), o estudo volta aos resultados versionados e
    diz isso em ``notes``.
    """
    records = sweeps.experiment_results("cap10_qualidade", recompute=recompute, quiet=quiet)
    names, tables, fits, notes = _fit_corpora(records, n_boot)
    if recompute and len(fits) < len(names):
        notes.append("Miniatura incompleta: o restante do capítulo usa os resultados versionados.")
        records = sweeps.experiment_results("cap10_qualidade")
        names, tables, fits, _ = _fit_corpora(records, n_boot)
    cpu_fit = isoflop_fit(runs_table(sweeps.experiment_results("cap08_isoflop")), n_boot=n_boot)
    return QualityStudy(records=records, names=names, tables=tables, fits=fits, cpu_fit=cpu_fit,
                        devices=tuple(sorted({r["device"] for r in records})), notes=tuple(notes))


def exponent_difference(study: QualityStudy, name: str, reference: str = "limpo") -> tuple[float, float, float]:
    """``a(nome) − a(referência)`` e o seu intervalo de 95% pelas reamostragens dos dois ajustes.

    As reamostragens de corpora diferentes são independentes (treinos diferentes), então
    parear a *i*-ésima de um com a *i*-ésima do outro é legítimo.
    """
    f, ref = study.fits[name], study.fits[reference]
    sa, sr = np.asarray(f.boot.samples["a"]), np.asarray(ref.boot.samples["a"])
    n = min(len(sa), len(sr))
    d = sa[:n] - sr[:n]
    d = d[np.isfinite(d)]
    lo, hi = np.quantile(d, [0.025, 0.975])
    return float(f.a - ref.a), float(lo), float(hi)


def table4_table() -> str:
    """A Tabela 4 do DeepSeek em Markdown: estudo, dados, ``a`` e ``b``."""
    rows = [[r.label, r.data, fmt(r.a, ".3f"), fmt(r.b, ".3f")] for r in deepseek.TABLE4]
    return markdown_table(["estudo", "dados", "a (modelo)", "b (dados)"], rows)


def _best_loss(f: fit.IsoFlopFit) -> float:
    """A perda ótima (vértice) no maior orçamento aceito."""
    return max(f.accepted, key=lambda p: p.budget).loss_opt


def _ci_text(f: fit.IsoFlopFit) -> str:
    lo, hi = f.boot.ci("a")
    return f"[{fmt(lo, '.3f')}, {fmt(hi, '.3f')}]"


def exponent_table(study: QualityStudy) -> str:
    """A tabela dos expoentes por corpus, com a diferença para o limpo e o ajuste da CPU."""
    rows = []
    for name in study.names:
        f = study.fits[name]
        if name != "limpo" and "limpo" in study.fits:
            d, lo, hi = exponent_difference(study, name)
            dtxt = f"{fmt(d, '+.3f')} [{fmt(lo, '+.3f')}, {fmt(hi, '+.3f')}]"
        else:
            dtxt = "—"
        rows.append([name, fmt(f.a, ".3f"), _ci_text(f), fmt(f.b, ".3f"), fmt(_best_loss(f), ".3f"), dtxt])
    c = study.cpu_fit
    rows.append(["limpo, CPU (cap08_isoflop)", fmt(c.a, ".3f"), _ci_text(c), fmt(c.b, ".3f"),
                 fmt(_best_loss(c), ".3f"), "—"])
    return markdown_table(["corpus de treino", "a", "IC 95% de a", "b = 1 − a", "L_opt no maior C (bpb)",
                           "a − a(limpo) [IC 95%]"], rows)


def calculator_laws(study: QualityStudy, *, n_boot: int = 200) -> tuple[dict, dict]:
    """As leis do livro para a calculadora (taxa e lote do capítulo 7, M e D da CPU) e o ruído entre sementes."""
    hyper, noise = chapter7_laws(sweeps.experiment_results("cap07_hiperparametros"), n_boot=n_boot)
    laws = {"lr": widgets.PowerLaw(hyper.lr.k, hyper.lr.alpha),
            "batch": widgets.PowerLaw(hyper.batch.k, hyper.batch.alpha),
            "M": widgets.PowerLaw(study.cpu_fit.scale_law.k, study.cpu_fit.scale_law.alpha),
            "D": widgets.PowerLaw(study.cpu_fit.data_law.k, study.cpu_fit.data_law.alpha)}
    return laws, noise


def explorer_presets(study: QualityStudy) -> list:
    """As predefinições do explorador: a Tabela 4 e os expoentes medidos neste livro."""
    presets = widgets.table4_presets()
    presets.append(widgets.Preset("este livro — limpo, CPU (cap. IsoFLOP)", round(study.cpu_fit.a, 3), "cap08_isoflop"))
    for name in study.names:
        presets.append(widgets.Preset(f"este livro — corpus {name}, GPU", round(study.fits[name].a, 3),
                                      "cap10_qualidade"))
    return presets


def _allocation_rows(study: QualityStudy) -> list[tuple[str, float]]:
    return [("DeepSeek, dados antigos", 0.450), ("DeepSeek, dados atuais", 0.524), ("DeepSeek, OpenWebText2", 0.578),
            ("este livro, limpo (CPU)", study.cpu_fit.a)]


def allocation_table(study: QualityStudy, budget: float = BUDGET_67B) -> str:
    """A alocação no orçamento do 67B com cada expoente (ponto fixo de :func:`helpers.presentation.widgets.anchor`)."""
    rows = []
    for label, a in _allocation_rows(study):
        al = widgets.allocation(a, budget)
        rows.append([label, fmt(a, ".3f"), format_si(al["M"], 3), format_si(al["N"], 3), format_si(al["D"], 3),
                     fmt(al["tokens_per_param"], ".0f")])
    return markdown_table(["expoente de", "a", "M_opt (FLOPs/token)", "N ≈ M/6", "D_opt (tokens)", "tokens/parâmetro"],
                          rows)


def _noise_phrase(rel_pct: float, noise_pct: float) -> str:
    """“dentro do ruído” se a diferença relativa não passa de duas vezes o ruído entre sementes."""
    if abs(rel_pct) <= 2 * noise_pct:
        return "dentro do ruído entre sementes: praticamente igual ao limpo"
    return ("acima" if rel_pct > 0 else "abaixo") + " do limpo, além de duas vezes o ruído entre sementes"


def _direction(d: float) -> str:
    """Um corpus pior com ``a`` menor vai na direção da leitura da Tabela 4; com ``a`` maior, na oposta."""
    return "na direção da leitura da Tabela 4" if d < 0 else "o contrário da leitura da Tabela 4"


def chapter_numbers(study: QualityStudy, laws: dict, noise: dict) -> dict[str, str]:
    """Os números e as frases que o texto do capítulo cola (``glue``), pelos nomes usados no notebook.

    As frases de comparação (maior/menor, inclui/exclui o zero, dentro/fora do ruído,
    qual linha do DeepSeek fica mais perto do 67B) são escolhidas comparando os números.
    """
    out: dict[str, str] = {"q_treinos": str(len(study.records)),
                           "q_gpu_min": fmt(sum(r["wall_time_s"] for r in study.records) / 60, ".0f")}
    noise_pct = 100 * noise["rel_std"]
    out["q_ruido"] = fmt(noise_pct, ".1f")
    ref_loss = _best_loss(study.fits["limpo"])
    for name in study.names:
        f = study.fits[name]
        lo, hi = f.boot.ci("a")
        out[f"q_a_{name}"] = fmt(f.a, ".3f")
        out[f"q_ci_{name}"] = f"{fmt(lo, '.2f')} a {fmt(hi, '.2f')}"
        out[f"q_loss_{name}"] = fmt(_best_loss(f), ".3f")
        if name == "limpo":
            continue
        rel = 100 * (_best_loss(f) / ref_loss - 1)
        out[f"q_loss_rel_{name}"] = fmt(rel, "+.1f")
        out[f"q_loss_vs_{name}"] = _noise_phrase(rel, noise_pct)
        d, dlo, dhi = exponent_difference(study, name)
        out[f"q_d_{name}"] = f"{fmt(d, '+.3f')} (IC {fmt(dlo, '+.2f')} a {fmt(dhi, '+.2f')})"
        out[f"q_sig_{name}"] = "exclui" if dlo > 0 or dhi < 0 else "inclui"
        out[f"q_cmp_{name}"] = "maior" if d > 0 else "menor"
        out[f"q_rumo_{name}"] = _direction(d)
    degraded = [n for n in study.names if n != "limpo"]
    diffs = {n: exponent_difference(study, n) for n in degraded}
    toward = [n for n in degraded if diffs[n][0] < 0]
    against = [n for n in degraded if diffs[n][0] >= 0]
    part = lambda ns: " e ".join(f"{LABELS.get(n, n)} ({fmt(diffs[n][0], '+.3f')})" for n in ns)  # noqa: E731
    out["q_direcoes"] = "; ".join(filter(None, [
        f"{part(toward)} na direção do DeepSeek" if toward else "",
        f"{part(against)} na oposta" if against else ""]))
    excluded = [n for n in degraded if out[f"q_sig_{n}"] == "exclui"]
    out["q_nenhuma"] = ("nenhuma diferença exclui o zero" if not excluded else
                        "todas as diferenças excluem o zero" if len(excluded) == len(degraded) else
                        "só a diferença de " + " e ".join(LABELS.get(n, n) for n in excluded) + " exclui o zero")
    out["q_veredito"] = "não confirma nem refuta" if not excluded else "dá um sinal parcial sobre"
    worst = max(degraded, key=lambda n: _best_loss(study.fits[n]))
    out["q_pior"] = LABELS.get(worst, worst)
    out["q_loss_pior"] = out[f"q_loss_{worst}"]
    # O limpo na CPU contra o intervalo do limpo na GPU.
    lo, hi = study.fits["limpo"].boot.ci("a")
    inside = lo <= study.cpu_fit.a <= hi
    out["q_a_cpu"] = fmt(study.cpu_fit.a, ".3f")
    out["q_cpu_verdict"] = ("concordam: o valor da CPU cai dentro do intervalo de 95% da GPU, o que dá alguma "
                            "confiança de que o método é estável" if inside else
                            "discordam: o valor da CPU cai fora do intervalo de 95% da GPU, e o método não é "
                            "estável entre as duas máquinas")
    widths = [np.subtract(*study.fits[n].boot.ci("a")[::-1]) for n in study.names]
    out["q_ci_largura"] = fmt(float(np.mean(widths)), ".2f")
    # O 67B e as três linhas do DeepSeek.
    m67 = {m["name"]: m for m in widgets.published_models()}["67B"]
    out["q_67b_m"] = format_si(m67["M"], 3)
    m_of = {r.label: widgets.allocation(r.a, BUDGET_67B)["M"] for r in _DEEPSEEK_ROWS}
    out["q_67b_ratio"] = fmt(m_of["DeepSeek (dados atuais)"] / m_of["DeepSeek (dados antigos)"], ".1f")
    old, new = min(_DEEPSEEK_ROWS, key=lambda r: r.a), max(_DEEPSEEK_ROWS, key=lambda r: r.a)
    out["q_67b_span"] = fmt(m_of[new.label] / m_of[old.label], ".1f")
    out["q_a_span"] = fmt(new.a - old.a, ".3f")
    nearest = min(_DEEPSEEK_ROWS, key=lambda r: abs(np.log(m_of[r.label] / m67["M"])))
    out["q_67b_perto"] = nearest.data
    ratio = m_of[nearest.label] / m67["M"]
    out["q_67b_fator"] = fmt(ratio, ".2f")
    out["q_67b_lado"] = "maior" if ratio > 1 else "menor"
    # A calculadora em 1e12 FLOPs: o livro contra o DeepSeek extrapolado.
    rows = {r["key"]: r for r in widgets.power_law_rows(laws)}
    for key, name, spec in (("lr", "lr", ".2g"), ("batch", "b", ",.0f")):
        book, ds = rows[key]["book"](1e12), rows[key]["deepseek"](1e12)
        out[f"q_{name}_livro"] = fmt(book, spec)
        out[f"q_{name}_ds"] = fmt(ds, spec)
        out[f"q_{name}_cmp"] = "menor" if book < ds else "maior"
    out["q_ex1_span"] = fmt(widgets.allocation(new.a, BUDGET_67B, anchor_budget=1e23)["M"]
                            / widgets.allocation(old.a, BUDGET_67B, anchor_budget=1e23)["M"], ".2f")
    plan = planning_exercise(study)
    out["q_ex3_fator"] = fmt(plan["shrink"], ".1f")
    out["q_ex3_treinos"] = fmt(plan["runs_factor"], ".1f")
    out["q_ex3_decadas"] = fmt(plan["decades"], ".1f")
    out["q_ex3_horas"] = fmt(plan["cpu_hours_runs"], ".0f")
    return out


def planning_exercise(study: QualityStudy, target: float = 0.07, level_z: float = 1.96) -> dict[str, float]:
    """Quantos treinos (ou décadas de orçamento) distinguiriam ``target`` em ``a`` com 95%.

    Supõe, como o enunciado, que a largura do intervalo cai com a raiz do número de treinos
    por orçamento e com a faixa de orçamentos (em décadas). A diferença de dois corpora
    independentes tem desvio ``√2`` vezes o de cada um; a meia largura do intervalo da
    diferença precisa ficar abaixo de ``target``. O custo em horas desta CPU é o da
    varredura IsoFLOP do capítulo 8 (um corpus), vezes o fator de treinos, vezes dois corpora.
    """
    widths = [np.subtract(*study.fits[n].boot.ci("a")[::-1]) for n in study.names]
    width = float(np.mean(widths))
    half_diff = np.sqrt(2) * width / 2
    shrink = float(half_diff / target)
    budgets = np.unique(study.tables["limpo"]["budget"])
    decades = float(np.log10(budgets.max() / budgets.min()))
    cpu_seconds = sum(r["wall_time_s"] for r in sweeps.experiment_results("cap08_isoflop") if not r.get("mini"))
    return {"width": width, "half_diff": float(half_diff), "shrink": shrink, "runs_factor": shrink**2,
            "decades_now": decades, "decades": decades * shrink,
            "cpu_hours_runs": 2 * shrink**2 * cpu_seconds / 3600}


def plot_profiles(study: QualityStudy):
    """Os perfis IsoFLOP de cada corpus, dois por linha (legíveis na largura da página)."""
    n = len(study.names)
    ncols = 2
    nrows = (n + 1) // ncols
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=7.2, height=3.4 * nrows)
    axes = np.atleast_1d(axes).ravel()
    for i, (ax, name) in enumerate(zip(axes, study.names)):
        t = study.tables[name]
        ok = np.isfinite(t["loss"])
        plot_isoflop(ax, t["budget"][ok], t["M"][ok], t["loss"][ok], study.fits[name].profiles, legend=False)
        ax.set_title(f"{LABELS.get(name, name)}: $a$ = {fmt(study.fits[name].a, '.3f')}")
        ax.set_ylim(2.0, 4.2)
        if i % ncols:
            ax.set_ylabel("")
        if i < n - ncols:
            ax.set_xlabel("")
    for ax in axes[n:]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)), fontsize=10.5)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.chapters.cap10", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("spec", help="escreve a especificação do experimento de qualidade")
    p.add_argument("--isoflop", default=str(ROOT / "experiments" / "cap08_isoflop.json"))
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    spec = quality_spec(json.loads(Path(args.isoflop).read_text(encoding="utf-8")))
    write_spec(spec, args.out)
    print(f"escrevi {args.out}: {len(spec['runs'])} treinos")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
