r"""O estilo das figuras do livro e os gráficos recorrentes, com rótulos em português.

Todo notebook chama :func:`use_book_style` uma vez; as funções de desenho recebem
um ``Axes`` do matplotlib e devolvem o mesmo ``Axes``, para que o capítulo possa
compor figuras. :func:`markdown_table` formata tabelas para o livro.

O estilo é um só e vale para toda figura criada depois de :func:`use_book_style`:
vírgula decimal em todo eixo linear, logarítmico, *symlog* e *logit* (os formatadores que o
matplotlib escolhe sozinho passam a escrever vírgulas; nenhum capítulo precisa chamar nada
por eixo), números por extenso à brasileira (:func:`format_si`: mil, mi, bi, tri), fórmulas
em *mathtext* (``r"$\eta_\mathrm{opt}(C)$"``; nele, ``$C^{0,52}$`` sai com vírgula decimal, sem
espaço) e figuras do tamanho da página (:func:`new_figure`:
uma figura simples tem a largura do texto; uma de vários painéis é um pouco mais larga e mais
alta, com letras que continuam com 9 pt ou mais depois que o navegador a encolhe). Num
*kernel* Jupyter as figuras saem em SVG, nítidas em qualquer zoom.

**Figuras com número e legenda.** Um capítulo não mostra a figura na célula de código:
guarda-a com :func:`glue_figure` e a mostra numa célula Markdown, com legenda e rótulo::

    fig, ax = new_figure()
    ...
    glue_figure("fig-isoflop", fig)        # guarda (myst_nb.glue) e fecha: nada sai na célula

e, na célula Markdown seguinte::

    ```{glue:figure} fig-isoflop
    :name: fig-isoflop

    Perfis IsoFLOP: ...
    ```

O livro numera a figura ("Figura 8.2") e o texto a cita com texto explícito:
``{numref}`Figura %s <fig-isoflop>` ``. Termine as células de desenho com ``;`` ou com
:func:`glue_figure`, para não deixar saídas soltas como ``Text(0.5, 1.0, '…')``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.scale  # noqa: F401 (mpl.scale)
import matplotlib.ticker  # noqa: F401 (mpl.ticker)
import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "COLORS",
    "plot_basin_page",
    "use_book_style",
    "new_figure",
    "glue_figure",
    "displayed_scale",
    "decimal_comma",
    "CommaScalarFormatter",
    "CommaLogFormatter",
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

# Largura útil do texto no livro (sphinx-book-theme, janela de 1280 px): 688 px, ou 7,2
# polegadas a 96 px/pol. Uma figura simples cabe inteira; uma de vários painéis é um pouco
# mais larga e o navegador a reduz (fator ≥ 0,86), por isso as letras partem de 10,5 pt.
PAGE_WIDTH_PX = 688
SINGLE_WIDTH_IN = 7.0
MULTI_WIDTH_IN = 8.0
MIN_READABLE_PT = 9.0

_STYLE = {
    "figure.figsize": (SINGLE_WIDTH_IN, 4.2),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10.5,
    "ytick.labelsize": 10.5,
    "legend.fontsize": 10.5,
    "legend.title_fontsize": 10.5,
    "figure.titlesize": 12.5,
    "axes.grid": True,
    "axes.grid.which": "major",
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=list(COLORS.values())),
    # ×10⁶ em mathtext no deslocamento do eixo (em vez de "1e6"); os rótulos dos eixos e
    # títulos aceitam mathtext: r"$S_\mathrm{min}(1 + B_\mathrm{crit}/B)$".
    "axes.formatter.use_mathtext": True,
    "axes.formatter.use_locale": False,
    "axes.unicode_minus": True,
    "mathtext.fontset": "dejavusans",
    "mathtext.default": "it",
    "text.usetex": False,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "figure.constrained_layout.use": True,
    # SVG: texto desenhado como curvas (não depende das fontes do leitor) e ids estáveis.
    "svg.fonttype": "path",
    "svg.hashsalt": "leis-de-escala",
}

# --- vírgula decimal em todo eixo ------------------------------------------------------

_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")


def decimal_comma(text: str) -> str:
    """Troca o ponto decimal por vírgula num rótulo de eixo (``{,}`` dentro de mathtext).

    Em mathtext a vírgula solta ganharia um espaço depois (``0, 5``); ``{,}`` não ganha.
    Só pontos entre dois algarismos mudam: texto comum e comandos mathtext ficam como estão.
    """
    if not text:
        return text
    return _DECIMAL_POINT.sub("{,}" if "$" in text else ",", text)


class _CommaMixin:
    """Pós-processa tudo o que um formatador do matplotlib escreve com :func:`decimal_comma`."""

    def __call__(self, x, pos=None):
        return decimal_comma(super().__call__(x, pos))

    def format_ticks(self, values):
        return [decimal_comma(t) for t in super().format_ticks(values)]

    def get_offset(self):
        return decimal_comma(super().get_offset())

    def format_data_short(self, value):
        return decimal_comma(super().format_data_short(value))


class CommaScalarFormatter(_CommaMixin, mpl.ticker.ScalarFormatter):
    """O formatador padrão dos eixos lineares, com vírgula decimal."""


class CommaLogFormatter(_CommaMixin, mpl.ticker.LogFormatterSciNotation):
    """O formatador padrão dos eixos log e *symlog*, com vírgula decimal."""


class CommaLogitFormatter(_CommaMixin, mpl.ticker.LogitFormatter):
    """O formatador padrão dos eixos *logit*, com vírgula decimal."""


# tipo exato do formatador que a escala instala -> a subclasse com vírgula
_COMMA_CLASSES = {
    mpl.ticker.ScalarFormatter: CommaScalarFormatter,
    mpl.ticker.LogFormatterSciNotation: CommaLogFormatter,
    mpl.ticker.LogitFormatter: CommaLogitFormatter,
}
_ORIGINAL_DEFAULTS: dict[type, object] = {}


def _commify(formatter):
    cls = _COMMA_CLASSES.get(type(formatter))
    if cls is not None:  # as subclasses não têm estado próprio: basta trocar a classe
        formatter.__class__ = cls
    return formatter


def _install_comma_formatters() -> None:
    """Faz as escalas do matplotlib instalarem, por padrão, os formatadores com vírgula.

    Cada escala (linear, log, symlog, logit, asinh, function) escolhe os formatadores de um
    eixo em ``set_default_locators_and_formatters`` — chamado quando o eixo é criado e a cada
    ``set_xscale``. Envolvemos esse método uma única vez: depois dele, os formatadores padrão
    viram as subclasses acima, com os mesmos parâmetros. Formatadores escolhidos à mão
    (``set_major_formatter``) não são tocados.
    """
    for scale in (mpl.scale.LinearScale, mpl.scale.LogScale, mpl.scale.SymmetricalLogScale,
                  mpl.scale.LogitScale, mpl.scale.AsinhScale, mpl.scale.FuncScale, mpl.scale.FuncScaleLog):
        if scale in _ORIGINAL_DEFAULTS:
            continue
        original = scale.set_default_locators_and_formatters
        _ORIGINAL_DEFAULTS[scale] = original

        def set_defaults(self, axis, _original=original):
            _original(self, axis)
            axis.set_major_formatter(_commify(axis.get_major_formatter()))
            axis.set_minor_formatter(_commify(axis.get_minor_formatter()))

        set_defaults.__doc__ = original.__doc__
        scale.set_default_locators_and_formatters = set_defaults


def _install_decimal_comma_in_mathtext() -> None:
    """No mathtext, uma vírgula entre dois algarismos é decimal: sem o espaço de pontuação.

    O matplotlib já faz isso com o ponto (``$0.5$``) e põe um espaço depois de toda vírgula
    (``$x^{0,5}$`` sairia "0, 5"). Ensinamos o analisador a tratar ``0,5`` como ``0{,}5``; o
    resto da pontuação não muda. Se a API interna mudar, o estilo segue sem este ajuste.
    """
    try:
        from matplotlib import _mathtext
    except ImportError:  # pragma: no cover
        return
    parser = getattr(_mathtext, "Parser", None)
    original = getattr(parser, "symbol", None)
    if original is None or getattr(original, "_decimal_comma", False):
        return

    def symbol(self, s, loc, toks):
        if toks["sym"] == ",":
            before = next((ch for ch in s[:loc][::-1] if ch != " "), "")
            after = next((ch for ch in s[loc + 1:] if ch != " "), "")
            if before.isdigit() and after.isdigit():
                return [_mathtext.Char(",", self.get_state())]
        return original(self, s, loc, toks)

    symbol._decimal_comma = True
    parser.symbol = symbol


def _use_svg_in_jupyter() -> None:
    """Num *kernel* Jupyter, figuras em SVG (nítidas no livro e no JupyterLab)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - o IPython vem com o ipykernel
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    from IPython.core.pylabtools import select_figure_formats
    from matplotlib_inline.config import InlineBackend

    backend = InlineBackend.instance()
    backend.figure_formats = {"svg"}  # vale também para um %matplotlib inline posterior
    select_figure_formats(shell, {"svg"}, **backend.print_figure_kwargs)


def use_book_style() -> None:
    """Aplica o estilo único do livro ao matplotlib (idempotente).

    Ajusta os ``rcParams`` (tamanhos, fontes, cores, mathtext), faz todo eixo criado daqui em
    diante escrever vírgula decimal e, num *kernel* Jupyter, mostra as figuras em SVG.
    """
    mpl.rcParams.update(_STYLE)
    _install_comma_formatters()
    _install_decimal_comma_in_mathtext()
    _use_svg_in_jupyter()


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None, height: float | None = None):
    """Cria uma figura no estilo do livro; devolve ``(fig, axes)``.

    Uma figura simples tem a largura do texto (7 pol.); uma de vários painéis, 8 pol. de largura
    e mais altura por linha. ``width`` acima de 8 pol. é limitado a 8 (mais larga, as letras
    ficariam ilegíveis na página). Mais de dois painéis lado a lado ficam estreitos: prefira
    ``new_figure(2, 2)`` a ``new_figure(4)``.
    """
    use_book_style()
    if ncols < 1 or nrows < 1:
        raise ValueError(f"ncols e nrows devem ser ≥ 1; recebi ncols={ncols!r}, nrows={nrows!r}.")
    single = ncols == 1 and nrows == 1
    w = width if width is not None else SINGLE_WIDTH_IN if ncols == 1 else MULTI_WIDTH_IN
    # Mais larga que 8 pol., o navegador a encolheria tanto que as letras ficariam com menos
    # de 9 pt: a largura pedida é limitada (a altura não).
    w = min(w, MULTI_WIDTH_IN)
    h = height if height is not None else 4.2 if single else (4.0 if nrows == 1 else 3.6 * nrows)
    return plt.subplots(nrows, ncols, figsize=(w, h), squeeze=True)


def displayed_scale(fig) -> float:
    """Quanto o navegador reduz a figura para caber na largura do texto do livro (≤ 1)."""
    return min(1.0, PAGE_WIDTH_PX / (fig.get_figwidth() * 96))


def glue_figure(name: str, fig) -> None:
    """Guarda a figura para uma célula ``{glue:figure}`` (com número e legenda) e a fecha.

    ``name`` é o nome usado na diretiva (``{glue:figure} name``). Fechar a figura impede que o
    Jupyter a mostre de novo no fim da célula de código, sem legenda.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]+", name):
        raise ValueError(f"nome de figura inválido: {name!r} (use letras, algarismos, '-', '_', '.' ou ':').")
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)


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


# Números por extenso à brasileira: mil, milhões (mi), bilhões (bi), trilhões (tri).
_SI = ((1e12, "tri"), (1e9, "bi"), (1e6, "mi"), (1e3, "mil"))


def format_si(value: float, digits: int = 3) -> str:
    """Formata com as palavras de escala do português e vírgula decimal: ``67,4 bi``.

    ``format_si(2.33e6) == "2,33 mi"``; ``format_si(1e11) == "100 bi"``;
    ``format_si(1e12) == "1 tri"``; ``format_si(1.5e5, 2) == "150 mil"``. Nunca K/M/B/T, que
    colidiriam com os símbolos $M$ (FLOPs por *token*) e $B$ (lote). De mil trilhões para
    cima, potência de dez: ``format_si(9.95e23) == "9,95×10²³"``.
    """
    value = float(value)
    if not math.isfinite(value) or abs(value) >= 1e15:
        return fmt(value, f".{digits}g")
    scales = ((1.0, ""),) + _SI[::-1]  # do menor para o maior
    i = max([k for k, (scale, _) in enumerate(scales) if abs(value) >= scale], default=0)
    text = _significant(value / scales[i][0], digits)
    # 999,96 mil com 3 algarismos arredonda para "1000 mil": sobe para "1 mi"
    if abs(float(text)) >= 1000 and i + 1 < len(scales):
        i += 1
        text = _significant(value / scales[i][0], digits)
    if "e" in text:  # só acontece para |valor| < 1 muito pequeno: 1,2×10⁻⁵
        return fmt(float(text), f".{digits}g")
    word = scales[i][1]
    return text.replace(".", ",") + (f" {word}" if word else "")


def _significant(x: float, digits: int) -> str:
    """``x`` com ``digits`` algarismos significativos (ponto decimal); sem notação científica se |x| ≥ 1."""
    d = max(digits, len(str(int(round(abs(x)))))) if abs(x) >= 1 else digits  # 150 com 2: "150"
    return f"{x:.{d}g}"


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
    sc = ax.scatter(lrs[ok], batches[ok], c=losses[ok], cmap=cmap, vmin=lo, vmax=lo * vmax_factor, s=420,
                    marker="s", edgecolors="none")
    for x, y, v in zip(lrs[ok], batches[ok], losses[ok]):
        ax.annotate(fmt(v, ".2f"), (x, y), ha="center", va="center", fontsize=8,
                    color="white" if v < lo * (1 + 0.45 * (vmax_factor - 1)) else "black")
    if (~ok).any():
        ax.scatter(lrs[~ok], batches[~ok], marker="x", color=COLORS["vermelho"], s=50, label="divergiu")
    if near is not None:
        near = np.asarray(near, dtype=bool)
        ax.scatter(lrs[near], batches[near], s=620, marker="s", facecolors="none", edgecolors="black",
                   linewidths=1.1, label="quase ótimo")
    if best is not None:
        best = np.asarray(best, dtype=bool)
        ax.scatter(lrs[best], batches[best], s=520, marker="s", facecolors="none", edgecolors=COLORS["vermelho"],
                   linewidths=2.2, label="melhor")
    ax.set(xscale="log", yscale="log", xlabel="taxa de aprendizado máxima", ylabel="lote (tokens por passo)")
    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.set_xticks(np.unique(lrs), [fmt(v, ".2g") for v in np.unique(lrs)], rotation=45)
    ax.set_yticks(np.unique(batches), [fmt(v, ",.0f") for v in np.unique(batches)])
    ax.margins(0.08)
    ax.grid(False)
    if colorbar:
        ax.figure.colorbar(sc, ax=ax, label="bits por byte (validação)", shrink=0.85)
    return ax


def plot_basin_page(lrs, batches, losses, *, near=None, best=None, title: str = "", digits: int = 2):
    """Uma grade taxa × lote na largura do texto, com a perda de cada treino escrita no quadrado.

    Quadrados maiores que os de :func:`plot_hyper_grid`, para o número caber em letra de 9,5 pt;
    a perda sai do valor medido com ``digits`` casas (não do rótulo já arredondado), em letra escura
    nos quadrados claros (perda baixa) e clara nos escuros.
    """
    losses = np.asarray(losses, dtype=float)
    fig, ax = new_figure(width=7.0, height=5.6)  # a largura do texto: mostrada a 100%
    plot_hyper_grid(ax, lrs, batches, losses, near=near, best=best, colorbar=True)
    ax.tick_params(labelsize=9.5)
    for coll in ax.collections:
        coll.set_sizes(np.asarray(coll.get_sizes()) * 1.8)
    lo = float(np.nanmin(losses))
    for t, v in zip(ax.texts, losses[np.isfinite(losses)]):  # os rótulos seguem a ordem dos treinos que terminaram
        t.set_fontsize(9.5)
        t.set_text(fmt(v, f".{digits}f"))
        t.set_color("black" if v < lo * 1.07 else "white")
    ax.set_title(title)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=3, markerscale=0.5)
    return fig


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
        ax.legend()
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
