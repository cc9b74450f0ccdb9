"""Os exploradores interativos do capítulo de qualidade dos dados.

Duas ferramentas, cada uma em duas formas que fazem **a mesma conta**:

- o **explorador de qualidade**: o expoente ``a`` de ``M_opt ∝ C^a`` (com ``b = 1 − a``)
  num controle deslizante, predefinições da Tabela 4 do DeepSeek e dos expoentes medidos
  neste livro, e um orçamento em escala log; mostra ``M_opt``, ``D_opt``, uma contagem
  aproximada de parâmetros e *tokens* por parâmetro, a fronteira de alocação e onde
  ficam o 7B e o 67B;
- a **calculadora de hiperparâmetros e alocação**: dado um orçamento (ou um modelo e um
  número de *tokens*), ``η_opt``, ``B_opt``, ``M_opt`` e ``D_opt`` do DeepSeek e das leis
  ajustadas neste livro, lado a lado.

No notebook, :func:`quality_explorer` e :func:`allocation_calculator` devolvem
*widgets* do ipywidgets (precisam de um *kernel*). No livro estático,
:func:`quality_explorer_html` e :func:`allocation_calculator_html` devolvem um bloco
HTML autocontido — controles nativos do navegador e um JavaScript de poucas linhas, sem
nenhum recurso da internet — gerado a partir dos mesmos números. As contas ficam em
funções puras (:func:`allocation`, :func:`power_law_rows`), testadas contra o JavaScript
num Chromium sem tela.

**O que fica fixo quando ``a`` muda.** Um expoente sozinho não define uma lei de
potência: falta um ponto por onde ela passa. Todas as fronteiras passam pela alocação do
DeepSeek (dados atuais, Eq. 4) no orçamento de referência :data:`ANCHOR_BUDGET` = 1e19
FLOPs, o meio (em escala log) da faixa que o DeepSeek usou para ajustar as leis (1e17 a
3e20). Mudar ``a`` gira a fronteira em torno desse ponto: perto dele as alocações quase
não mudam, longe dele (nos orçamentos do 7B e do 67B, 10⁴ vezes maiores) o expoente
pesa muito. Fixar o ponto dentro da faixa ajustada é a escolha que menos extrapola.
"""

from __future__ import annotations

import html
import json
import math
import uuid
from dataclasses import dataclass

from ..laws import deepseek
from ..model.config import deepseek_7b, deepseek_67b
from ..model.flops import deepseek_m

__all__ = [
    "ANCHOR_BUDGET",
    "A_RANGE",
    "BUDGET_RANGE",
    "Preset",
    "table4_presets",
    "anchor",
    "allocation",
    "published_models",
    "PowerLaw",
    "power_law_rows",
    "quality_explorer",
    "allocation_calculator",
    "quality_explorer_html",
    "allocation_calculator_html",
]

#: Orçamento (FLOPs) em que todas as fronteiras do explorador passam pela alocação do DeepSeek.
ANCHOR_BUDGET = 1e19
#: Faixa do controle de ``a`` e do orçamento (FLOPs): do que o livro mede (10¹¹–10¹³) ao 67B e além.
A_RANGE = (0.30, 0.80)
BUDGET_RANGE = (1e11, 1e25)


def _check_initial_budget(initial_budget) -> float:
    """O orçamento inicial de um controle, dentro de :data:`BUDGET_RANGE` (senão, o controle o cortaria)."""
    lo, hi = BUDGET_RANGE
    ok = isinstance(initial_budget, (int, float)) and not isinstance(initial_budget, bool) \
        and math.isfinite(initial_budget) and lo <= initial_budget <= hi
    if not ok:
        raise ValueError(f"initial_budget deve ser um número de FLOPs entre {lo:.0e} e {hi:.0e}; "
                         f"recebi {initial_budget!r}.")
    return float(initial_budget)
#: Contexto com que M é calculado para o 7B e o 67B (o do treino deles).
SEQ_LEN_PUBLISHED = 4096


@dataclass(frozen=True)
class Preset:
    """Uma predefinição do controle de ``a``: rótulo, expoente e de onde veio."""

    label: str
    a: float
    source: str


def table4_presets() -> list[Preset]:
    """As cinco linhas da Tabela 4 do DeepSeek LLM como predefinições."""
    return [Preset(f"{row.label} — {row.data}", row.a, "DeepSeek LLM, Tabela 4") for row in deepseek.TABLE4]


def _check_a(a: float) -> float:
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) or not 0 < a < 1:
        raise ValueError(f"o expoente a deve estar em (0, 1) (b = 1 − a); recebi {a!r}.")
    return float(a)


def _check_budget(c: float, name: str = "o orçamento C") -> float:
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or c <= 0:
        raise ValueError(f"{name} deve ser um número finito > 0 (FLOPs); recebi {c!r}.")
    return float(c)


def anchor(anchor_budget: float = ANCHOR_BUDGET) -> tuple[float, float]:
    """O ponto fixo das fronteiras: ``(C₀, M_opt(C₀))`` pela Eq. 4 do DeepSeek."""
    c0 = _check_budget(anchor_budget, "o orçamento de referência")
    return c0, float(deepseek.m_opt(c0))


def allocation(a: float, budget: float, *, anchor_budget: float = ANCHOR_BUDGET) -> dict[str, float]:
    """Alocação ótima com expoente ``a`` passando pelo ponto de :func:`anchor`.

    ``M = M₀·(C/C₀)^a`` (FLOPs/*token*), ``D = C/M`` (*tokens*, e portanto ``D ∝ C^(1−a)``),
    ``N ≈ M/6`` parâmetros (a parte ``6N₁`` de M; ignora o termo de atenção, que no 7B
    é ~14% de M) e *tokens* por parâmetro ``D/N``.
    """
    a = _check_a(a)
    c = _check_budget(budget)
    c0, m0 = anchor(anchor_budget)
    m = m0 * (c / c0) ** a
    d = c / m
    n = m / 6
    return {"a": a, "b": 1 - a, "C": c, "M": m, "D": d, "N": n, "tokens_per_param": d / n}


def published_models() -> list[dict[str, float]]:
    """O 7B e o 67B: M (Eq. 2, contexto 4096), D = 2e12 *tokens* e C = M·D."""
    out = []
    for name, cfg in (("7B", deepseek_7b()), ("67B", deepseek_67b())):
        m = float(deepseek_m(cfg, SEQ_LEN_PUBLISHED))
        d = deepseek.TABLE2[name].tokens
        out.append({"name": name, "M": m, "D": d, "C": m * d})
    return out


@dataclass(frozen=True)
class PowerLaw:
    """``y = k · C^alpha`` com um rótulo e a unidade de ``y``."""

    k: float
    alpha: float

    def __call__(self, budget: float) -> float:
        return self.k * _check_budget(budget) ** self.alpha


def power_law_rows(book: dict[str, PowerLaw] | None = None) -> list[dict]:
    """As linhas da calculadora: (grandeza, unidade, lei do DeepSeek, lei do livro ou ``None``).

    ``book`` pode trazer ``"lr"``, ``"batch"``, ``"M"`` e ``"D"`` (as leis ajustadas nos
    capítulos de hiperparâmetros e IsoFLOP).
    """
    book = book or {}
    unknown = sorted(set(book) - {"lr", "batch", "M", "D"})
    if unknown:
        raise ValueError(f"leis do livro desconhecidas: {unknown}; as válidas são ['D', 'M', 'batch', 'lr'].")
    spec = (
        ("lr", "η_opt (taxa de aprendizado)", "", PowerLaw(deepseek.ETA_COEF, deepseek.ETA_EXP)),
        ("batch", "B_opt (lote)", "tokens", PowerLaw(deepseek.BATCH_COEF, deepseek.BATCH_EXP)),
        ("M", "M_opt (escala do modelo)", "FLOPs/token", PowerLaw(deepseek.M_BASE, deepseek.M_EXP)),
        ("D", "D_opt (dados)", "tokens", PowerLaw(deepseek.D_BASE, deepseek.D_EXP)),
    )
    return [{"key": key, "label": label, "unit": unit, "deepseek": law, "book": book.get(key)}
            for key, label, unit, law in spec]


# --- formatação comum (Python e JavaScript escrevem igual) ---------------------------

def _fmt(value: float) -> str:
    """3 algarismos significativos, vírgula decimal, expoente com 'e' (igual ao JS)."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    exp = math.floor(math.log10(abs(value)))
    if -3 <= exp < 4:
        decimals = max(0, 2 - exp)
        return f"{value:.{decimals}f}".replace(".", ",")
    mant = value / 10**exp
    if round(mant, 2) >= 10:
        mant, exp = mant / 10, exp + 1
    return f"{mant:.2f}".replace(".", ",") + f"e{exp}"


_FMT_JS = """
function fmt(v) {
  if (v === 0 || !isFinite(v)) return String(v);
  let e = Math.floor(Math.log10(Math.abs(v)));
  if (e >= -3 && e < 4) return v.toFixed(Math.max(0, 2 - e)).replace('.', ',');
  let m = v / Math.pow(10, e);
  if (Math.round(m * 100) / 100 >= 10) { m /= 10; e += 1; }
  return m.toFixed(2).replace('.', ',') + 'e' + e;
}
"""


# --- ipywidgets (no notebook, com kernel) ------------------------------------------

def quality_explorer(presets: list[Preset] | None = None, *, initial_budget: float = 1e21):
    """O explorador de qualidade como *widget* (controle de ``a``, predefinições, orçamento)."""
    initial_budget = _check_initial_budget(initial_budget)
    import ipywidgets as w
    import matplotlib.pyplot as plt
    import numpy as np

    from .plots import COLORS, new_figure

    presets = presets or table4_presets()
    start = presets[min(3, len(presets) - 1)].a
    preset = w.Dropdown(options=[(f"{p.label} (a = {_fmt(p.a)})", p.a) for p in presets], value=start,
                        description="predefinição", layout=w.Layout(width="95%"), style={"description_width": "initial"})
    a_slider = w.FloatSlider(value=start, min=A_RANGE[0], max=A_RANGE[1], step=0.001, readout_format=".3f",
                             description="a", continuous_update=False)
    budget = w.FloatLogSlider(value=initial_budget, base=10, min=math.log10(BUDGET_RANGE[0]),
                              max=math.log10(BUDGET_RANGE[1]), step=0.05, description="C (FLOPs)",
                              readout_format=".2e", continuous_update=False)
    def on_preset(change):
        a_slider.value = change["new"]

    preset.observe(on_preset, names="value")
    models = published_models()

    def draw(a, c):
        alloc = allocation(a, c)
        grid = np.logspace(math.log10(BUDGET_RANGE[0]), math.log10(BUDGET_RANGE[1]), 60)
        fig, ax = new_figure(width=7.5, height=4.2)
        ax.plot(grid, [allocation(a, g)["M"] for g in grid], color=COLORS["azul"], label=f"fronteira com a = {a:.3f}")
        ax.plot(grid, deepseek.m_opt(grid), color=COLORS["cinza"], ls="--", label="DeepSeek, dados atuais (Eq. 4)")
        ax.scatter([alloc["C"]], [alloc["M"]], color=COLORS["azul"], zorder=4)
        c0, m0 = anchor()
        ax.scatter([c0], [m0], marker="s", color="k", zorder=4, label="ponto fixo (C₀ = 1e19)")
        for m in models:
            ax.scatter([m["C"]], [m["M"]], marker="*", s=140, color=COLORS["vermelho"], zorder=5)
            ax.annotate(m["name"], (m["C"], m["M"]), textcoords="offset points", xytext=(6, -10))
        ax.set(xscale="log", yscale="log", xlabel="C (FLOPs)", ylabel="M_opt (FLOPs/token)",
               title="fronteira de alocação")
        ax.legend(fontsize=8, loc="upper left")
        plt.show()
        print(f"M_opt = {_fmt(alloc['M'])} FLOPs/token   D_opt = {_fmt(alloc['D'])} tokens   "
              f"N ≈ {_fmt(alloc['N'])} parâmetros   {_fmt(alloc['tokens_per_param'])} tokens/parâmetro")

    out = w.interactive_output(draw, {"a": a_slider, "c": budget})
    return w.VBox([preset, w.HBox([a_slider, budget]), out])


def allocation_calculator(book: dict[str, PowerLaw] | None = None, *, initial_budget: float = 1e21):
    """A calculadora como *widget*: orçamento (ou modelo M × tokens D) → as quatro grandezas."""
    initial_budget = _check_initial_budget(initial_budget)
    import ipywidgets as w
    from IPython.display import HTML, display

    rows = power_law_rows(book)
    mode = w.ToggleButtons(options=[("orçamento C", "C"), ("modelo M × tokens D", "MD")], value="C")
    budget = w.FloatLogSlider(value=initial_budget, base=10, min=math.log10(BUDGET_RANGE[0]),
                              max=math.log10(BUDGET_RANGE[1]), step=0.05, description="C (FLOPs)",
                              readout_format=".2e", continuous_update=False)
    m_in = w.FloatLogSlider(value=4.3e10, base=10, min=6, max=13, step=0.05, description="M", readout_format=".2e",
                            continuous_update=False)
    d_in = w.FloatLogSlider(value=2e12, base=10, min=6, max=14, step=0.05, description="D (tokens)",
                            readout_format=".2e", continuous_update=False)

    def show(mode, c, m, d):
        c = c if mode == "C" else m * d
        display(HTML(_calculator_table(rows, c)))

    out = w.interactive_output(show, {"mode": mode, "c": budget, "m": m_in, "d": d_in})
    ui = w.VBox([mode, budget, w.HBox([m_in, d_in]), out])
    ui.add_class("lde-calculator")  # o gancho de tests/test_jupyterlab.py
    return ui


def _calculator_table(rows: list[dict], budget: float) -> str:
    head = "<tr><th>grandeza</th><th>DeepSeek (Eq. 1 e 4)</th><th>este livro</th></tr>"
    body = []
    for r in rows:
        book = r["book"]
        book_txt = _fmt(book(budget)) if book is not None else "—"
        body.append(f"<tr><td>{html.escape(r['label'])}</td><td>{_fmt(r['deepseek'](budget))} {r['unit']}</td>"
                    f"<td>{book_txt} {r['unit'] if book is not None else ''}</td></tr>")
    return f"<p>C = {_fmt(budget)} FLOPs</p><table>{head}{''.join(body)}</table>"


# --- HTML estático (no livro, sem kernel) ---------------------------------------------

_STYLE = """
<style>
.lde-w {border:1px solid #ccc; border-radius:6px; padding:10px 14px; margin:8px 0; font-size:0.95em}
.lde-w label {display:block; margin:6px 0 2px}
.lde-w input[type=range] {width:100%}
.lde-w table {border-collapse:collapse; margin-top:6px}
.lde-w td, .lde-w th {border-bottom:1px solid #ddd; padding:3px 10px; text-align:left}
.lde-w .lde-out {font-family:monospace}
</style>
"""


def quality_explorer_html(presets: list[Preset] | None = None, *, initial_budget: float = 1e21,
                          element_id: str | None = None) -> str:
    """O explorador de qualidade como HTML + JavaScript autocontidos (para o livro estático).

    Mesmas contas de :func:`allocation` (o JavaScript recebe ``C₀`` e ``M₀`` prontos);
    cada resultado fica num elemento com ``data-value`` (o número completo), que os
    testes leem depois de arrastar o controle num navegador de verdade.
    """
    initial_budget = _check_initial_budget(initial_budget)
    presets = presets or table4_presets()
    uid = element_id or "lde-q-" + uuid.uuid4().hex[:8]
    c0, m0 = anchor()
    start = presets[min(3, len(presets) - 1)].a
    lo, hi = math.log10(BUDGET_RANGE[0]), math.log10(BUDGET_RANGE[1])
    options = "".join(f'<option value="{p.a}"{" selected" if p.a == start else ""}>'
                      f'{html.escape(p.label)} (a = {_fmt(p.a)})</option>' for p in presets)
    models = published_models()
    params = {"c0": c0, "m0": m0, "lo": lo, "hi": hi, "models": models, "a_ref": deepseek.M_EXP}
    outputs = "".join(
        f'<tr><td>{label}</td><td class="lde-out" data-key="{key}" data-value="">—</td><td>{unit}</td></tr>'
        for key, label, unit in (("M", "M_opt", "FLOPs/token"), ("D", "D_opt", "tokens"),
                                 ("N", "N ≈ M/6", "parâmetros"), ("tokens_per_param", "D/N", "tokens por parâmetro"),
                                 ("b", "b = 1 − a", "")))
    return f"""{_STYLE}
<div class="lde-w" id="{uid}">
<label>predefinição: <select data-role="preset">{options}</select></label>
<label>expoente a (M_opt ∝ C^a): <b data-role="a-text">{start:.3f}</b>
<input type="range" data-role="a" min="{A_RANGE[0]}" max="{A_RANGE[1]}" step="0.001" value="{start}"></label>
<label>orçamento C: <b data-role="c-text"></b> FLOPs
<input type="range" data-role="logc" min="{lo}" max="{hi}" step="0.05" value="{math.log10(initial_budget)}"></label>
<table>{outputs}</table>
<svg data-role="plot" viewBox="0 0 420 230" width="420" height="230" role="img"
 aria-label="fronteira de alocação M_opt contra C, em escala log"></svg>
<p style="font-size:0.85em">Linha azul: a fronteira com o expoente escolhido; tracejada: DeepSeek, dados
atuais (Eq. 4). Todas passam pelo ponto fixo (quadrado) C₀ = 1e19 FLOPs, M₀ = {_fmt(m0)}. Estrelas: o 7B
e o 67B como foram treinados; círculo: o orçamento escolhido.</p>
</div>
<script>
(function() {{
{_FMT_JS}
  const P = {json.dumps(params)};
  const root = document.getElementById("{uid}");
  const q = r => root.querySelector('[data-role="' + r + '"]');
  function alloc(a, c) {{
    const m = P.m0 * Math.pow(c / P.c0, a), d = c / m, n = m / 6;
    return {{M: m, D: d, N: n, tokens_per_param: d / n, b: 1 - a}};
  }}
  function plot(a, c) {{
    const svg = q("plot"), W = 420, H = 230, x0 = 50, y0 = 200, w = 360, h = 185;
    // eixo vertical: as décadas que as duas fronteiras e os modelos ocupam em toda a faixa de C
    const grid = [...Array(41).keys()].map(i => P.lo + (P.hi - P.lo) * i / 40);
    const logm = aa => grid.map(lc => Math.log10(alloc(aa, Math.pow(10, lc)).M));
    const all = logm(a).concat(logm(P.a_ref), P.models.map(m => Math.log10(m.M)));
    const ylo = Math.floor(Math.min(...all)), yhi = Math.ceil(Math.max(...all));
    const ystep = yhi - ylo > 8 ? 2 : 1;
    const X = lc => x0 + (lc - P.lo) / (P.hi - P.lo) * w;
    const Y = lm => y0 - (lm - ylo) / (yhi - ylo) * h;
    let s = '<rect x="' + x0 + '" y="' + (y0 - h) + '" width="' + w + '" height="' + h + '" fill="none" stroke="#999"/>';
    for (let e = Math.ceil(P.lo); e <= P.hi; e += 2)
      s += '<text x="' + X(e) + '" y="' + (y0 + 14) + '" font-size="10" text-anchor="middle">1e' + e + '</text>';
    for (let e = ylo; e <= yhi; e += ystep)
      s += '<text x="' + (x0 - 4) + '" y="' + (Y(e) + 3) + '" font-size="10" text-anchor="end">1e' + e + '</text>';
    const line = (aa, style) => {{
      const lm = logm(aa);
      const pts = grid.map((lc, i) => X(lc).toFixed(1) + ',' + Y(lm[i]).toFixed(1));
      return '<polyline fill="none" ' + style + ' points="' + pts.join(' ') + '"/>';
    }};
    s += line(P.a_ref, 'stroke="#888" stroke-dasharray="4 3"');
    s += line(a, 'stroke="#1f77b4" stroke-width="2"');
    s += '<rect x="' + (X(Math.log10(P.c0)) - 3) + '" y="' + (Y(Math.log10(P.m0)) - 3) + '" width="6" height="6"/>';
    for (const m of P.models)
      s += '<text x="' + X(Math.log10(m.C)) + '" y="' + (Y(Math.log10(m.M)) + 4) + '" fill="#d62728" font-size="14" text-anchor="middle">★</text>' +
           '<text x="' + (X(Math.log10(m.C)) + 8) + '" y="' + (Y(Math.log10(m.M)) + 14) + '" font-size="10">' + m.name + '</text>';
    const r = alloc(a, c);
    s += '<circle cx="' + X(Math.log10(c)) + '" cy="' + Y(Math.log10(r.M)) + '" r="4" fill="#1f77b4"/>';
    s += '<text x="' + (x0 + w / 2) + '" y="' + (H - 2) + '" font-size="10" text-anchor="middle">C (FLOPs)</text>';
    s += '<text x="12" y="' + (y0 - h / 2) + '" font-size="10" transform="rotate(-90 12 ' + (y0 - h / 2) + ')" text-anchor="middle">M_opt (FLOPs/token)</text>';
    svg.innerHTML = s;
  }}
  function update() {{
    const a = parseFloat(q("a").value), c = Math.pow(10, parseFloat(q("logc").value));
    q("a-text").textContent = a.toFixed(3).replace('.', ',');
    q("c-text").textContent = fmt(c);
    root.dataset.a = a; root.dataset.c = c;
    const r = alloc(a, c);
    root.querySelectorAll(".lde-out").forEach(el => {{
      el.dataset.value = r[el.dataset.key]; el.textContent = fmt(r[el.dataset.key]);
    }});
    plot(a, c);
  }}
  q("preset").addEventListener("change", () => {{ q("a").value = q("preset").value; update(); }});
  q("a").addEventListener("input", update);
  q("logc").addEventListener("input", update);
  update();
}})();
</script>
"""


def allocation_calculator_html(book: dict[str, PowerLaw] | None = None, *, initial_budget: float = 1e21,
                               element_id: str | None = None) -> str:
    """A calculadora como HTML + JavaScript autocontidos: orçamento → η, B, M, D (DeepSeek e livro).

    Dois modos, como no *widget*: o orçamento ``C`` direto, ou um modelo ``M`` (FLOPs/*token*)
    e um número de *tokens* ``D``, com ``C = M·D``.
    """
    initial_budget = _check_initial_budget(initial_budget)
    rows = power_law_rows(book)
    uid = element_id or "lde-c-" + uuid.uuid4().hex[:8]
    lo, hi = math.log10(BUDGET_RANGE[0]), math.log10(BUDGET_RANGE[1])
    laws = [{"key": r["key"], "ds": [r["deepseek"].k, r["deepseek"].alpha],
             "book": [r["book"].k, r["book"].alpha] if r["book"] is not None else None} for r in rows]
    body = "".join(
        f'<tr><td>{html.escape(r["label"])}</td>'
        f'<td class="lde-out" data-key="{r["key"]}" data-src="ds" data-value="">—</td>'
        f'<td class="lde-out" data-key="{r["key"]}" data-src="book" data-value="">—</td><td>{r["unit"]}</td></tr>'
        for r in rows)
    return f"""{_STYLE}
<div class="lde-w" id="{uid}">
<label>entrada: <select data-role="mode"><option value="C" selected>orçamento C</option>
<option value="MD">modelo M × tokens D</option></select></label>
<div data-role="by-c"><label>orçamento C: <b data-role="c-text"></b> FLOPs
<input type="range" data-role="logc" min="{lo}" max="{hi}" step="0.05" value="{math.log10(initial_budget)}"></label></div>
<div data-role="by-md" style="display:none">
<label>modelo M: <b data-role="m-text"></b> FLOPs/token
<input type="range" data-role="logm" min="6" max="13" step="0.05" value="10.63"></label>
<label>dados D: <b data-role="d-text"></b> tokens
<input type="range" data-role="logd" min="6" max="14" step="0.05" value="12.3"></label>
<p>C = M·D = <b data-role="c-md-text"></b> FLOPs</p></div>
<table><tr><th>grandeza</th><th>DeepSeek</th><th>este livro</th><th>unidade</th></tr>{body}</table>
</div>
<script>
(function() {{
{_FMT_JS}
  const L = {json.dumps(laws)};
  const root = document.getElementById("{uid}");
  const q = r => root.querySelector('[data-role="' + r + '"]');
  function update() {{
    const byMD = q("mode").value === "MD";
    q("by-c").style.display = byMD ? "none" : "";
    q("by-md").style.display = byMD ? "" : "none";
    const m = Math.pow(10, parseFloat(q("logm").value)), d = Math.pow(10, parseFloat(q("logd").value));
    const c = byMD ? m * d : Math.pow(10, parseFloat(q("logc").value));
    q("c-text").textContent = fmt(c);
    q("m-text").textContent = fmt(m);
    q("d-text").textContent = fmt(d);
    q("c-md-text").textContent = fmt(m * d);
    root.dataset.c = c; root.dataset.m = m; root.dataset.d = d;
    root.querySelectorAll(".lde-out").forEach(el => {{
      const law = L.find(l => l.key === el.dataset.key)[el.dataset.src];
      if (law === null) {{ el.textContent = "—"; el.dataset.value = ""; return; }}
      const v = law[0] * Math.pow(c, law[1]);
      el.dataset.value = v; el.textContent = fmt(v);
    }});
  }}
  q("mode").addEventListener("change", update);
  for (const r of ["logc", "logm", "logd"]) q(r).addEventListener("input", update);
  update();
}})();
</script>
"""
