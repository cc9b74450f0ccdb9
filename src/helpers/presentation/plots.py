"""O estilo das figuras do livro e os gráficos recorrentes, com rótulos em português.

Todo notebook chama :func:`use_book_style` uma vez; as funções de desenho recebem
um ``Axes`` do matplotlib e devolvem o mesmo ``Axes``, para que o capítulo possa
compor figuras. :func:`markdown_table` formata tabelas para o livro.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.ticker  # noqa: F401 (mpl.ticker)
import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "COLORS",
    "use_book_style",
    "new_figure",
    "plot_power_law",
    "plot_fit_band",
    "format_si",
    "fmt",
    "markdown_table",
    "plot_trace",
    "plot_hyper_grid",
    "plot_isoflop",
    "budget_colors",
    "format_bytes",
    "plain_log_axis",
    "comma_axis",
    "plot_curve_extrapolation",
]

# Paleta de cores acessível (Okabe–Ito), na ordem em que as séries aparecem.
COLORS = {
    "azul": "#0072B2",
    "laranja": "#E69F00",
    "verde": "#009E73",
    "vermelho": "#D55E00",
    "roxo": "#CC79A7",
    "celeste": "#56B4E9",
    "amarelo": "#F0E442",
    "cinza": "#555555",
}

_STYLE = {
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.labelsize": 10.5,
    "axes.grid": True,
    "axes.grid.which": "major",
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=list(COLORS.values())),
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "figure.constrained_layout.use": True,
}


def use_book_style() -> None:
    """Aplica o estilo único do livro ao matplotlib (idempotente)."""
    mpl.rcParams.update(_STYLE)


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None, height: float | None = None):
    """Cria uma figura no estilo do livro; devolve ``(fig, axes)``."""
    use_book_style()
    w = width if width is not None else 7.0 if ncols == 1 else 4.0 * ncols
    h = height if height is not None else 4.2 * nrows
    return plt.subplots(nrows, ncols, figsize=(w, h), squeeze=True)


def plot_power_law(ax, x, y, *, label: str | None = None, color: str | None = None, **kwargs):
    """Linha de uma lei de potência em escalas log-log."""
    ax.plot(np.asarray(x), np.asarray(y), label=label, color=color, **kwargs)
    ax.set_xscale("log")
    ax.set_yscale("log")
    return ax


def plot_fit_band(ax, x, lower, upper, *, color: str | None = None, alpha: float = 0.18, label: str | None = None):
    """Faixa sombreada (intervalo de confiança ou de predição)."""
    ax.fill_between(np.asarray(x), np.asarray(lower), np.asarray(upper), color=color, alpha=alpha, lw=0, label=label)
    return ax


_SI = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def format_si(value: float, digits: int = 3) -> str:
    """Formata com sufixos de escala (k, M, B, T) e vírgula decimal: 67,4B."""
    for scale, suffix in _SI:
        if abs(value) >= scale:
            scaled = value / scale
            # Nunca em notação científica: 150k com 2 algarismos é "150k", não "1,5e+02k".
            d = max(digits, len(str(int(round(abs(scaled))))))
            return f"{scaled:.{d}g}{suffix}".replace(".", ",")
    return f"{value:.{digits}g}".replace(".", ",")


def format_bytes(n: float) -> str:
    """Bytes em KiB, MiB ou GiB (base 2), com vírgula decimal: ``1,48 GiB``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{fmt(n / scale, '.3g')} {unit}"
    return f"{fmt(n, '.0f')} B"


def plain_log_axis(ax, axis: str = "y") -> None:
    """Eixo log com rótulos 1, 2, 5 × 10ⁿ escritos por extenso (sem notação científica)."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(mpl.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: fmt(v, "g")))
    target.set_minor_formatter(mpl.ticker.NullFormatter())


def comma_axis(ax, axis: str = "y") -> None:
    """Rótulos de um eixo linear com vírgula decimal."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: fmt(v, "g")))


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def fmt(value: float, spec: str = ".3g") -> str:
    """Formata um número à brasileira: vírgula decimal, ponto de milhar, ×10ⁿ.

    ``fmt(9139.2, ",.0f") == "9.139"``; ``fmt(0.0755, ".3f") == "0,076"``;
    ``fmt(8.8e13, ".1e") == "8,8×10¹³"``.
    """
    text = format(value, spec)
    text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    if "e" in text and "inf" not in text:
        mantissa, exponent = text.split("e")
        exponent = str(int(exponent)).translate(_SUPERSCRIPT)
        return f"{mantissa}×10{exponent}"
    return text


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> str:
    """Uma tabela em Markdown; ``align`` tem uma letra por coluna (``l``, ``r``, ``c``).

    Num notebook, ``IPython.display.Markdown(markdown_table(...))`` a mostra
    formatada, e o livro a renderiza como tabela.
    """
    if any(len(r) != len(headers) for r in rows):
        raise ValueError(f"toda linha deve ter {len(headers)} colunas, como o cabeçalho.")
    align = align or "l" + "r" * (len(headers) - 1)
    if len(align) != len(headers):
        raise ValueError(f"align deve ter {len(headers)} letras; recebi {align!r}.")
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    if set(align) - set(marks):
        raise ValueError(f"align só aceita as letras l, r e c; recebi {align!r}.")
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


_AXIS_LABELS = {
    "tokens": "tokens de treino",
    "step": "passos de otimização",
    "val_bpb": "perda de validação (bits por byte)",
    "val_loss": "perda de validação (nats por token)",
    "train_loss": "perda de treino (nats por token)",
    "lr": "taxa de aprendizado",
}


def plot_trace(ax, record: dict, *, x: str = "tokens", y: str = "val_bpb", label: str | None = None,
               logx: bool = False, **kwargs):
    """A curva de um treino (``record["trace"]``): ``y`` contra ``x`` (pula o ponto 0 em log)."""
    pts = [(t[x], t[y]) for t in record["trace"] if t.get(y) is not None and (t[x] > 0 or not logx)]
    if not pts:
        raise ValueError(f"o treino {record.get('run_id')} não tem pontos de {y!r}.")
    xs, ys = zip(*pts)
    ax.plot(xs, ys, label=label, **kwargs)
    if logx:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    elif x == "tokens":
        ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: format_si(v) if v else "0"))
    ax.set_xlabel(_AXIS_LABELS.get(x, x))
    ax.set_ylabel(_AXIS_LABELS.get(y, y))
    return ax


def budget_colors(n: int) -> list:
    """``n`` cores de um mapa sequencial (orçamentos pequenos claros, grandes escuros)."""
    cmap = mpl.colormaps["viridis_r"]
    return [cmap(0.15 + 0.8 * i / max(1, n - 1)) for i in range(n)]


def plot_hyper_grid(ax, lrs, batches, losses, *, near=None, best=None, cmap: str = "viridis_r",
                    vmax_factor: float = 1.15, colorbar: bool = True):
    """A grade taxa × lote de um orçamento, colorida pela perda (como a Fig. 2 do DeepSeek).

    ``near`` (máscara) contorna os pontos quase ótimos; ``best`` contorna o melhor em
    vermelho; treinos divergidos (perda ``NaN``) aparecem como ×. A escala de cor vai da
    melhor perda até ``vmax_factor`` × a melhor, para a bacia ficar visível.
    """
    lrs, batches, losses = (np.asarray(v, dtype=float) for v in (lrs, batches, losses))
    ok = np.isfinite(losses)
    lo = float(np.nanmin(losses))
    sc = ax.scatter(lrs[ok], batches[ok], c=losses[ok], cmap=cmap, vmin=lo, vmax=lo * vmax_factor, s=260,
                    marker="s", edgecolors="none")
    for x, y, v in zip(lrs[ok], batches[ok], losses[ok]):
        ax.annotate(fmt(v, ".2f"), (x, y), ha="center", va="center", fontsize=6,
                    color="white" if v < lo * (1 + 0.45 * (vmax_factor - 1)) else "black")
    if (~ok).any():
        ax.scatter(lrs[~ok], batches[~ok], marker="x", color=COLORS["vermelho"], s=50, label="divergiu")
    if near is not None:
        near = np.asarray(near, dtype=bool)
        ax.scatter(lrs[near], batches[near], s=400, marker="s", facecolors="none", edgecolors="black",
                   linewidths=1.1, label="quase ótimo")
    if best is not None:
        best = np.asarray(best, dtype=bool)
        ax.scatter(lrs[best], batches[best], s=330, marker="s", facecolors="none", edgecolors=COLORS["vermelho"],
                   linewidths=2.2, label="melhor")
    ax.set(xscale="log", yscale="log", xlabel="taxa de aprendizado máxima", ylabel="lote (tokens por passo)")
    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.set_xticks(np.unique(lrs), [fmt(v, ".2g") for v in np.unique(lrs)], fontsize=7)
    ax.set_yticks(np.unique(batches), [fmt(v, ",.0f") for v in np.unique(batches)], fontsize=7)
    ax.margins(0.08)
    ax.grid(False)
    if colorbar:
        ax.figure.colorbar(sc, ax=ax, label="bits por byte (validação)", shrink=0.85)
    return ax


def plot_isoflop(ax, budgets, scales, losses, profiles, *, xlabel: str = "M (FLOPs não-embedding por token)",
                 colors=None, legend: bool = True):
    """Curvas IsoFLOP: os treinos de cada orçamento, a parábola ajustada e o vértice.

    ``profiles`` são os :class:`helpers.laws.fit.IsoFlopProfile` do ajuste, um por orçamento
    (na ordem crescente); perfis rejeitados aparecem só com os pontos, tracejados.
    """
    budgets, scales, losses = (np.asarray(v, dtype=float) for v in (budgets, scales, losses))
    keys = np.unique(budgets)
    colors = colors or budget_colors(keys.size)
    for k, color, prof in zip(keys, colors, profiles):
        idx = (budgets == k) & np.isfinite(losses)
        order = np.argsort(scales[idx])
        label = f"C = {format_si(k, 3)}"
        if prof.accepted:
            ax.scatter(scales[idx], losses[idx], color=color, s=22, zorder=3)
            grid = np.logspace(np.log10(scales[idx].min()), np.log10(scales[idx].max()), 100)
            ax.plot(grid, prof.predict(grid), color=color, lw=1.4, label=label)
            ax.scatter([prof.scale_opt], [prof.loss_opt], marker="v", color=color, edgecolors="black", s=55, zorder=4)
        else:
            ax.plot(scales[idx][order], losses[idx][order], "o--", color=color, ms=4, lw=0.8,
                    label=label + " (sem mínimo interior)")
    ax.set(xscale="log", xlabel=xlabel, ylabel="bits por byte (validação)")
    if legend:
        ax.legend(fontsize=8)
    return ax




def plot_curve_extrapolation(ax, tokens, losses, curve, *, n_fit: int, until: float | None = None,
                             color: str | None = None, label: str | None = None, fit_label: str | None = None):
    """Uma curva de treino e a lei ``E + k·t^(-α)`` ajustada nos seus primeiros ``n_fit`` pontos.

    Os pontos usados no ajuste são cheios; os outros, vazados. A lei ajustada (``curve``,
    um :class:`helpers.laws.fit.OffsetPowerLawFit`) é contínua sobre os pontos usados e
    tracejada dali até ``until`` (padrão: o último ponto) — a extrapolação.
    """
    t = np.asarray(tokens, dtype=float)
    y = np.asarray(losses, dtype=float)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError(f"tokens e losses devem ser vetores 1D do mesmo tamanho; recebi {t.shape} e {y.shape}.")
    if not 1 <= n_fit <= t.size:
        raise ValueError(f"n_fit deve estar em [1, {t.size}]; recebi {n_fit!r}.")
    until = float(t[-1]) if until is None else float(until)
    line = ax.scatter(t[:n_fit], y[:n_fit], color=color, s=22, zorder=3, label=label)
    color = color or line.get_facecolor()[0]
    if n_fit < t.size:
        ax.scatter(t[n_fit:], y[n_fit:], facecolors="none", edgecolors=color, s=22, zorder=3)
    inside = np.linspace(t[0], t[n_fit - 1], 60)
    ax.plot(inside, curve.predict(inside), color=color, lw=1.3, label=fit_label)
    if until > t[n_fit - 1]:
        beyond = np.linspace(t[n_fit - 1], until, 60)
        ax.plot(beyond, curve.predict(beyond), color=color, lw=1.3, ls="--")
    ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: format_si(v) if v else "0"))
    ax.set(xlabel=_AXIS_LABELS["tokens"], ylabel=_AXIS_LABELS["val_bpb"])
    return ax
