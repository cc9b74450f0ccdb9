# Os dois comandos do README e o ambiente que eles criam.
#   make book   -> constrói o livro em _build/html (executa todos os notebooks, dois a dois com 2 núcleos:
#                  book/construir.py é o jupyter-book build com a leitura do Sphinx em paralelo)
#   make test   -> roda todos os testes (unidades, notebooks, build do livro, navegador)
#   make lab    -> abre os capítulos no JupyterLab
# Ambos criam .venv/ e instalam requirements.txt + o pacote helpers (editável)
# na primeira vez; depois só reinstalam se requirements.txt ou pyproject.toml mudarem.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.instalado
BOOK_ARGS := . --config book/_config.yml --toc book/_toc.yml

.PHONY: book test install clean experiments benchmark chromium lab

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/python book/construir.py $(BOOK_ARGS) --builder html -W -n --keep-going
	@echo "Livro em _build/html/index.html"

# O JupyterLab com os capítulos: rode as células e arraste os widgets. Como root (num
# contêiner), o Jupyter exige --allow-root.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Os testes do navegador (Playwright) usam o Chromium do Debian, em /usr/bin/chromium.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ echo "instalando o Chromium (apt-get)"; SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
		  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# Em 2 processos (pytest-xdist, opções em pyproject.toml); o livro é construído uma vez.
test: $(STAMP) chromium
	$(BIN)/python -m pytest

# Refaz (ou retoma) todas as varreduras dos capítulos experimentais; pula o que já
# está em results/. Cada varredura roda em N processos de 1 thread que dividem o arquivo
# de resultados (make experiments WORKERS=N; padrão: um por núcleo). Uma varredura:
# python -m helpers.engine.sweeps run experiments/X.json --out results/X.jsonl [--workers N]
EXPERIMENTS := $(wildcard experiments/*.json)
WORKERS ?=
experiments: $(STAMP)
	@for spec in $(EXPERIMENTS); do \
		name=$$(basename $$spec .json); \
		$(BIN)/python -m helpers.engine.sweeps run $$spec --out results/$$name.jsonl $(if $(WORKERS),--workers $(WORKERS)) || exit 1; \
	done

# NANOGPT: a pasta do nanoGPT (model.py), para o benchmark lado a lado; sem ela, ele é pulado.
NANOGPT ?= ../shared/peers/nanogpt
benchmark: $(STAMP)
	$(BIN)/python benchmarks/treino.py
	$(BIN)/python benchmarks/atencao.py
	$(BIN)/python benchmarks/decodificacao.py
	$(BIN)/python benchmarks/contexto.py
	$(BIN)/python benchmarks/varredura.py
	@if [ -f $(NANOGPT)/model.py ]; then $(BIN)/python benchmarks/nanogpt.py --nanogpt $(NANOGPT); else echo "nanoGPT não encontrado em $(NANOGPT): pulei o lado a lado (make benchmark NANOGPT=pasta)"; fi

clean:
	rm -rf _build
