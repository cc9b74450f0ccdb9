"""Capítulo 9 — prevendo o desempenho de um treino maior (DeepSeek LLM §3.2, Fig. 5).

:func:`prediction_spec` escreve, antes do treino, a especificação do treino de verificação: o
degrau da escada do capítulo 8 mais perto do ``M_opt`` previsto para :data:`PREDICTION_BUDGET`.

:func:`analysis` junta o que o notebook mostra (previsão, intervalo, medida, as três
representações) e :func:`plot_prediction` / :func:`plot_target_curve` desenham as figuras.

Linha de comando::

    python -m helpers.chapters.cap09 spec --out experiments/cap09_previsao.json
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib as mpl
import numpy as np

from ..laws import fit
from ..presentation.plots import COLORS, fmt, format_si, markdown_table, new_figure, plot_fit_band, plot_trace
from .cap07 import HYPER_RESULTS, chapter7_laws
from .cap08 import ISOFLOP_RESULTS, PREDICTION_BUDGET, REPRESENTATIONS, SIZE_LADDER, isoflop_fit, ladder_m
from .common import records, round_batch, runs_table, train_base, write_spec

__all__ = ["PREDICTION_BUDGET", "prediction_spec", "main", "Chapter9", "predict_loss", "analysis", "plot_prediction",
           "plot_target_curve"]


def prediction_spec(laws: fit.HyperparameterLaws, iso: fit.IsoFlopFit, budget: float, *,
                    name: str = "cap09_previsao", source: str = "") -> dict:
    """O treino de verificação: o degrau da escada mais perto do M ótimo previsto para ``budget``."""
    m_opt = float(iso.scale_opt(budget))
    m = ladder_m()
    i = int(np.argmin(np.abs(np.log(m / m_opt))))
    n, d = SIZE_LADDER[i]
    lr = float(f"{float(laws.lr_opt(budget)):.4g}")
    batch = round_batch(float(laws.batch_opt(budget)))
    desc = (
        f"Capítulo 9 (DeepSeek Fig. 5): o treino ótimo previsto para {budget:.3g} FLOPs, {budget / max(p.budget for p in iso.accepted):.3g}× "
        f"o maior orçamento ajustado. M_opt previsto = {m_opt:.4g} FLOPs/token (a = {iso.a:.4f}); o degrau mais próximo "
        f"da escada é (n_layer={n}, d={d}), M = {m[i]:.4g}. Taxa e lote das leis do capítulo 7. "
        f"Gerada por 'python -m helpers.chapters.cap09 spec'{(' a partir de ' + source) if source else ''}."
    )
    return {"name": name, "description": desc,
            "base": {"model": {"preset": "tiny", "num_hidden_layers": n, "hidden_size": d},
                     "train": {"budget_flops": float(budget), "batch_size_tokens": batch, "lr": lr, **train_base(24)}},
            "runs": [{}],
            "mini": {"train.eval_tokens": 8192, "train.eval_points": 4},
            "mini_scale": {"train.budget_flops": 0.003}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.chapters.cap09", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("spec", help="escreve a especificação do treino de verificação do capítulo 9")
    p.add_argument("--hyper", default=str(HYPER_RESULTS))
    p.add_argument("--isoflop", default=str(ISOFLOP_RESULTS))
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    laws, _ = chapter7_laws(records(Path(args.hyper)), n_boot=200)
    iso = isoflop_fit(runs_table(records(Path(args.isoflop))), n_boot=200)
    spec = prediction_spec(laws, iso, PREDICTION_BUDGET, source=f"{Path(args.hyper).name} e {Path(args.isoflop).name}")
    write_spec(spec, args.out)
    print(f"escrevi {args.out}: {len(spec['runs'])} treinos")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


# --- o que o notebook mostra -------------------------------------------------------

@dataclass(frozen=True)
class Chapter9:
    """O que o capítulo 9 mostra: a previsão, o intervalo, a medida, a comparação entre as
    representações, as tabelas em Markdown (``tables``) e os números da prosa (``numbers``)."""

    iso_table: dict[str, np.ndarray] = field(repr=False)
    target: dict = field(repr=False)
    iso: fit.IsoFlopFit = field(repr=False)
    noise: dict
    budget: float
    predicted: float
    interval: tuple[float, float]
    fit_interval: tuple[float, float]
    measured: float
    reps: dict
    tables: dict[str, str] = field(repr=False)
    numbers: dict[str, object]

    @property
    def inside(self) -> bool:
        """A medida caiu dentro do intervalo de predição?"""
        return self.interval[0] <= self.measured <= self.interval[1]


def predict_loss(iso: fit.IsoFlopFit, budget: float, noise_rel: float) -> tuple[float, tuple[float, float]]:
    """A perda ótima prevista para ``budget`` e o seu intervalo de predição de 95% (ajuste + ruído)."""
    key = f"loss@{budget:g}"
    if key not in iso.boot.samples:
        raise ValueError(f"o ajuste não foi feito com predict_at=({budget:g},); refaça-o com esse orçamento.")
    return float(iso.boot.estimate[key]), fit.prediction_interval(iso.boot.samples[key], noise_rel=noise_rel)


def _representations(iso_table, target, noise_rel: float, n_boot: int) -> dict:
    """Em cada representação, a previsão do treino de verificação no seu próprio orçamento."""
    out = {}
    for rep in REPRESENTATIONS:
        c_rep = target["flops_per_token"][rep] * target["tokens"]
        try:
            r = isoflop_fit(iso_table, representation=rep, predict_at=(c_rep,), n_boot=n_boot)
        except ValueError as exc:
            out[rep] = {"budget": c_rep, "error": str(exc)}
            continue
        pred, (lo, hi) = predict_loss(r, c_rep, noise_rel)
        out[rep] = {"budget": c_rep, "predicted": pred, "interval": (lo, hi),
                    "error_pct": 100 * (target["final_val_bpb"] - pred) / pred}
    return out


def _summary_table(iso, budget, predicted, interval, fit_interval, measured) -> str:
    largest = max(p.budget for p in iso.accepted)
    smallest = min(p.budget for p in iso.accepted)
    rows = [["lei ajustada", f"L_opt = {fmt(iso.loss_law.k, '.3g')} · C^{fmt(iso.loss_law.alpha, '.4f')}"],
            ["orçamentos no ajuste", f"{len(iso.accepted)} (de {format_si(smallest, 3)} a {format_si(largest, 3)} FLOPs)"],
            ["orçamento previsto", f"{format_si(budget, 3)} FLOPs ({fmt(budget / largest, '.0f')}× o maior ajustado)"],
            ["previsão", f"{fmt(predicted, '.3f')} bits por byte"],
            ["IC 95% do ajuste", f"[{fmt(fit_interval[0], '.3f')}, {fmt(fit_interval[1], '.3f')}]"],
            ["intervalo de predição 95% (ajuste + ruído entre sementes)",
             f"[{fmt(interval[0], '.3f')}, {fmt(interval[1], '.3f')}]"],
            ["medido", f"{fmt(measured, '.3f')} bits por byte"],
            ["erro", f"{fmt(measured - predicted, '+.3f')} ({fmt(100 * (measured - predicted) / predicted, '+.1f')}%)"]]
    return markdown_table(["", "valor"], rows)


def _reps_table(reps: dict) -> str:
    rows = []
    for rep, r in reps.items():
        if "error" in r:
            rows.append([REPRESENTATIONS[rep], format_si(r["budget"], 3), "—", "—", f"sem ajuste: {r['error']}"])
        else:
            lo, hi = r["interval"]
            rows.append([REPRESENTATIONS[rep], format_si(r["budget"], 3), fmt(r["predicted"], ".3f"),
                         f"[{fmt(lo, '.3f')}, {fmt(hi, '.3f')}]", fmt(r["error_pct"], "+.1f")])
    return markdown_table(["representação", "C do treino nessa representação", "previsão (bpb)",
                           "intervalo de predição 95%", "erro do medido (%)"], rows)


def _numbers(iso, target, noise, budget, predicted, interval, measured, reps) -> dict[str, object]:
    largest = max(p.budget for p in iso.accepted)
    n = {
        "prev_C": format_si(budget, 3),
        "prev_fator": fmt(budget / largest, ".0f"),
        "prev_valor": fmt(predicted, ".3f"),
        "prev_lo": fmt(interval[0], ".3f"), "prev_hi": fmt(interval[1], ".3f"),
        "prev_medido": fmt(measured, ".3f"),
        "prev_erro": fmt(100 * (measured - predicted) / predicted, "+.1f"),
        "prev_dentro": "dentro" if interval[0] <= measured <= interval[1] else "fora",
        "prev_forma": f"({target['model']['num_hidden_layers']}, {target['model']['hidden_size']})",
        "prev_M": format_si(target["flops_per_token"]["M"], 3),
        "prev_Mopt": format_si(float(iso.scale_opt(budget)), 3),
        "prev_min": fmt(target["wall_time_s"] / 60, ".0f"),
        "prev_tokens": format_si(target["tokens"], 3),
        "ruido_cap7": fmt(100 * noise["rel_std"], ".1f"),
    }
    # As representações: a mais perto de zero, a faixa dos erros e a comparação com o ruído de um treino.
    # As comparações usam os valores arredondados que a tabela mostra (1 casa), como o leitor os vê.
    errors = {k: round(r["error_pct"], 1) for k, r in reps.items() if "error" not in r}
    best = min(errors, key=lambda k: abs(errors[k]))
    spread = max(errors.values()) - min(errors.values())
    noise_pct = round(100 * noise["rel_std"], 1)
    n["rep_melhor"] = REPRESENTATIONS[best]
    n["rep_faixa"] = fmt(spread, ".1f")
    n["rep_sinal"] = "todas" if all(e > 0 for e in errors.values()) else "nem todas"
    n["rep_vs_ruido"] = "mais que" if spread > noise_pct else ("igual a" if spread == noise_pct else "menos que")
    n["rep_razao_ruido"] = fmt(spread / noise_pct, ".1f")
    fitted = [r for r in reps.values() if "error" not in r]
    n["rep_dentro"] = int(sum(r["interval"][0] <= measured <= r["interval"][1] for r in fitted))
    n["rep_total"] = len(fitted)
    n["rep_conclusao"] = ("uma diferença dessa ordem, numa só medida, não basta para ordenar as representações"
                          if spread < 2 * noise_pct else
                          "a diferença passa do dobro do ruído de um treino, mas uma só medida ainda não basta para "
                          "ordenar as representações")
    return n


def analysis(iso_table: dict[str, np.ndarray], noise: dict, target: dict, *, iso: fit.IsoFlopFit | None = None,
             n_boot: int = 1000, n_boot_reps: int = 400) -> Chapter9:
    """A previsão do capítulo 9: a lei da perda ótima dos perfis IsoFLOP (``iso_table``), o ruído
    entre sementes (``noise``, de :func:`helpers.chapters.common.seed_noise`) e o treino verificado
    (``target``, um registro). ``iso`` pode vir pronto, ajustado com ``predict_at`` no orçamento do treino."""
    budget = float(target["train"]["budget_flops"])
    if iso is None:
        iso = isoflop_fit(iso_table, predict_at=(budget,), n_boot=n_boot)
    predicted, interval = predict_loss(iso, budget, noise["rel_std"])
    fit_interval = iso.boot.ci(f"loss@{budget:g}")
    measured = float(target["final_val_bpb"])
    reps = _representations(iso_table, target, noise["rel_std"], n_boot_reps)
    tables = {"previsao": _summary_table(iso, budget, predicted, interval, fit_interval, measured),
              "representacoes": _reps_table(reps)}
    return Chapter9(iso_table=iso_table, target=target, iso=iso, noise=noise, budget=budget, predicted=predicted,
                    interval=interval, fit_interval=fit_interval, measured=measured, reps=reps, tables=tables,
                    numbers=_numbers(iso, target, noise, budget, predicted, interval, measured, reps))


# --- figuras -------------------------------------------------------------------------

def plot_prediction(ch: Chapter9):
    """A lei da perda ótima com a faixa do ajuste, os treinos IsoFLOP, o intervalo e a medida."""
    iso, acc = ch.iso, ch.iso.accepted
    c_grid = np.logspace(np.log10(min(p.budget for p in acc)) - 0.2, np.log10(ch.budget) + 0.2, 80)
    samples = np.array([k * c_grid**a for k, a in zip(iso.boot.samples["loss_k"], iso.boot.samples["loss_alpha"])])
    fig, ax = new_figure(width=7.0, height=4.8)
    plot_fit_band(ax, c_grid, *np.quantile(samples, [0.025, 0.975], axis=0), color=COLORS["azul"],
                  label="IC 95% do ajuste")
    ax.plot(c_grid, iso.loss_opt(c_grid), color=COLORS["azul"], label="$L_\\mathrm{opt}(C)$ ajustada")
    ax.scatter([p.budget for p in acc], [p.loss_opt for p in acc], color=COLORS["azul"], zorder=3,
               label="vértices IsoFLOP (ajuste)")
    ok = np.isfinite(ch.iso_table["loss"])
    ax.scatter(ch.iso_table["budget"][ok], ch.iso_table["loss"][ok], color=COLORS["cinza"], s=8, alpha=0.4,
               label="treinos IsoFLOP")
    lo, hi = ch.interval
    ax.errorbar([ch.budget], [ch.predicted], yerr=[[ch.predicted - lo], [hi - ch.predicted]], fmt="none",
                ecolor=COLORS["azul"], capsize=5, label="intervalo de predição")
    ax.scatter([ch.budget], [ch.measured], marker="*", s=180, color=COLORS["vermelho"], zorder=5, label="medido")
    ax.set(xscale="log", yscale="log", xlabel="$C$ (FLOPs, convenção $M$)", ylabel="bits por byte (validação)")
    ax.set_ylim(min(lo, ch.measured) * 0.96, max(p.loss_opt for p in acc) * 1.06)
    ticks = np.round(np.arange(1.6, 3.2, 0.2), 1)
    ax.set_yticks(ticks, [fmt(t, ".1f") for t in ticks])
    ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.legend(fontsize=10.5)
    return fig


def plot_target_curve(ch: Chapter9):
    """A curva de validação do treino verificado e o intervalo previsto para o fim dele."""
    fig, ax = new_figure(width=7.0, height=4.2)
    plot_trace(ax, ch.target, color=COLORS["vermelho"], label="treino de verificação")
    ax.axhspan(*ch.interval, color=COLORS["azul"], alpha=0.15, label="intervalo previsto (fim)")
    ax.set(ylim=(None, 3.5))
    ax.legend(fontsize=10.5)
    return fig
