"""O arquivo de resultados: uma linha JSON por treino, à prova de queda e de vários processos.

Regras que o tornam seguro mesmo com ``kill -9`` a qualquer momento e com vários processos
escrevendo no mesmo arquivo (os *workers* de uma varredura, as fatias ``--shard``):

- toda escrita acontece sob uma trava exclusiva do arquivo (``fcntl.flock``), que o sistema
  solta sozinho quando o processo morre;
- antes de acrescentar, quem tem a trava corta uma última linha incompleta (a de um processo
  morto no meio da escrita) — assim a linha nova nunca se cola a um pedaço de outra;
- antes de acrescentar, confere (ainda sob a trava) se o ``run_id`` já está no arquivo: um
  treino refeito porque o processo morreu depois de gravar e antes de avisar não duplica;
- ``fsync`` depois de cada linha: o que foi gravado sobrevive a uma queda da máquina.

Um treino só está *feito* quando a sua linha está no arquivo; todo o resto (pontos de
controle, o que cada processo está treinando) pode ser perdido e refeito.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

__all__ = ["repair", "load_results", "append_result", "finished_ids", "clean_stale_temporaries"]


def _cut_torn_tail(fh) -> int:
    """Com a trava na mão: corta uma última linha sem ``\\n``. Devolve os bytes cortados."""
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return 0
    fh.seek(size - 1)
    if fh.read(1) == b"\n":
        return 0
    # Procura o último "\n" de trás para frente, em blocos (a linha cortada pode ser longa).
    pos, block = size, 1 << 16
    keep = 0
    while pos > 0:
        start = max(0, pos - block)
        fh.seek(start)
        chunk = fh.read(pos - start)
        k = chunk.rfind(b"\n")
        if k >= 0:
            keep = start + k + 1
            break
        pos = start
    fh.truncate(keep)
    fh.flush()
    os.fsync(fh.fileno())
    return size - keep


def repair(path: str | os.PathLike) -> int:
    """Corta uma última linha incompleta (queda no meio da escrita). Devolve os bytes cortados."""
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return 0
    with open(p, "rb+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            return _cut_torn_tail(fh)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _parse(data: bytes, name: str) -> list[dict]:
    records = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # a última linha, sem "\n": uma escrita interrompida
                continue
            raise ValueError(f"{name}: a linha {i + 1} não é JSON válido e não é a última; o arquivo foi editado à mão?")
    return records


def load_results(path: str | os.PathLike) -> list[dict]:
    """Lê um ``.jsonl`` de resultados, ignorando uma última linha incompleta."""
    p = Path(path)
    if not p.exists():
        return []
    return _parse(p.read_bytes(), str(p))


def finished_ids(path: str | os.PathLike) -> set[str]:
    """Os ``run_id`` que já têm linha no arquivo (os treinos feitos)."""
    return {r["run_id"] for r in load_results(path)}


def append_result(path: str | os.PathLike, record: dict, *, unique: bool = True) -> bool:
    """Acrescenta uma linha inteira, com trava, reparo da cauda e ``fsync`` (seguro entre processos).

    Com ``unique=True`` (o padrão), não escreve se o ``run_id`` do registro já está no
    arquivo. Devolve ``True`` se a linha foi escrita.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    with open(p, "ab+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            _cut_torn_tail(fh)
            if unique and "run_id" in record:
                fh.seek(0)
                if any(r.get("run_id") == record["run_id"] for r in _parse(fh.read(), str(p))):
                    return False
            fh.seek(0, os.SEEK_END)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
            return True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(folder: str | os.PathLike) -> int:
    """Apaga os ``*.tmpPID`` de gravações atômicas de processos que já morreram. Devolve quantos."""
    d = Path(folder)
    if not d.is_dir():
        return 0
    removed = 0
    for f in d.iterdir():
        stem, sep, pid = f.name.rpartition(".tmp")
        if sep and stem and pid.isdigit() and not _pid_alive(int(pid)):
            f.unlink(missing_ok=True)
            removed += 1
    return removed
