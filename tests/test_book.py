"""A build do livro: sem avisos, sem erros de notebook e sem nenhum recurso da internet.

Estes testes constroem o livro de verdade (executando os notebooks) numa pasta
temporária, com os mesmos argumentos do ``make book``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


def _build(source: Path, config: Path, toc: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(JUPYTER_BOOK), "build", str(source), "--config", str(config), "--toc", str(toc),
         "--path-output", str(out), "--builder", "html", "-W", "-n", "--keep-going"],
        cwd=source, capture_output=True, text=True, timeout=900,
    )


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
            self._in_script = "src" not in a
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


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("livro")
    result = _build(ROOT, ROOT / "book" / "_config.yml", ROOT / "book" / "_toc.yml", out)
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"a build do livro falhou (avisos contam como erro):\n{log[-6000:]}"
    assert "WARNING:" not in log, log[-6000:]
    return out / "_build" / "html"


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
    result = _build(tmp_path, tmp_path / "book" / "_config.yml", tmp_path / "book" / "_toc.yml", tmp_path / "saida")
    assert result.returncode != 0
    assert "falha proposital" in result.stdout + result.stderr


def test_static_explorer_works_in_the_built_chapter(built_book):
    """O explorador do capítulo 10, no livro construído (sem kernel): arrastar o controle muda o resultado."""
    import math

    from browser import Browser, chromium_path
    from helpers.presentation.widgets import allocation

    path = chromium_path()
    assert path is not None, "Chromium não encontrado: o make test o instala (pacote 'chromium' do Debian)."
    page = built_book / "notebooks" / "10_qualidade_dos_dados.html"
    browser = Browser(path)
    try:
        browser.open(page.as_uri())
        read = ("(() => { const r = document.querySelector('.lde-w'); const o = {a: +r.dataset.a, c: +r.dataset.c};"
                " r.querySelectorAll('.lde-out').forEach(e => o[e.dataset.key] = +e.dataset.value); return o; })()")
        before = browser.eval(read)
        assert math.isfinite(before["M"]) and before["M"] > 0, "o JavaScript do explorador não rodou na página"
        x, y, w, h = browser.eval(
            "(() => { const s = document.querySelector('.lde-w [data-role=\"a\"]'); s.scrollIntoView({block: 'center'});"
            " const r = s.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()")
        browser.drag(x + w * (before["a"] - 0.3) / 0.5, y + h / 2, x + 0.05 * w, y + h / 2)
        after = browser.eval(read)
        assert after["a"] < before["a"] - 0.1
        assert after["M"] == pytest.approx(allocation(after["a"], after["c"])["M"], rel=1e-9)
        assert after["D"] == pytest.approx(allocation(after["a"], after["c"])["D"], rel=1e-9)
    finally:
        browser.close()
