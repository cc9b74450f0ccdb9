"""Estilo e formatação do livro."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.presentation import plots


def test_fmt_brazilian_conventions():
    assert plots.fmt(9139.2, ",.0f") == "9.139"
    assert plots.fmt(0.0756, ".3f") == "0,076"
    assert plots.fmt(8.8e13, ".1e") == "8,8×10¹³"
    assert plots.fmt(4.2e-4, ".1e") == "4,2×10⁻⁴"
    assert plots.fmt(0.968, ".1%") == "96,8%"
    assert plots.fmt(1234567.891, ",.2f") == "1.234.567,89"


@pytest.mark.parametrize("value, digits, text", [
    (2.33e6, 3, "2,33 mi"), (1e11, 3, "100 bi"), (1e12, 3, "1 tri"), (67_425_001_472, 4, "67,43 bi"),
    (352e6, 3, "352 mi"), (12.5, 3, "12,5"), (1.5e5, 2, "150 mil"),  # nunca "1,5e+02 mil"
    (999_960, 3, "1 mi"),  # o arredondamento sobe de palavra: não "1000 mil"
    (999.97, 3, "1 mil"), (-3.4e9, 3, "-3,4 bi"), (0, 3, "0"), (1.2e-5, 2, "1,2×10⁻⁵"),
    (9.95e23, 3, "9,95×10²³"),  # de mil trilhões para cima, potência de dez
])
def test_format_si_uses_portuguese_number_words(value, digits, text):
    assert plots.format_si(value, digits) == text


def test_format_si_never_uses_english_suffixes():
    for value in np.logspace(3, 14.9, 60):
        text = plots.format_si(value)
        assert text.split()[-1] in ("mil", "mi", "bi", "tri"), text
        assert not any(s in text for s in ("k", "M", "B", "T", ".")), text


def test_markdown_table_shape_and_errors():
    table = plots.markdown_table(["a", "b"], [[1, 2], [3, 4]])
    assert table.splitlines() == ["| a | b |", "| :--- | ---: |", "| 1 | 2 |", "| 3 | 4 |"]
    with pytest.raises(ValueError, match="toda linha deve ter 2 colunas"):
        plots.markdown_table(["a", "b"], [[1]])
    with pytest.raises(ValueError, match="só aceita as letras"):
        plots.markdown_table(["a"], [[1]], align="x")


def test_book_style_and_figure_helpers():
    plots.use_book_style()
    assert matplotlib.rcParams["axes.spines.top"] is False
    fig, ax = plots.new_figure()
    plots.plot_power_law(ax, np.logspace(0, 2, 5), np.logspace(0, 1, 5), label="lei")
    plots.plot_fit_band(ax, np.logspace(0, 2, 5), np.ones(5), 2 * np.ones(5))
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    plt.close(fig)


def test_format_bytes_uses_binary_units_and_comma():
    from helpers.presentation.plots import format_bytes

    assert format_bytes(1.48 * 2**30) == "1,48 GiB"
    assert format_bytes(16 * 2**20) == "16 MiB"
    assert format_bytes(512) == "512 B"


# --- o estilo único: vírgula em todo eixo, mathtext, tamanho para a página --------------

_DECIMAL_POINT = __import__("re").compile(r"\d\.\d")


def _tick_texts(fig):
    fig.canvas.draw()
    texts = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            texts += [t.get_text() for t in axis.get_majorticklabels() + axis.get_minorticklabels()]
            texts.append(axis.get_offset_text().get_text())
    return [t for t in texts if t]


def test_every_default_axis_writes_decimal_commas():
    plots.use_book_style()
    fig, axes = plots.new_figure(2, 2)
    a, b, c, d = axes.ravel()
    a.plot([0, 1], [0.1, 0.35])                       # linear, decimais nos dois eixos
    b.plot([1.1, 1.9], [0.31, 0.47])
    b.set(xscale="log", yscale="log")                 # log com menos de uma década: rótulos menores
    c.plot([-1, 1], [-0.5, 0.5])
    c.set_yscale("symlog", linthresh=0.1)
    sc = d.scatter([1, 2], [1, 2], c=[0.5, 0.75])
    fig.colorbar(sc, ax=d)                            # a barra de cor também é um eixo
    texts = _tick_texts(fig)
    assert len(texts) > 20
    assert not [t for t in texts if _DECIMAL_POINT.search(t)], texts
    assert sum("{,}" in t or "," in t for t in texts) >= 10, texts  # as vírgulas estão lá
    assert isinstance(a.xaxis.get_major_formatter(), plots.CommaScalarFormatter)
    assert isinstance(b.xaxis.get_major_formatter(), plots.CommaLogFormatter)
    assert isinstance(b.xaxis.get_major_formatter(), matplotlib.ticker.LogFormatterSciNotation)
    plt.close(fig)


def test_offset_and_hand_picked_formatters():
    plots.use_book_style()
    fig, (a, b) = plots.new_figure(2)
    a.plot([0, 1], [1.2345e6, 1.2346e6])              # deslocamento "+1,234×10⁶" em mathtext
    b.plot([0, 1], [0.25, 0.5])
    b.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2f"))  # escolhido à mão: intocado
    fig.canvas.draw()
    offset = a.yaxis.get_offset_text().get_text()
    assert "{,}" in offset and "." not in offset.replace(r"\mathdefault", ""), offset
    hand_picked = [t.get_text() for t in b.get_yticklabels()]
    assert "0.30" in hand_picked and not any("," in t for t in hand_picked), hand_picked
    plt.close(fig)


def test_mathtext_decimal_comma_has_no_punctuation_space():
    """``$x^{0,5}$`` sai como ``$x^{0{,}5}$`` (vírgula decimal), e ``$a, b$`` continua espaçado."""
    plots.use_book_style()
    fig = plt.figure()
    renderer = fig.canvas.get_renderer()

    def width(text):
        return fig.text(0, 0, text, fontsize=12).get_window_extent(renderer).width

    assert width(r"$y = x^{-0,5}$") == pytest.approx(width(r"$y = x^{-0{,}5}$"), abs=0.5)
    assert width(r"$2,5$") == pytest.approx(width(r"$2{,}5$"), abs=0.5)
    assert width(r"$a, b$") > width(r"$a{,}b$") + 1  # pontuação de verdade: espaço mantido
    plt.close(fig)


def test_decimal_comma_leaves_words_and_math_commands_alone():
    assert plots.decimal_comma("0.5") == "0,5"
    assert plots.decimal_comma(r"$\mathdefault{2.5\times10^{3}}$") == r"$\mathdefault{2{,}5\times10^{3}}$"
    assert plots.decimal_comma("fig. 3") == "fig. 3"
    assert plots.decimal_comma("") == ""


@pytest.mark.parametrize("label", [r"$\eta_\mathrm{opt}(C)$", r"$S_\mathrm{min}(1 + B_\mathrm{crit}/B)$",
                                   r"$M_\mathrm{opt} \propto C^{0{,}5243}$"])
def test_mathtext_labels_survive_the_style(label):
    plots.use_book_style()
    fig, ax = plots.new_figure()
    ax.plot([0.1, 0.2], [0.3, 0.4], label=label)
    ax.set_xlabel(label)
    ax.set_title(label)
    ax.legend()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert ax.get_xlabel() == label and ax.get_title() == label  # o estilo não reescreve rótulos
    math_width = ax.xaxis.label.get_window_extent(renderer).width
    raw = fig.text(0, 0, label, fontsize=ax.xaxis.label.get_fontsize(), parse_math=False)
    raw_width = raw.get_window_extent(renderer).width
    assert math_width < 0.8 * raw_width  # desenhado como fórmula, não como os caracteres crus
    fig.savefig(__import__("io").BytesIO(), format="svg")
    plt.close(fig)


@pytest.mark.parametrize("ncols, nrows", [(1, 1), (2, 1), (3, 1), (2, 2), (1, 2)])
def test_figures_stay_legible_at_page_width(ncols, nrows):
    """Depois que o navegador encolhe a figura para a largura do texto, toda letra tem ≥ 9 pt."""
    plots.use_book_style()
    fig, axes = plots.new_figure(ncols, nrows)
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.plot([1, 10], [0.1, 0.2], label=f"série {i}")
        ax.set(xlabel="tokens de treino", ylabel="perda", title=f"painel {i}", xscale="log")
        ax.legend()
    fig.canvas.draw()
    scale = plots.displayed_scale(fig)
    assert scale >= 0.85
    assert fig.get_figwidth() * 96 * scale <= plots.PAGE_WIDTH_PX + 1e-9
    if ncols > 1:  # vários painéis lado a lado: mais larga que uma figura simples
        assert fig.get_figwidth() > plots.SINGLE_WIDTH_IN
    if nrows > 1:  # várias linhas: mais alta
        assert fig.get_figheight() >= 3.5 * nrows
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    assert len(texts) > 8
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() * scale < plots.MIN_READABLE_PT]
    assert not small, small
    plt.close(fig)


def test_requested_width_is_capped_at_a_legible_size():
    fig, _ = plots.new_figure(2, width=9.0, height=4.2)
    assert fig.get_figwidth() == plots.MULTI_WIDTH_IN and fig.get_figheight() == 4.2
    assert plots.displayed_scale(fig) * 10.5 >= plots.MIN_READABLE_PT
    plt.close(fig)
    with pytest.raises(ValueError, match="ncols e nrows"):
        plots.new_figure(0)


def test_glue_figure_glues_and_closes(monkeypatch):
    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, obj, display=True: glued.update({name: (obj, display)}))
    fig, ax = plots.new_figure()
    plots.glue_figure("fig-teste", fig)
    assert glued == {"fig-teste": (fig, False)}
    assert not plt.fignum_exists(fig.number)  # fechada: não reaparece no fim da célula
    with pytest.raises(ValueError, match="nome de figura inválido"):
        plots.glue_figure("com espaço", fig)


def test_jupyter_kernel_shows_book_figures_as_svg(tmp_path):
    """Num kernel de verdade: a figura sai em SVG (nenhum PNG) e o glue guarda o SVG."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from helpers.presentation.plots import new_figure, use_book_style, glue_figure\n"
                                  "use_book_style()\nfig, ax = new_figure()\nax.plot([0, 1], [0.5, 1.5]);"),
        nbformat.v4.new_code_cell("fig, ax = new_figure()\nax.plot([0, 1], [0.5, 1.5])\nglue_figure('fig-x', fig)"),
    ])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = [o for o in nb.cells[0].outputs if o.output_type == "display_data"]
    assert len(shown) == 1 and "image/svg+xml" in shown[0].data and "image/png" not in shown[0].data
    assert "<svg" in shown[0].data["image/svg+xml"]
    glued = nb.cells[1].outputs
    assert len(glued) == 1 and glued[0].metadata["scrapbook"]["name"] == "fig-x", glued
    assert "application/papermill.record/image/svg+xml" in glued[0].data
    assert not any("png" in key for key in glued[0].data)
