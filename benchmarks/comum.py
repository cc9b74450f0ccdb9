"""O que os benchmarks têm em comum: metadados da máquina e do código, e a gravação em JSON.

Os scripts de ``benchmarks/`` rodam como ``python benchmarks/<nome>.py``; este arquivo
fica ao lado deles e é importado como ``comum``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def cpu_name() -> str:
    """O nome do processador (de ``/proc/cpuinfo`` no Linux), ou a arquitetura."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def metadata(device: torch.device | str = "cpu") -> dict:
    """Máquina, versões, *commit* (o mesmo registro dos treinos), *threads* e data."""
    from helpers.engine.runs import _versions

    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {"device": str(device), "device_name": name, "cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(), **_versions(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def write_json(payload: dict, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"gravei {path}")


def median(values) -> float:
    return float(statistics.median(values))


def load_old_transformer(commit: str):
    """A classe ``Transformer`` de ``src/helpers/model.py`` num *commit* antigo (leiaute plano)."""
    root = Path(__file__).resolve().parents[1]
    folder = Path(tempfile.mkdtemp(prefix="leis_antigo_"))
    package = folder / "helpers_antigo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("model", "attention", "config"):
        text = subprocess.run(["git", "show", f"{commit}:src/helpers/{name}.py"], cwd=root, capture_output=True,
                              text=True, check=True).stdout
        (package / f"{name}.py").write_text(text)
    sys.path.insert(0, str(folder))
    module = importlib.import_module("helpers_antigo.model")
    return module.Transformer
