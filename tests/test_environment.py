"""O ambiente que os comandos do README criam: as versões fixadas, o JupyterLab com os widgets, o navegador.

Os leitores rodam os capítulos no JupyterLab e arrastam os *widgets*: isso é o produto. Estes
testes conferem que o ``.venv`` feito por ``make install`` (chamado por ``make book``,
``make test`` e ``make lab``) tem o Lab, que o Lab carrega o gerenciador de widgets do
ipywidgets 8 e que o Lab de fato serve a interface.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WIDGETS_EXTENSION = "@jupyter-widgets/jupyterlab-manager"


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {line!r} sem versão fixada (use nome==versão)"
            pins[name.strip()] = version.strip()
    return pins


def test_every_pinned_package_is_installed_at_its_version():
    pins = _pins()
    for name in ("jupyterlab", "jupyterlab_widgets", "ipywidgets", "playwright", "pytest-xdist"):
        assert name in pins, f"{name} não está fixado em requirements.txt"
    wrong = {}
    for name, version in pins.items():
        installed = metadata.version(name)
        if installed.split("+")[0] != version.split("+")[0]:
            wrong[name] = (version, installed)
    assert not wrong, f"versões instaladas diferentes das fixadas (fixada, instalada): {wrong}"


def test_jupyter_lab_runs_and_reports_the_pinned_version():
    out = subprocess.run([str(BIN / "jupyter"), "lab", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == _pins()["jupyterlab"]


def test_the_widgets_extension_is_enabled_in_lab():
    out = subprocess.run([str(BIN / "jupyter"), "labextension", "list"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # sem as cores do terminal
    lines = [ln for ln in text.splitlines() if WIDGETS_EXTENSION in ln]
    assert lines, f"{WIDGETS_EXTENSION} não aparece em 'jupyter labextension list':\n{text}"
    assert re.search(r"\benabled\b.*\bOK\b", lines[0]), lines[0]


def test_make_lab_runs_jupyter_lab_on_the_notebooks():
    # Sob `make test`, o make de fora passa MAKEFLAGS/MAKELEVEL (e o "Entering directory"): limpa.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    out = subprocess.run(["make", "--no-print-directory", "-n", "lab"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    command = out.stdout.strip().splitlines()[-1]
    assert command.startswith(".venv/bin/jupyter lab notebooks/"), command
    done = subprocess.run(["sh", "-c", command.replace(" notebooks/", " --version", 1)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == _pins()["jupyterlab"], done.stderr


def test_readme_and_preface_give_the_commands_that_work():
    for doc in ("README.md", "book/prefacio.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert "make lab" in text and ".venv/bin/jupyter lab notebooks/" in text, doc
        assert "jupyter notebook" not in text, f"{doc}: o ambiente não tem o Notebook clássico, só o Lab"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyter_lab_serves_the_notebooks_with_the_widgets_manager(tmp_path):
    """Sobe o Lab de verdade (sem navegador), pede a lista de notebooks e a página do Lab."""
    port = _free_port()
    env_dirs = {"JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    proc = subprocess.Popen(
        [str(BIN / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", "--LabApp.news_url=", "--ServerApp.disable_check_xsrf=True",
         "notebooks/"] + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **env_dirs})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            proc.kill()
            pytest.fail("o JupyterLab não respondeu em 60 s:\n" + proc.stderr.read()[-3000:])
        with urllib.request.urlopen(f"{base}/api/contents/", timeout=10) as r:
            names = {item["name"] for item in json.load(r)["content"]}
        assert {nb.name for nb in (ROOT / "notebooks").glob("*.ipynb")} <= names
        with urllib.request.urlopen(f"{base}/lab", timeout=10) as r:
            page = r.read().decode("utf-8")
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, re.DOTALL).group(1))
        federated = {ext["name"] for ext in config.get("federated_extensions", [])}
        assert WIDGETS_EXTENSION in federated, federated
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
