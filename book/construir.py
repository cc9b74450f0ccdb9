"""Constrói o livro com o Jupyter Book 1 lendo (e executando) os capítulos em vários processos.

``jupyter-book build`` aceita os mesmos argumentos daqui, mas chama o Sphinx sempre com um
processo só (``jobs=1`` em ``jupyter_book.sphinx.build_sphinx``, sem opção na linha de comando).
Todas as extensões do livro se declaram seguras para a leitura em paralelo (``parallel_read_safe``),
e a execução dos notebooks acontece na leitura; por isso este *script* repassa ``jobs`` ao Sphinx e
chama o mesmo comando: com 2 processos, os 11 notebooks rodam dois a dois.

Uso (o ``make book`` faz isto)::

    python book/construir.py . --config book/_config.yml --toc book/_toc.yml --builder html -W -n --keep-going

``LIVRO_PROCESSOS`` escolhe o número de processos (padrão: um por núcleo). Com mais de um, cada
kernel usa uma *thread* (``OMP_NUM_THREADS=1``), para os processos não disputarem os núcleos.
"""

from __future__ import annotations

import functools
import os
import sys


def processes() -> int:
    """``LIVRO_PROCESSOS`` ou um por núcleo; um erro de valor sai numa linha, sem *traceback*."""
    raw = os.environ.get("LIVRO_PROCESSOS", "")
    if not raw:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"erro: LIVRO_PROCESSOS={raw!r} inválido; use um inteiro ≥ 1.")
    return int(raw)


def main(argv: list[str] | None = None) -> int:
    jobs = processes()
    if jobs > 1:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")
    import jupyter_book.sphinx as jb_sphinx
    from jupyter_book.cli.main import main as jupyter_book

    jb_sphinx.build_sphinx = functools.partial(jb_sphinx.build_sphinx, jobs=jobs)
    return jupyter_book(["build", *(sys.argv[1:] if argv is None else argv)], standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
