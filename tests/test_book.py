"""A build do livro: sem avisos, sem erros de notebook e sem nenhum recurso da internet.

Estes testes constroem o livro de verdade (executando os notebooks) numa pasta
temporária, com os mesmos argumentos do ``make book`` (fixture ``built_book`` em
``conftest.py``, construída uma vez por execução), e abrem cada capítulo num Chromium sem
tela: fórmulas renderizadas, imagens carregadas, figuras numeradas e com legenda, os
exploradores do capítulo 10 arrastados. As capturas de tela ficam em ``_build/screenshots/``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import ROOT, build_book

# Um processo só (pytest-xdist --dist loadgroup) para todos os testes do livro construído.
pytestmark = pytest.mark.xdist_group("livro")

SCREENSHOTS = ROOT / "_build" / "screenshots"
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


class _AssetCollector(HTMLParser):
    """Coleta tudo o que uma página carrega: scripts, folhas de estilo, fontes, imagens."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            # só JavaScript roda; um bloco de dados (type="application/...json", como o estado
            # dos widgets) não carrega nada, mesmo que contenha um SVG com o seu xmlns
            kind = (a.get("type") or "text/javascript").lower()
            self._in_script = "src" not in a and ("javascript" in kind or "mathjax" in kind or kind == "module")
            if "src" in a:
                self.assets.append(a["src"])
        elif tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").lower()
            if any(r in rel for r in ("stylesheet", "preload", "icon", "prefetch", "preconnect", "modulepreload")):
                self.assets.append(a["href"])
        elif tag in ("img", "source", "iframe", "embed", "video", "audio") and a.get("src"):
            self.assets.append(a["src"])
        elif tag == "object" and a.get("data"):
            self.assets.append(a["data"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline_scripts.append(data)


def _pages(html_dir: Path) -> list[Path]:
    return sorted(p for p in html_dir.rglob("*.html") if "_static" not in p.parts)


def test_every_chapter_in_the_toc_is_built_with_outputs(built_book):
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    for name in files:
        page = built_book / f"{name}.html"
        assert page.exists(), f"capítulo do sumário sem página: {name}"
        source = ROOT / f"{name}.ipynb"
        if source.exists():
            html = page.read_text(encoding="utf-8")
            assert 'class="cell_output' in html, f"{name}: a página não mostra saídas executadas"
            assert "Traceback" not in html, f"{name}: há um erro na saída"


def test_book_tests_are_grouped_in_one_worker(request):
    """Com ``--dist loadgroup``, o xdist manda os testes do grupo "livro" a um processo só (o id
    ganha o sufixo ``@livro``). No pytest 9 com o xdist 3.8 o sufixo não pega e o segundo processo
    fica parado esperando a trava da build — por isso o pytest está fixado no 8.4."""
    if not getattr(request.config.option, "loadgroup", False):  # o xdist marca isso em cada processo
        pytest.skip("sem pytest-xdist --dist loadgroup")
    assert request.node.nodeid.endswith("@livro"), request.node.nodeid


def test_notebooks_are_all_listed_in_the_toc():
    toc_text = (ROOT / "book" / "_toc.yml").read_text(encoding="utf-8")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{nb.stem}" in toc_text, f"{nb.name} não está no sumário"


def test_no_page_loads_anything_from_the_internet(built_book):
    problems = []
    for page in _pages(built_book):
        collector = _AssetCollector()
        collector.feed(page.read_text(encoding="utf-8"))
        problems += [f"{page.name}: {src}" for src in collector.assets if EXTERNAL.match(src)]
        problems += [f"{page.name}: script inline com endereço externo"
                     for body in collector.inline_scripts if re.search(r"https?://", body)]
    for css in built_book.rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text(encoding="utf-8", errors="ignore")):
            if EXTERNAL.match(url):
                problems.append(f"{css.relative_to(built_book)}: {url}")
    assert not problems, "recursos externos encontrados:\n" + "\n".join(problems)


def test_mathjax_is_served_locally_and_interface_is_portuguese(built_book):
    page = (built_book / "notebooks" / "01_leis_de_potencia.html").read_text(encoding="utf-8")
    assert 'src="../_static/mathjax/MathJax.js' in page
    assert (built_book / "_static" / "mathjax" / "MathJax.js").exists()
    assert (built_book / "_static" / "mathjax" / "fonts" / "HTML-CSS" / "STIX-Web").is_dir()
    assert '<html lang="pt-BR"' in page
    assert "Buscar" in page
    english = [p.name for p in _pages(built_book) if "Show code cell" in p.read_text(encoding="utf-8")]
    assert not english, f"botão de célula em inglês em: {english}"


def test_chapters_cite_the_bibliography(built_book):
    bib = (built_book / "book" / "bibliografia.html").read_text(encoding="utf-8").lower()
    for title in ("deepseek llm", "scaling laws for neural language models", "training compute-optimal"):
        assert title in bib, f"bibliografia sem {title!r}"
    chapter = (built_book / "notebooks" / "03_medindo_a_escala.html").read_text(encoding="utf-8")
    assert "bibliografia.html#" in chapter, "o capítulo 3 não cita nenhuma referência"


def test_a_failing_notebook_fails_the_build(tmp_path):
    """O mesmo _config.yml, com um notebook que levanta uma exceção: a build tem de falhar."""
    shutil.copytree(ROOT / "book", tmp_path / "book")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Capítulo quebrado"),
        nbformat.v4.new_code_cell("raise RuntimeError('falha proposital')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "quebrado.ipynb")
    toc = {"format": "jb-book", "root": "book/notacao", "chapters": [{"file": "notebooks/quebrado"}]}
    (tmp_path / "book" / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")
    result = build_book(tmp_path, tmp_path / "book" / "_config.yml", tmp_path / "book" / "_toc.yml", tmp_path / "saida")
    assert result.returncode != 0
    assert "falha proposital" in result.stdout + result.stderr




def test_static_explorer_works_in_the_built_chapter(built_book, page):
    """O laboratório do capítulo 10, no livro construído (sem kernel): arrastar o controle muda o resultado."""
    page.goto((built_book / "notebooks" / "10_qualidade_dos_dados.html").as_uri())
    read = ("(() => { const r = document.querySelector('.lde-w'); const o = {a: +r.dataset.a, c: +r.dataset.target,"
            " anchor: +r.dataset.anchor};"
            " r.querySelectorAll('.lde-out').forEach(e => o[e.dataset.key] = +e.dataset.value); return o; })()")
    before = page.evaluate(read)
    assert math.isfinite(before["m_plan"]) and before["m_plan"] > 0, "o JavaScript do laboratório não rodou na página"
    assert math.isfinite(before["a:limpo"]) and before["cost_bpb"] >= 0
    # O MathJax muda a altura da página enquanto renderiza: o controle só tem posição estável
    # depois que a fila dele esvazia, e o ponto do arraste tem de cair no próprio controle.
    page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.isReady", timeout=60_000)
    page.evaluate("() => new Promise(done => MathJax.Hub.Queue(done))")
    slider = page.locator('.lde-w [data-role="a"]').first
    on_slider = ("([x, y]) => { const e = document.elementFromPoint(x, y);"
                 " return !!e && e === document.querySelector('.lde-w [data-role=\"a\"]'); }")
    for _ in range(20):
        slider.evaluate("e => e.scrollIntoView({block: 'center'})")  # longe do cabeçalho fixo do tema
        box = slider.bounding_box()
        x, y, w, h = box["x"], box["y"], box["width"], box["height"]
        if page.evaluate(on_slider, [x + w / 2, y + h / 2]):
            break
        page.wait_for_timeout(250)
    else:
        pytest.fail(f"o controle do explorador não ficou visível e parado na tela (caixa {box})")
    page.mouse.move(x + w * (before["a"] - 0.3) / 0.5, y + h / 2)
    page.mouse.down()
    page.mouse.move(x + 0.05 * w, y + h / 2, steps=8)
    page.mouse.up()
    after = page.evaluate(read)
    assert after["a"] < before["a"] - 0.1
    # o plano passa pelo ponto da referência na âncora com a inclinação do controle (o alvo fica acima dela)
    expected = 10 ** after["ref_log10_m_anchor"] * (after["c"] / after["anchor"]) ** after["a"]
    assert after["m_plan"] == pytest.approx(expected, rel=1e-9) and after["m_plan"] < before["m_plan"]
    assert after["d_plan"] == pytest.approx(after["c"] / after["m_plan"], rel=1e-9)
    assert after["cost_bpb"] > before["cost_bpb"]  # longe do a da superfície, planejar custa mais
    assert not page.js_errors, page.js_errors


# --- cada capítulo construído, aberto no navegador ---------------------------------------

def _chapter_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    return [ch["file"] for part in toc["parts"] for ch in part["chapters"] if ch["file"].startswith("notebooks/")]


# Tudo o que o navegador vê numa página, lido depois que o MathJax terminou.
_INSPECT = r"""async () => {
  const main = document.querySelector('article.bd-article') || document.body;
  // imagens: carregadas de verdade (as "lazy" também)
  const imgs = [...main.querySelectorAll('img')];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  // texto que o MathJax deveria ter convertido e não converteu
  const skip = 'SCRIPT, STYLE, PRE, CODE, TEXTAREA, .highlight, .MathJax_Preview, .lde-w';
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest(skip)) continue;
    const t = n.textContent;
    if (/\\\(|\\\)|\\\[|\\\]|\$\$/.test(t) || /\$[^$\s][^$]*\$/.test(t)) raw.push(t.trim().slice(0, 120));
  }
  const mathSpans = [...main.querySelectorAll('.math.notranslate')];  // as fórmulas do Sphinx (não os spans internos do MathJax)
  const unrendered = mathSpans.filter(m => !m.querySelector('.MathJax, .MathJax_Display, .MathJax_CHTML, .MathJax_SVG'));
  // figuras: toda imagem dentro de <figure> com número ("Figura 3.1") e legenda
  const unnumbered = imgs.filter(i => {
    const fig = i.closest('figure');
    const cap = fig && fig.querySelector('figcaption');
    return !(cap && cap.querySelector('.caption-number') && cap.textContent.replace(/Figura\s*[\d.]+/, '').trim().length > 3);
  }).map(i => i.getAttribute('src'));
  const numbers = [...main.querySelectorAll('figure figcaption .caption-number')].map(e => e.textContent.trim());
  // saídas soltas de matplotlib sob as figuras
  const stray = [...main.querySelectorAll('.cell_output pre, .output pre')].map(e => e.textContent.trim())
    .filter(t => /^(\[?<matplotlib\.|Text\(|<Figure size|\[<matplotlib|Line2D\(|<BarContainer|<matplotlib)/.test(t));
  const shown = imgs.map(i => ({src: i.getAttribute('src'), shown: i.getBoundingClientRect().width, natural: i.naturalWidth}));
  return {broken, raw, nMath: mathSpans.length, shown, nRendered: mathSpans.length - unrendered.length,
          unrendered: unrendered.slice(0, 5).map(m => m.textContent.slice(0, 80)),
          mathErrors: main.querySelectorAll('.merror').length + (main.textContent.includes('Math Processing Error') ? 1 : 0),
          nImages: imgs.length, unnumbered, numbers, stray};
}"""


@pytest.fixture(scope="module")
def rendered_chapters(built_book, browser):
    """Abre cada capítulo construído, espera o MathJax, salva a captura de tela e lê a página."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    context.route(re.compile(r"^(https?|wss?|ftp)://"), lambda route: (blocked.append(route.request.url), route.abort()))
    tab = context.new_page()
    facts = {}
    try:
        for name in _chapter_files():
            html = built_book / f"{name}.html"
            tab.goto(html.as_uri())
            tab.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.isReady", timeout=60_000)
            tab.evaluate("() => new Promise(done => MathJax.Hub.Queue(done))")  # fila do MathJax vazia
            info = tab.evaluate(_INSPECT)
            info["source_has_math"] = "math notranslate" in html.read_text(encoding="utf-8")
            shot = SCREENSHOTS / f"{Path(name).name}.png"
            tab.screenshot(path=str(shot), full_page=True)
            info["screenshot"] = str(shot)
            facts[name] = info
    finally:
        context.close()
    (SCREENSHOTS / "paginas.json").write_text(json.dumps(facts, indent=1, ensure_ascii=False), encoding="utf-8")
    assert not blocked, f"páginas tentaram usar a rede: {blocked[:5]}"
    return facts


def test_every_chapter_page_renders_its_maths(rendered_chapters):
    assert len(rendered_chapters) == 11
    problems = []
    for name, info in rendered_chapters.items():
        if info["raw"]:
            problems.append(f"{name}: fórmula crua no texto: {info['raw'][:3]}")
        if info["source_has_math"] and info["nRendered"] == 0:
            problems.append(f"{name}: a página tem fórmulas e o MathJax não renderizou nenhuma")
        if info["nRendered"] != info["nMath"]:
            problems.append(f"{name}: {info['nMath'] - info['nRendered']} fórmulas sem renderizar: {info['unrendered']}")
        if info["mathErrors"]:
            problems.append(f"{name}: {info['mathErrors']} erros do MathJax")
    assert not problems, "\n".join(problems)
    assert sum(info["nRendered"] for info in rendered_chapters.values()) > 100


def test_every_chapter_page_has_no_broken_image_and_a_screenshot(rendered_chapters):
    problems = [f"{name}: imagem quebrada {src}" for name, info in rendered_chapters.items() for src in info["broken"]]
    assert not problems, "\n".join(problems)
    assert sum(info["nImages"] for info in rendered_chapters.values()) >= 20
    for info in rendered_chapters.values():
        shot = Path(info["screenshot"])
        assert shot.exists() and shot.stat().st_size > 20_000, shot


_SVG_TEXT = re.compile(r"<!-- (.*?) -->\s*<g transform=\"[^\"]*?scale\(([0-9.]+) -[0-9.]+\)\"", re.DOTALL)
_SVG_VIEWBOX = re.compile(r'viewBox="0 0 ([0-9.]+) ([0-9.]+)"')


def svg_font_sizes(svg: str) -> list[tuple[str, float]]:
    """``(texto, tamanho em pt)`` de cada texto de uma figura SVG do matplotlib (texto como curvas).

    O matplotlib escreve um comentário com o texto e, logo depois, um grupo
    ``scale(s -s)``: o tamanho da letra é ``100·s`` pt, nas unidades do ``viewBox`` (pt).
    """
    return [(m.group(1), 100 * float(m.group(2))) for m in _SVG_TEXT.finditer(svg)]


def test_svg_font_size_reader():
    import io

    import matplotlib

    matplotlib.use("Agg")
    from helpers.presentation import plots

    fig, ax = plots.new_figure()
    ax.set_xlabel("perda total")
    ax.annotate("pequeno", (0.5, 0.5), fontsize=6)
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    sizes = dict(svg_font_sizes(buf.getvalue()))
    assert sizes["perda total"] == pytest.approx(11) and sizes["pequeno"] == pytest.approx(6)


def test_figures_are_svg_and_legible_at_the_page_width(rendered_chapters, built_book):
    """Cada figura é SVG e, na largura em que o navegador a mostra, nenhuma letra tem menos de 9 pt."""
    problems = []
    for name, info in rendered_chapters.items():
        page_dir = (built_book / name).parent
        for img in info["shown"]:
            if not img["src"].endswith(".svg"):
                problems.append(f"{name}: figura que não é SVG: {img['src']}")
                continue
            svg = (page_dir / img["src"]).read_text(encoding="utf-8")
            width_pt = float(_SVG_VIEWBOX.search(svg).group(1))
            factor = img["shown"] / (width_pt * 4 / 3)  # pt do SVG -> pt na tela (1 pt = 4/3 px)
            small = sorted({(round(size * factor, 1), text[:30]) for text, size in svg_font_sizes(svg)
                            if size * factor < 9.0 - 1e-6})
            if small:
                problems.append(f"{name}: {img['src']} (mostrada a {factor:.0%}): {small[:4]}")
    assert not problems, f"{len(problems)} figuras com letras pequenas demais:\n" + "\n".join(problems)


def test_every_figure_is_numbered_and_captioned(rendered_chapters):
    problems = [f"{name}: {len(info['unnumbered'])} de {info['nImages']} imagens sem figura numerada com legenda"
                for name, info in rendered_chapters.items() if info["unnumbered"]]
    assert not problems, "\n".join(problems)
    # os números seguem o capítulo: "Figura 8.1", "Figura 8.2", ...
    for name, info in rendered_chapters.items():
        chapter = int(Path(name).name[:2])
        assert all(n.startswith(f"Figura {chapter}.") for n in info["numbers"]), (name, info["numbers"])


def test_no_stray_matplotlib_outputs(rendered_chapters):
    problems = [f"{name}: {t[:60]!r}" for name, info in rendered_chapters.items() for t in info["stray"]]
    assert not problems, "\n".join(problems)


# --- referências cruzadas com texto explícito (no código-fonte, sem construir) -----------

_XREF = re.compile(r"\{(doc|ref)\}`([^`]*)`")
_EXPLICIT = re.compile(r"^\S.*\s<[^<>\s]+>$", re.DOTALL)


def _markdown_sources() -> list[tuple[str, str]]:
    sources = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in sorted((ROOT / "book").glob("*.md"))]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                sources.append((f"{path.relative_to(ROOT)} (célula {i})", cell.source))
    return sources


def find_bare_cross_references(text: str) -> list[str]:
    """Os ``{doc}`` e ``{ref}`` sem texto explícito (``{doc}`alvo```) — colam o título inteiro na frase."""
    return [m.group(0) for m in _XREF.finditer(text) if not _EXPLICIT.match(m.group(2).strip())]


def test_bare_cross_reference_detector():
    assert find_bare_cross_references("veja {doc}`notacao` e {ref}`sec-x`") == ["{doc}`notacao`", "{ref}`sec-x`"]
    assert find_bare_cross_references("a {doc}`página de notação <notacao>` e {ref}`a seção <sec-x>`") == []
    assert find_bare_cross_references("{doc}`<notacao>`") == ["{doc}`<notacao>`"]


def test_book_pages_use_explicit_link_text():
    bare = [f"{where}: {ref}" for where, text in _markdown_sources() if where.startswith("book/")
            for ref in find_bare_cross_references(text)]
    assert not bare, "referências sem texto explícito:\n" + "\n".join(bare)


def test_notebooks_use_explicit_link_text():
    bare = [f"{where}: {ref}" for where, text in _markdown_sources() if where.startswith("notebooks/")
            for ref in find_bare_cross_references(text)]
    assert not bare, f"{len(bare)} referências sem texto explícito:\n" + "\n".join(bare)


# --- o prefácio: "DeepSeek LLM × este livro", cada número nosso recalculado do repositório ---

def _results(name: str) -> list[dict]:
    path = ROOT / "results" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _power_of_ten(x: float) -> str:
    """10¹¹ ou 3,16×10¹² — como a tabela do prefácio escreve os orçamentos."""
    from helpers.presentation.plots import fmt

    text = fmt(x, ".3g")
    return text[2:] if text.startswith("1×") else text


def _comparison_rows() -> dict[str, str]:
    text = (ROOT / "book" / "prefacio.md").read_text(encoding="utf-8")
    section = text.split("## DeepSeek LLM × este livro", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] and not set(cells[0]) <= set(":- "):
            rows[cells[0]] = cells[2]  # a coluna "este livro"
    return rows


def test_preface_comparison_table_matches_the_repository():
    from helpers.presentation.plots import fmt, format_si

    rows = _comparison_rows()
    # capítulos 7–10 no protocolo v2 (o 10: as quatro faixas de compressibilidade e o controle diluído)
    hyper, iso, pred = (_results(n) for n in ("cap07_hiperparametros_v2", "cap08_isoflop_v2", "cap09_previsao_v2"))
    quality = [r for c in ("faixa1", "faixa2", "faixa3", "faixa4", "diluido")
               for r in _results(f"cap10_qualidade_v2_{c}")]
    scaling = hyper + iso + pred

    def budgets(runs):
        return sorted({r["train"]["budget_flops"] for r in runs})

    def one(values):
        values = set(values)
        assert len(values) == 1, values  # a tabela dá um só valor onde a varredura tem um só
        return next(iter(values))

    final = [r["evaluation"]["final"] for r in scaling]
    expected = {
        "orçamentos das leis de hiperparâmetros": [
            f"{len(budgets(hyper))} orçamentos", f"de {_power_of_ten(budgets(hyper)[0])} a {_power_of_ten(budgets(hyper)[-1])} FLOPs"],
        "orçamentos IsoFLOP": [
            f"{len(budgets(iso))} orçamentos", f"de {_power_of_ten(budgets(iso)[0])} a {_power_of_ten(budgets(iso)[-1])} FLOPs"],
        "previsão da perda": [
            f"{len(pred)} treino{'s' if len(pred) > 1 else ''} de {_power_of_ten(one(budgets(pred)))} FLOPs",
            f"{fmt(budgets(pred)[0] / budgets(iso)[-1], '.1f')}× o maior orçamento ajustado"],
        "tamanho dos modelos": [
            f"de {format_si(min(r['flops_per_token']['M'] for r in iso))} a "
            f"{format_si(max(r['flops_per_token']['M'] for r in iso))} FLOPs por *token*",
            f"de {fmt(min(r['parameters']['non_embedding'] for r in iso), ',.0f')} a "
            f"{fmt(max(r['parameters']['non_embedding'] for r in iso), ',.0f')} parâmetros"],
        "dados de treino": [
            f"{format_si(one(r['data']['train_bytes'] for r in scaling))} de bytes",
            f"até {format_si(max(r['tokens'] for r in scaling))} de *tokens* por treino"],
        "conjunto de validação": [
            f"{fmt(one(f['tokens'] for f in final), ',.0f')} *tokens* (bytes) na perda final",
            f"espalhados por {one(f['documents_touched'] for f in final)} dos "
            f"{one(f['documents_total'] for f in final)} documentos de validação",
            f"{format_si(one(r['data']['val_bytes'] for r in scaling))} de bytes separados",
            f"({fmt(one(r['train']['corpus']['validation_fraction'] for r in scaling), '.0%')} dos documentos)",
            f"{fmt(one(r['train']['eval_tokens'] for r in scaling), ',.0f')} nos pontos intermediários"],
        "tokenizador": [
            "bytes: {} símbolos".format(one(r["data"]["tokenizer"]["vocab_size"] for r in scaling)),
            "BPE local de {} *tokens* só no cap. 5".format(*{fmt(r["data"]["tokenizer"]["vocab_size"], ",.0f") for r in
                                                           _results("cap05_agendas") if r["data"]["tokenizer"]["kind"] == "bpe"})],
        "contexto": [
            "{} *tokens*".format(one(r["train"]["seq_len"] for r in scaling)),
            "de {} a {} no estudo de contexto".format(min(r["train"]["seq_len"] for r in _results("cap06_contexto_v2")),
                                                    max(r["train"]["seq_len"] for r in _results("cap06_contexto_v2")))],
        "treinos por estudo": [
            f"{len(hyper)} (hiperparâmetros)", f"{len(iso)} (IsoFLOP)", f"{len(pred)} (previsão)",
            f"{len(quality)} (qualidade dos dados)"],
    }
    assert len(pred) >= 2, "a previsão v2 tem de ter os treinos-alvo em results/"
    missing = [f"{row}: {want!r} (a linha diz: {rows.get(row)!r})"
               for row, wants in expected.items() for want in wants if want not in rows.get(row, "")]
    assert not missing, "o prefácio não bate com results/:\n" + "\n".join(missing)
    # o hardware: a CPU registrada em cada treino dos capítulos 7–10
    assert {r["device"] for r in scaling + quality} == {"cpu"} and "CPU de 2 núcleos (caps. 7–10)" in rows["hardware"]
    # "de três a dez ordens de grandeza menores": a razão entre os orçamentos publicados e os nossos
    published = (1e17, 3e20)  # DeepSeek LLM §3.1 (10¹⁷ a 2×10¹⁹) e §3.2 (10¹⁷ a 3×10²⁰)
    ours = budgets(scaling)
    lo, hi = math.log10(published[0] / max(ours)), math.log10(published[1] / min(ours))
    assert 3 <= lo < 4 and 9 < hi <= 10, (lo, hi)


def test_preface_speed_figures_match_the_benchmark_results():
    """Os números de velocidade do prefácio são os dos JSON de ``benchmarks/`` em ``results/``."""
    from helpers.presentation.plots import fmt

    results = ROOT / "results"
    treino = json.loads((results / "bench_treino_cpu.json").read_text(encoding="utf-8"))
    nano = json.loads((results / "bench_nanogpt_cpu.json").read_text(encoding="utf-8"))
    varr = json.loads((results / "bench_varredura_cpu.json").read_text(encoding="utf-8"))
    atencao = json.loads((results / "bench_atencao_cpu.json").read_text(encoding="utf-8"))
    row = {(r["n_layer"], r["batch_tokens"], r["threads"]): r["tokens_per_s"] for r in treino["family"]}
    vs_old = [r["speedup_vs_old"] for r in treino["family"]]
    prof = nano["profile_ms_per_step"]
    ours, peer, old = prof["nosso"], prof["nanoGPT"], prof["nosso em 67ae944"]
    rest_for_target = peer["ms_per_step"] / 1.3 - ours["matmul_ms"] - ours["attention_ms"]
    speed = nano["median_tokens_per_s"]
    step_eager, step_compiled = 1 / speed["nosso"], 1 / speed["nosso compilado"]  # s por token
    tokens_per_step = nano["metadata"]["shape"]["batch_sequences"] * nano["metadata"]["shape"]["context"]
    compile_s = nano["warmup_s"]["nosso compilado"] - nano["warmup_s"]["nosso"]
    break_even = compile_s / ((step_eager - step_compiled) * tokens_per_step)
    paired = varr["ratios_paired"]["atual_n_sobre_antigo"]
    kernel = [r["time_ratio"] for r in atencao["ratios"]]
    assert max(r["memory_ratio"] for r in atencao["ratios"]) <= 1.0
    expected = [
        f"**{round(treino['metadata']['matmul_peak_flops']['2'] / 1e9)} GFLOP/s**",
        f"**{round(row[(4, 8192, 2)] / 1e3)} mil *tokens*/s**",
        f"**{round(row[(4, 8192, 1)] / 1e3)} mil**",
        f"**{fmt(min(vs_old), '.2f')}–{fmt(max(vs_old), '.2f')}×**",
        f"**{fmt(nano['median_ratio_vs_nanogpt']['nosso'], '.2f')}×**",
        f"67ae944 fazia {fmt(nano['median_ratio_vs_nanogpt']['nosso em 67ae944'], '.2f')}×",
        f"({round(ours['matmul_ms'])} ms por passo no nosso, {round(peer['matmul_ms'])} ms no nanoGPT)",
        f"({round(ours['attention_ms'])} e {round(peer['attention_ms'])} ms)",
        f"**{round(ours['other_ms'])} ms**", f"**{round(peer['other_ms'])} ms**",
        f"({round(old['other_ms'])} ms em 67ae944)",
        f"~{round(rest_for_target)} ms",
        f"a frio de {round(nano['warmup_s']['nosso compilado'])} s no nosso, "
        f"{round(nano['warmup_s']['nanoGPT compilado'])} s no nanoGPT",
        f"**{fmt(nano['median_ratio_vs_nanogpt']['nosso compilado / nanoGPT compilado'], '.2f')}×**",
        f"**{fmt(step_eager / step_compiled, '.2f')}×** mais rápido",
        f"depois de ~{round(break_even, -1):.0f} passos nessa forma",
        f"**{fmt(min(kernel), '.2f')}–{fmt(max(kernel), '.2f')}×**",
        f"**{fmt(paired['median'], '.2f')}×**",
        f"rodada a rodada, {fmt(paired['min'], '.2f')}–{fmt(paired['max'], '.2f')}×",
        f"**{fmt(varr['ratios_paired']['atual_1_sobre_antigo']['median'], '.2f')}×** com 1 processo",
    ]
    # as frases de comparação valem para os números de hoje
    assert ours["matmul_ms"] <= peer["matmul_ms"] * 1.05 and ours["attention_ms"] <= peer["attention_ms"] * 1.05
    assert ours["other_ms"] > peer["other_ms"] and max(kernel) <= 1.1
    preface = " ".join((ROOT / "book" / "prefacio.md").read_text(encoding="utf-8").split())
    for text in expected:
        assert text in preface, f"o prefácio não diz {text} (o que os resultados dão)"


@pytest.mark.parametrize("value", ["0", "dois", "-1"])
def test_build_script_rejects_a_bad_process_count_in_one_line(value):
    env = {**os.environ, "LIVRO_PROCESSOS": value}
    done = subprocess.run([sys.executable, str(ROOT / "book" / "construir.py"), "--help"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip() == f"erro: LIVRO_PROCESSOS={value!r} inválido; use um inteiro ≥ 1."


def test_local_extension_marks_only_the_two_known_extensions():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import leitura_paralela as ext
    finally:
        sys.path.pop(0)

    class Ext:
        def __init__(self, safe):
            self.parallel_read_safe = safe

    class App:
        builder = object()
        extensions = {"sphinx_multitoc_numbering": Ext(None), "sphinx_jupyterbook_latex": Ext(None),
                      "outra": Ext(None), "insegura": Ext(False)}

    ext._mark(App)
    safe = {name: e.parallel_read_safe for name, e in App.extensions.items()}
    assert safe == {"sphinx_multitoc_numbering": True, "sphinx_jupyterbook_latex": True, "outra": None,
                    "insegura": False}
