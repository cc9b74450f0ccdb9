"""Declara seguras para a leitura em paralelo duas extensões que o Jupyter Book 1 carrega sozinho.

``book/construir.py`` pede ao Sphinx vários processos de leitura (é na leitura que os notebooks
executam). Basta uma extensão sem a declaração ``parallel_read_safe`` para o Sphinx voltar a ler
tudo num processo só, e duas das que o Jupyter Book 1 carrega não a fazem, embora não guardem
nada no ambiente durante a leitura:

- ``sphinx_multitoc_numbering`` (numeração contínua dos capítulos, ``use_multitoc_numbering``)
  só troca ``TocTreeCollector.assign_section_numbers``, que o Sphinx chama no processo principal
  **depois** de juntar o que os processos leram;
- ``sphinx_jupyterbook_latex`` registra nós e transformações que mexem só no documento em que
  rodam (e, fora do construtor LaTeX, saem sem fazer nada); é marcada só fora do LaTeX.
"""

from __future__ import annotations

from sphinx.builders.latex import LaTeXBuilder

SAFE_ALWAYS = ("sphinx_multitoc_numbering",)
SAFE_OUTSIDE_LATEX = ("sphinx_jupyterbook_latex",)


def _mark(app) -> None:
    names = SAFE_ALWAYS + (() if isinstance(app.builder, LaTeXBuilder) else SAFE_OUTSIDE_LATEX)
    for name in names:
        extension = app.extensions.get(name)
        if extension is not None and extension.parallel_read_safe is None:
            extension.parallel_read_safe = True


def setup(app):
    app.connect("builder-inited", _mark)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
