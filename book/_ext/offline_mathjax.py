"""Extensão Sphinx local: serve o MathJax a partir do próprio livro, sem internet.

O pacote ``jupyter-server-mathjax`` (fixado em ``requirements.txt``) traz o
MathJax 2.7 completo. Ao fim da build, copiamos essa pasta para
``_static/mathjax`` e o ``mathjax_path`` do ``_config.yml`` aponta para lá.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def _mathjax_source() -> Path:
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).parent / "static"


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    if not (target / "MathJax.js").exists():
        shutil.copytree(_mathjax_source(), target, dirs_exist_ok=True)


def setup(app):
    source = _mathjax_source()
    if not (source / "MathJax.js").exists():
        raise RuntimeError(
            f"MathJax local não encontrado em {source}; instale as dependências com "
            "'make book' ou 'pip install -r requirements.txt'."
        )
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
