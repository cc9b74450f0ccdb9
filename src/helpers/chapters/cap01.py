"""Capítulo 1 — leis de potência: reconhecer, ajustar e desconfiar (nada de ``results/``).

Todos os dados do capítulo são sintéticos, com expoentes conhecidos; cada função devolve o
que o notebook mostra (tabelas prontas em Markdown, números já formatados para o ``glue``)
e as frases de comparação escolhidas pelos próprios números.

- :func:`halving` — quantas duplicações de ``N`` cortam a perda de Kaplan à metade;
- :func:`kaplan_table` — as constantes publicadas de Kaplan et al. (2020);
- :func:`recovery_table` — o ajuste de uma lei conhecida ao lado da verdade;
- :func:`few_points` — a simulação "poucos pontos": dispersão, largura e cobertura do IC 95%;
- :func:`floor_study` — dados com piso ``E``: retas por janela, o ajuste com termo irredutível
  e o erro das duas extrapolações;
- :func:`wald_coverage` — a cobertura dos intervalos de Wald do ajuste ``E + k·x^(-α)``,
  medida em milhares de sorteios do mesmo experimento (um ajuste vetorizado, segundos);
- :func:`chinchilla_local_exponent` — a reta ajustada à lei do Chinchilla na faixa de Kaplan;
- ``plot_*`` — as figuras do capítulo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.ticker
import numpy as np
from scipy import stats

from ..laws import fit, literature
from ..presentation.plots import COLORS, fmt, markdown_table, new_figure, plot_fit_band

__all__ = ["halving", "kaplan_table", "recovery_table", "FewPoints", "few_points", "FloorStudy", "floor_study",
           "Coverage", "wald_coverage", "coverage_verdict", "chinchilla_local_exponent",
           "plot_three_laws", "plot_kaplan", "plot_recovery", "plot_few_points", "plot_floor"]

#: A lei com piso das duas últimas seções: ``E + k·x^(-α)``, valores da ordem dos do Chinchilla.
FLOOR = {"E": 1.7, "k": 400.0, "alpha": 0.34, "noise": 0.005, "seed": 7}


# --- Retornos decrescentes e as leis de Kaplan ------------------------------------------------

def halving(alpha: float = literature.KAPLAN["alpha_N"]) -> dict[str, str]:
    """Fator por duplicação, duplicações até a metade da perda e o fator de tamanho."""
    factor = 2 ** (-alpha)
    doublings = np.log(0.5) / np.log(factor)
    return {"fator_dobra": fmt(factor, ".3f"), "dobras_metade": fmt(doublings, ".1f"),
            "vezes_metade": fmt(2**doublings, ",.0f")}


def kaplan_table() -> str:
    """As três leis de Kaplan com expoente e constante de escala (§1.2 do artigo)."""
    k = literature.KAPLAN
    return markdown_table(
        ["lei", "expoente", "constante de escala"],
        [["$L(N)$", rf"$\alpha_N$ = {fmt(k['alpha_N'])}", rf"$N_c$ = {fmt(k['N_c'], '.1e')} parâmetros"],
         ["$L(D)$", rf"$\alpha_D$ = {fmt(k['alpha_D'])}", rf"$D_c$ = {fmt(k['D_c'], '.1e')} *tokens*"],
         [r"$L(C_\mathrm{min})$", rf"$\alpha_C^\mathrm{{min}}$ = {fmt(k['alpha_C_min'])}",
          rf"$C_c^\mathrm{{min}}$ = {fmt(k['C_c_min'], '.1e')} PF-dias"]],
        align="lll")


# --- Ajustar uma lei conhecida ---------------------------------------------------------------

def recovery_table(result: fit.PowerLawFit, *, k: float, alpha: float) -> tuple[str, dict[str, str]]:
    """A tabela verdadeiro × estimado × IC 95% e a frase "contém"/"não contém" o valor verdadeiro."""
    ci = result.ci(0.95)
    table = markdown_table(
        ["parâmetro", "verdadeiro", "estimado", "erro-padrão", "IC 95%"],
        [["α", fmt(alpha, ".3f"), fmt(result.alpha, ".4f"), fmt(result.alpha_se, ".4f"),
          f"[{fmt(ci['alpha'][0], '.4f')}; {fmt(ci['alpha'][1], '.4f')}]"],
         ["k", fmt(k, ".3f"), fmt(result.k, ".3f"), f"{fmt(result.log_k_se, '.3f')} (em ln k)",
          f"[{fmt(ci['k'][0], '.3f')}; {fmt(ci['k'][1], '.3f')}]"]])
    inside = [ci["alpha"][0] <= alpha <= ci["alpha"][1], ci["k"][0] <= k <= ci["k"][1]]
    phrase = ("os dois intervalos contêm o valor verdadeiro" if all(inside) else
              "nenhum dos intervalos contém o valor verdadeiro" if not any(inside) else
              "só um dos dois intervalos contém o valor verdadeiro")
    return table, {"recupera_frase": phrase}


@dataclass(frozen=True)
class FewPoints:
    """A simulação "poucos pontos": por número de pontos, os α̂ sorteados, a largura e a cobertura."""

    counts: tuple[int, ...]
    repeats: int
    estimates: dict[int, np.ndarray] = field(repr=False)
    widths: dict[int, float]
    coverage: dict[int, float]
    table: str = field(repr=False)
    numbers: dict[str, str]


def few_points(counts=(3, 4, 6, 10, 20), *, repeats: int = 400, k: float = 3.0, alpha: float = -0.3,
               noise: float = 0.02, decades=(6.0, 7.5), seed: int = 2024) -> FewPoints:
    """Repete ``repeats`` vezes o ajuste de ``n`` pontos espalhados por ``decades`` (ruído ``noise``)."""
    rng = np.random.default_rng(seed)
    estimates, widths, coverage, rows = {}, {}, {}, []
    for n_points in counts:
        xs = np.logspace(*decades, n_points)
        alphas, covered, w = [], 0, []
        for _ in range(repeats):
            r = fit.fit_power_law(xs, fit.synthetic_power_law(xs, k=k, alpha=alpha, noise=noise, rng=rng))
            lo, hi = r.ci(0.95)["alpha"]
            alphas.append(r.alpha)
            covered += lo <= alpha <= hi
            w.append(hi - lo)
        estimates[n_points], widths[n_points] = np.array(alphas), float(np.median(w))
        coverage[n_points] = covered / repeats
        rows.append([n_points, fmt(np.std(alphas), ".4f"), fmt(widths[n_points], ".4f"), fmt(coverage[n_points], ".1%")])
    table = markdown_table(["pontos", "desvio padrão de α̂", "largura mediana do IC 95%", "cobertura do IC 95%"], rows)
    sd = {n: float(np.std(a)) for n, a in estimates.items()}
    half_width = stats.binom.ppf(0.975, repeats, 0.95) / repeats - 0.95  # meia faixa de 95% de uma cobertura exata
    honest = all(abs(c - 0.95) <= half_width + 1e-12 for c in coverage.values())
    ratio = (lambda d, a, b: fmt(d[a] / d[b], ".1f") if a in d and b in d else "—")
    numbers = {
        "largura_3": ratio(widths, 3, 6),
        "largura_20": ratio(widths, 6, 20),
        "cobertura_min": fmt(min(coverage.values()), ".1%"),
        "cobertura_max": fmt(max(coverage.values()), ".1%"),
        "cobertura_faixa": fmt(half_width, ".1%"),
        "cobertura_frase": ("todas dentro do que o sorteio de 400 repetições explica" if honest
                            else "nem todas dentro do que o sorteio de 400 repetições explica"),
        "dispersao_3_6": ratio(sd, 3, 6),
    }
    return FewPoints(tuple(counts), repeats, estimates, widths, coverage, table, numbers)


# --- Dados com piso ----------------------------------------------------------------------------

@dataclass(frozen=True)
class FloorStudy:
    """Dados ``E + k·x^(-α)`` em 10⁶–10¹², retas por janela de uma década e os dois ajustes em 10⁶–10⁸."""

    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    fit_mask: np.ndarray = field(repr=False)
    window_exponents: dict[int, float]
    pure: fit.PowerLawFit
    offset: fit.OffsetPowerLawFit
    window_table: str = field(repr=False)
    offset_table: str = field(repr=False)
    numbers: dict[str, str]


def floor_study(*, far: float = 1e12) -> FloorStudy:
    """O experimento com piso do capítulo (:data:`FLOOR`), com as frases geradas pelos números."""
    E, k, a = FLOOR["E"], FLOOR["k"], FLOOR["alpha"]
    x = np.logspace(6, 12, 61)
    y = fit.synthetic_power_law(x, k=k, alpha=-a, E=E, noise=FLOOR["noise"], rng=FLOOR["seed"])
    windows = {}
    for start in range(6, 12):
        mask = (x >= 10.0**start) & (x <= 10.0 ** (start + 1))
        windows[start] = -fit.fit_power_law(x[mask], y[mask]).alpha
    window_table = markdown_table(["janela de x", "expoente da reta, −α̂"],
                                  [[f"$10^{{{s}}}$ a $10^{{{s + 1}}}$", fmt(v, ".3f")] for s, v in windows.items()])
    fit_mask = x <= 1e8
    pure = fit.fit_power_law(x[fit_mask], y[fit_mask])
    offset = fit.fit_power_law_offset(x[fit_mask], y[fit_mask])
    oci = offset.ci()
    offset_table = markdown_table(
        ["parâmetro", "verdadeiro", "estimado", "IC 95% (Wald)"],
        [["E", fmt(E), fmt(offset.E, ".3f"), f"[{fmt(oci['E'][0], '.3f')}; {fmt(oci['E'][1], '.3f')}]"],
         ["k", fmt(k, ".0f"), fmt(offset.k, ".1f"), f"[{fmt(oci['k'][0], '.1f')}; {fmt(oci['k'][1], '.1f')}]"],
         ["α", fmt(a), fmt(offset.alpha, ".3f"), f"[{fmt(oci['alpha'][0], '.3f')}; {fmt(oci['alpha'][1], '.3f')}]"]])
    corr = offset.cov[0, 2] / np.sqrt(offset.cov[0, 0] * offset.cov[2, 2])
    truth = E + k * far**-a
    err_pure, err_offset = pure.predict(far) / truth - 1, offset.predict(far) / truth - 1
    values = list(windows.values())
    decreasing = all(b < a_ for a_, b in zip(values, values[1:]))
    below = all(v < a for v in values)
    covered = {p: oci[p][0] <= t <= oci[p][1] for p, t in (("E", E), ("k", k), ("alpha", a))}
    numbers = {
        "corr_e_alpha": fmt(corr, ".2f"),
        "erro_puro": fmt(err_pure, ".0%"),
        "erro_offset": fmt(err_offset, "+.1%"),
        "erro_puro_sentido": "para baixo" if err_pure < 0 else "para cima",
        "janela_max": fmt(max(values), ".3f"),
        "janela_min": fmt(min(values), ".3f"),
        "janela_frase": ("cai de década em década" if decreasing else "muda de década em década, sem cair sempre")
                        + (", e todos ficam abaixo do" if below else ", e nem todos ficam abaixo do"),
        "wald_cobre": ("os três intervalos da tabela contêm o valor verdadeiro" if all(covered.values()) else
                       "nenhum dos três intervalos da tabela contém o valor verdadeiro" if not any(covered.values())
                       else "só parte dos intervalos da tabela contém o valor verdadeiro"),
    }
    return FloorStudy(x, y, fit_mask, windows, pure, offset, window_table, offset_table, numbers)


# --- A cobertura dos intervalos de Wald ---------------------------------------------------------

@dataclass(frozen=True)
class Coverage:
    """Fração de sorteios em que o IC de Wald de cada parâmetro contém o valor verdadeiro."""

    level: float
    draws: int
    used: int
    coverage: dict[str, float]
    std_error: float
    all_miss: float
    alpha_hat: np.ndarray = field(repr=False)


def _offset_residuals(theta, lu, log_y):
    """Resíduos ``ln y − ln(E + k_u·u^(-α))`` e a sua jacobiana, para um lote de sorteios."""
    p = np.exp(theta[:, 1:2] - theta[:, 2:3] * lu)
    f = theta[:, 0:1] + p
    jac = -np.stack([1 / f, p / f, -p * lu / f], axis=-1)
    return log_y - np.log(f), jac


def fit_offset_batch(x, Y, start, *, iters: int = 60, max_alpha: float = 5.0):
    """O ajuste de :func:`helpers.laws.fit.fit_power_law_offset` para muitas séries de uma vez.

    Levenberg–Marquardt vetorizado na mesma parametrização (``E``, ``ln k_u``, ``α``, com
    ``u = x / x₀`` e ``x₀`` a média geométrica), com as mesmas restrições ``0 ≤ E < min(y)`` e
    ``0 < α ≤ max_alpha``, partindo de ``start = (E, k, α)``. Devolve ``(E, ln k, α)`` por série,
    a covariância de Wald de cada uma e a norma do gradiente no fim (≈ 0 quando convergiu).
    """
    x, Y = np.asarray(x, dtype=float), np.atleast_2d(np.asarray(Y, dtype=float))
    x0 = float(np.exp(np.log(x).mean()))
    lu, log_y, y_min = np.log(x / x0), np.log(Y), Y.min(axis=1)
    E0, k0, a0 = start
    theta = np.tile([E0, np.log(k0) - a0 * np.log(x0), a0], (Y.shape[0], 1)).astype(float)
    r, jac = _offset_residuals(theta, lu, log_y)
    cost, lam = (r**2).sum(1), np.full(Y.shape[0], 1e-3)
    for _ in range(iters):
        A = np.einsum("dni,dnj->dij", jac, jac)
        g = np.einsum("dni,dn->di", jac, r)
        new = theta + np.linalg.solve(A + lam[:, None, None] * A * np.eye(3), -g[..., None])[..., 0]
        ok = (new[:, 0] >= 0) & (new[:, 0] < y_min) & (new[:, 2] > 1e-6) & (new[:, 2] <= max_alpha)
        r_new, jac_new = _offset_residuals(np.where(ok[:, None], new, theta), lu, log_y)
        better = ok & ((r_new**2).sum(1) < cost)
        theta = np.where(better[:, None], new, theta)
        r = np.where(better[:, None], r_new, r)
        jac = np.where(better[:, None, None], jac_new, jac)
        cost = np.where(better, (r**2).sum(1), cost)
        lam = np.clip(np.where(better, lam * 0.3, lam * 10), 1e-12, 1e12)
    s2 = cost / (x.size - 3)
    cov_u = s2[:, None, None] * np.linalg.pinv(np.einsum("dni,dnj->dij", jac, jac))
    to_k = np.array([[1, 0, 0], [0, 1, np.log(x0)], [0, 0, 1.0]])  # ln k = ln k_u + α ln x₀
    theta[:, 1] += theta[:, 2] * np.log(x0)
    grad = np.linalg.norm(np.einsum("dni,dn->di", jac, r), axis=1)
    return theta, to_k @ cov_u @ to_k.T, grad


def wald_coverage(x, *, E: float, k: float, alpha: float, noise: float, draws: int = 4000,
                  level: float = 0.95, seed: int = 0) -> Coverage:
    """Sorteia ``draws`` experimentos ``(E + k·x^(-α))·exp(noise·ε)``, ajusta cada um e conta
    em quantos o IC de Wald (quantil *t* com ``n − 3`` graus de liberdade) contém a verdade.

    Sorteios que não convergem (gradiente final acima de 10⁻⁶) ficam de fora e são contados em
    ``draws − used``. ``std_error`` é o erro-padrão binomial de uma cobertura igual a ``level``;
    ``all_miss`` é a fração de sorteios em que os três intervalos erram juntos.
    """
    x = np.asarray(x, dtype=float)
    Y = (E + k * x**-alpha) * np.exp(noise * np.random.default_rng(seed).standard_normal((draws, x.size)))
    theta, cov, grad = fit_offset_batch(x, Y, (E, k, alpha))
    ok = grad < 1e-6
    t = stats.t.ppf(0.5 + level / 2, x.size - 3)
    se = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0, None))
    truth = np.array([E, np.log(k), alpha])
    inside = np.abs(theta - truth) <= t * se
    cover = {name: float(inside[ok, i].mean()) for i, name in enumerate(("E", "k", "alpha"))}
    all_miss = float((~inside[ok]).all(axis=1).mean())
    return Coverage(level, draws, int(ok.sum()), cover, float(np.sqrt(level * (1 - level) / ok.sum())),
                    all_miss, theta[ok, 2])


def coverage_verdict(cov: Coverage) -> dict[str, str]:
    """Os números da cobertura e a palavra que os resume (dentro de 2 erros-padrão de ``level``)."""
    a = cov.coverage["alpha"]
    if abs(a - cov.level) <= 2 * cov.std_error:
        word = "honestos"
    else:
        word = "otimistas" if a < cov.level else "conservadores"
    return {"wald_cob_alpha": fmt(a, ".1%"), "wald_cob_E": fmt(cov.coverage["E"], ".1%"),
            "wald_cob_se": fmt(cov.std_error, ".1%"), "wald_sorteios": fmt(cov.draws, ",d"),
            "wald_descartes": fmt(cov.draws - cov.used, ",d"), "wald_todos_erram": fmt(cov.all_miss, ".1%"),
            "wald_veredito": word}


# --- Kaplan × Chinchilla -------------------------------------------------------------------------

def chinchilla_local_exponent(n_range=None) -> dict[str, str]:
    """O expoente de uma reta ajustada ao termo de modelo do Chinchilla, ``E + A/N^α``, em 10⁶–3×10⁹."""
    c = literature.CHINCHILLA
    n = np.logspace(6, 9.5, 50) if n_range is None else np.asarray(n_range, dtype=float)
    slope = -fit.fit_power_law(n, c["E"] + c["A"] / n ** c["alpha"]).alpha
    kaplan = literature.KAPLAN["alpha_N"]
    closer = "de Kaplan" if abs(slope - kaplan) < abs(slope - c["alpha"]) else "do próprio Chinchilla"
    return {"expoente_chinchilla_reta": fmt(slope, ".3f"), "expoente_mais_perto": closer}


# --- Figuras -------------------------------------------------------------------------------------

def _signed(value: float, spec: str = "g") -> str:
    """``fmt`` com o sinal de menos tipográfico (−0,3, não -0,3), para rótulos fora do *mathtext*."""
    return fmt(value, spec).replace("-", "−")


def _plain_log_y(ax, ticks) -> None:
    """Eixo y log com rótulos só nos valores dados, escritos por extenso (2; 3; 0,5)."""
    ax.set_yticks(ticks, [fmt(t, "g") for t in ticks])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def plot_three_laws():
    """Três leis de potência em eixos lineares e em log-log."""
    x, x_lin = np.logspace(0, 4, 200), np.linspace(0.2, 20, 200)
    fig, (ax_lin, ax_log) = new_figure(ncols=2, width=7.5, height=3.6)
    for a, color in zip((-0.5, -0.1, 0.5), (COLORS["azul"], COLORS["laranja"], COLORS["verde"])):
        label = f"$y = x^{{{fmt(a, 'g')}}}$"
        ax_lin.plot(x_lin, x_lin**a, color=color, label=label)
        ax_log.loglog(x, x**a, color=color, label=label)
    ax_lin.set(title="eixos lineares", xlabel="$x$", ylabel="$y$", ylim=(0, 5), xlim=(0, 20))
    ax_log.set(title=r"eixos log-log: retas de inclinação $\alpha$", xlabel="$x$ (escala log)",
               ylabel="$y$ (escala log)")
    ax_log.legend()
    return fig


def plot_kaplan():
    """As três leis de Kaplan com as constantes publicadas, um painel por recurso."""
    fig, axes = new_figure(ncols=3, width=8.0, height=3.3)
    series = [(np.logspace(3, 10, 100), literature.kaplan_loss_n, "$N$ (parâmetros sem *embedding*)", "$L(N)$"),
              (np.logspace(7, 11, 100), literature.kaplan_loss_d, "$D$ (*tokens*)", "$L(D)$"),
              (np.logspace(12, 21, 100), literature.kaplan_loss_cmin, "$C$ (FLOPs)", r"$L(C_\mathrm{min})$")]
    for ax, (x, law, xlabel, title), color in zip(axes, series, (COLORS["azul"], COLORS["laranja"], COLORS["verde"])):
        ax.loglog(x, law(x), color=color)
        ax.set(xlabel=xlabel.replace("*", ""), title=title)
        _plain_log_y(ax, [t for t in (2, 3, 4, 5, 6, 7) if law(x).min() <= t <= law(x).max() * 1.05])
    axes[0].set_ylabel("perda (nats por token)")
    return fig


def plot_recovery(x, y, result: fit.PowerLawFit, *, k: float, alpha: float):
    """Os pontos, a reta ajustada com o intervalo de predição de 95% e a lei verdadeira."""
    grid = np.logspace(5.5, 10.5, 100)
    lo, hi = result.prediction_interval(grid)
    fig, ax = new_figure()
    plot_fit_band(ax, grid, lo, hi, color=COLORS["azul"], label="intervalo de predição de 95%")
    ax.loglog(grid, result.predict(grid), color=COLORS["azul"], label=rf"ajuste: $\alpha$ = {_signed(result.alpha, '.3f')}")
    ax.loglog(grid, k * grid**alpha, "--", color=COLORS["cinza"], label=rf"lei verdadeira: $\alpha$ = {_signed(alpha)}")
    ax.loglog(x, y, "o", color=COLORS["vermelho"], label=f"{len(x)} medidas com 2% de ruído")
    ax.set(xlabel="$x$ (escala log)", ylabel="$y$ (escala log)")
    ax.legend()
    return fig


def plot_few_points(study: FewPoints, *, alpha: float = -0.3):
    """A dispersão de α̂ por número de pontos (caixas sem os pontos extremos)."""
    fig, ax = new_figure()
    ax.boxplot([study.estimates[n] for n in study.counts], showfliers=False)
    ax.set_xticks(range(1, len(study.counts) + 1), [str(n) for n in study.counts])
    ax.axhline(alpha, color=COLORS["vermelho"], ls="--", label=r"$\alpha$ verdadeiro")
    ax.set(xlabel="número de pontos no ajuste", ylabel=r"$\hat\alpha$ estimado")
    ax.legend()
    return fig


def plot_floor(study: FloorStudy):
    """À esquerda, as duas leis extrapoladas quatro décadas; à direita, a inclinação local verdadeira."""
    E, k, a = FLOOR["E"], FLOOR["k"], FLOOR["alpha"]
    x = study.x
    fig, (ax_fit, ax_slope) = new_figure(ncols=2, width=8.0, height=3.9)
    ax_fit.loglog(x, study.y, ".", color=COLORS["cinza"], label=f"dados ($E$ = {fmt(E)})")
    ax_fit.loglog(x, study.pure.predict(x), color=COLORS["vermelho"], label="reta ajustada em $10^6$–$10^8$")
    ax_fit.loglog(x, study.offset.predict(x), "--", color=COLORS["azul"], label=r"$E + k\,x^{-\alpha}$ ajustada")
    ax_fit.axvspan(1e6, 1e8, color=COLORS["amarelo"], alpha=0.25, lw=0)
    ax_fit.axhline(E, color=COLORS["verde"], ls=":", label="perda irredutível $E$")
    ax_fit.set(xlabel="$x$ (escala log)", ylabel="perda (escala log)", title="extrapolando quatro décadas")
    _plain_log_y(ax_fit, [0.5, 1, 2, 3, 5])
    ax_fit.legend(loc="lower left")
    ax_slope.semilogx(x, -fit.local_slope(x, E + k * x**-a), color=COLORS["azul"], label="inclinação local")
    ax_slope.axhline(a, color=COLORS["cinza"], ls="--", label=rf"$\alpha$ verdadeiro = {fmt(a)}")
    ax_slope.set(xlabel="$x$ (escala log)", ylabel=r"$-\,d\ln L\,/\,d\ln x$", title="a inclinação local tende a zero")
    ax_slope.legend(loc="center right")
    return fig
