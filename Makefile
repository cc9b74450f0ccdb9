# Os dois comandos do README e o ambiente que eles criam.
#   make book   -> constrói o livro em _build/html (executa todos os notebooks)
#   make test   -> roda todos os testes (unidades, notebooks, build do livro)
# Ambos criam .venv/ e instalam requirements.txt + o pacote helpers (editável)
# na primeira vez; depois só reinstalam se requirements.txt ou pyproject.toml mudarem.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.instalado
BOOK_ARGS := . --config book/_config.yml --toc book/_toc.yml

.PHONY: book test install clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build $(BOOK_ARGS) --builder html -W -n --keep-going
	@echo "Livro em _build/html/index.html"

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf _build
