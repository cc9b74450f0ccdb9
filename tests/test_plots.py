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


def test_format_si():
    assert plots.format_si(67_425_001_472, 4) == "67,43B"
    assert plots.format_si(352e6) == "352M"
    assert plots.format_si(12.5) == "12,5"
    assert plots.format_si(1.5e5, 2) == "150k"  # nunca "1,5e+02k"


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
