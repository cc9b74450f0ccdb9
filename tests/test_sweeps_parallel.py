"""Varreduras em vários processos: números idênticos a um processo, e nada se perde com kill -9.

- um treino dá os mesmos números (perdas e curva, bit a bit) com 1 ou 2 *workers*;
- o arquivo de resultados aguenta uma escrita cortada seguida de outra e não duplica um treino;
- ``kill -9`` do processo principal ou de um *worker*, várias vezes, em momentos sorteados: ao
  retomar, cada treino aparece exatamente uma vez, toda linha é JSON válido, e os números são os
  de uma varredura sem interrupções; os *workers* morrem junto com o processo principal.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from helpers.engine import results_store, sweeps


def _spec(tmp_path, tiny_corpus, *, lrs, steps, name="paralela"):
    spec = {
        "name": name,
        "description": "varredura de teste em vários processos",
        "base": {
            "model": {"preset": "tiny", "num_hidden_layers": 1},
            "train": {"steps": steps, "seq_len": 32, "batch_size_tokens": 256, "eval_points": 3, "eval_tokens": 512,
                      "warmup_steps": 2, "corpus": {"kind": "folder", "path": str(tiny_corpus), "suffixes": [".txt"],
                                                    "validation_fraction": 0.2}},
        },
        "grid": {"train.lr": lrs},
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def _numbers(records):
    """O que tem de ser idêntico entre execuções: por run_id, perdas finais e a curva inteira."""
    return {r["run_id"]: (r["status"], r["steps"], r["final_val_loss"], r["final_train_loss"], r["final_val_bpb"],
                          json.dumps(r["trace"], sort_keys=True)) for r in records}


def test_two_workers_give_the_numbers_of_one_process(tmp_path, tiny_corpus):
    spec = sweeps.load_spec(_spec(tmp_path, tiny_corpus, lrs=[1e-3, 3e-3, 1e-2], steps=12))
    one = sweeps.run_sweep(spec, tmp_path / "um.jsonl", quiet=True, workers=1)
    two = sweeps.run_sweep(spec, tmp_path / "dois.jsonl", quiet=True, workers=2)
    assert len(one) == len(two) == 3
    assert _numbers(one) == _numbers(two)
    assert _numbers(sweeps.load_results(tmp_path / "dois.jsonl")) == _numbers(one)
    assert {r["threads"] for r in one + two} == {sweeps.THREADS} == {1}
    # os treinos não são iguais entre si (a comparação acima não é trivial)
    assert len({r["final_val_loss"] for r in one}) == 3
    assert not (tmp_path / "dois.jsonl.checkpoints").exists()
    assert sweeps.run_sweep(spec, tmp_path / "dois.jsonl", quiet=True, workers=2) == []


def test_append_repairs_a_torn_tail_and_never_duplicates(tmp_path):
    out = tmp_path / "r.jsonl"
    assert results_store.append_result(out, {"run_id": "a", "x": 1})
    with open(out, "ab") as fh:  # um processo morto no meio da escrita da sua linha
        fh.write(b'{"run_id": "b", "x": ' + b"9" * 100_000)
    assert results_store.append_result(out, {"run_id": "c", "x": 3})
    assert [r["run_id"] for r in results_store.load_results(out)] == ["a", "c"]
    assert not results_store.append_result(out, {"run_id": "a", "x": 2})  # já está: não duplica
    assert results_store.append_result(out, {"run_id": "b", "x": 2})  # o treino cortado é refeito
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"" and [json.loads(x)["run_id"] for x in lines[:-1]] == ["a", "c", "b"]


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"abc.pt.tmp{int(dead.stdout)}"
    alive = tmp_path / f"abc.pt.tmp{os.getpid()}"
    keep = tmp_path / "abc.pt"
    for f in (stale, alive, keep):
        f.write_bytes(b"x")
    assert results_store.clean_stale_temporaries(tmp_path) == 1
    assert not stale.exists() and alive.exists() and keep.exists()


def test_checkpoint_of_a_run_killed_after_writing_its_row_is_removed(tmp_path, tiny_corpus):
    """Morto entre gravar a linha e apagar o ``.pt``: o treino não volta à fila, mas o ``.pt`` some."""
    spec = sweeps.load_spec(_spec(tmp_path, tiny_corpus, lrs=[1e-3, 3e-3], steps=6, name="resto"))
    out = tmp_path / "resto.jsonl"
    done = sweeps.run_sweep(spec, out, quiet=True, workers=1)
    ckpt = tmp_path / "resto.jsonl.checkpoints"
    ckpt.mkdir()
    left = [ckpt / f"{done[0]['run_id']}.pt", ckpt / f"{done[1]['run_id']}.pt"]
    other = ckpt / "treino-de-outra-fatia.pt"  # um treino sem linha ainda: fica, e a pasta também
    for f in left + [other]:
        f.write_bytes(b"x")
    assert sweeps.run_sweep(spec, out, quiet=True, workers=1) == []
    assert not any(f.exists() for f in left) and other.exists()
    other.unlink()
    assert sweeps.run_sweep(spec, out, quiet=True, workers=2) == []
    assert not ckpt.exists()


# --- kill -9 ---------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    """Os processos filhos vivos de ``pid`` (lidos de /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"esperei {timeout:.0f} s por: {what}")
        time.sleep(0.05)


def _check_file(out, *, final: bool = False):
    """Toda linha completa é JSON válido e nenhum run_id se repete; no fim, nem cauda cortada.

    Entre uma queda e a retomada, a última linha pode estar cortada (a escrita interrompida de um
    treino que não terminou); a retomada a descarta e refaz o treino.
    """
    data = out.read_bytes() if out.exists() else b""
    *lines, tail = data.split(b"\n")
    if final:
        assert tail == b"", "a última linha ficou cortada"
    records = [json.loads(x) for x in lines]  # falha se alguma linha completa estiver corrompida
    ids = [r["run_id"] for r in records]
    assert len(ids) == len(set(ids)), "linha duplicada"
    return ids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lê /proc para achar os workers")
def test_kill_9_of_parent_or_workers_at_random_moments_loses_nothing(tmp_path, tiny_corpus):
    rng = random.Random(13)
    path = _spec(tmp_path, tiny_corpus, lrs=[1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3], steps=400, name="queda")
    spec = sweeps.load_spec(path)
    planned = {p.run_id for p in sweeps.expand(spec)}
    out = tmp_path / "q.jsonl"
    cmd = [sys.executable, "-m", "helpers.engine.sweeps", "run", str(path), "--out", str(out), "--quiet",
           "--checkpoint-every", "7", "--workers", "2"]
    kills = {"parent": 0, "worker": 0}
    for round_ in range(4):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        workers: list[int] = []

        def started():
            workers[:] = _children(proc.pid)
            return len(workers) >= 1 or proc.poll() is not None

        _wait_for(started, 120, "os workers começarem")
        if proc.poll() is not None:
            break  # terminou tudo antes de dar tempo de derrubar
        time.sleep(rng.uniform(0.2, 3.0))
        if round_ % 2 == 0 and _children(proc.pid):  # derruba um worker; o principal continua...
            os.kill(rng.choice(_children(proc.pid)), signal.SIGKILL)
            kills["worker"] += 1
            time.sleep(rng.uniform(0.5, 3.0))
        everyone = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # ... e depois o principal, com os workers no meio do que for
        proc.wait()
        kills["parent"] += 1
        # os workers morrem junto com o principal (não ficam órfãos treinando)
        _wait_for(lambda: not any(_alive(w) for w in everyone), 30, f"os workers {everyone} morrerem")
        ids = _check_file(out)
        assert set(ids) <= planned
    assert kills["parent"] >= 2 and kills["worker"] >= 1, kills
    # Uma última queda de worker com o principal vivo: ele refaz o treino num worker novo e termina.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _children(proc.pid) or proc.poll() is not None, 120, "os workers começarem")
    time.sleep(rng.uniform(0.2, 1.5))
    if _children(proc.pid):
        os.kill(rng.choice(_children(proc.pid)), signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    ids = _check_file(out, final=True)
    assert sorted(ids) == sorted(planned)  # cada treino exatamente uma vez
    assert not (tmp_path / "q.jsonl.checkpoints").exists()
    # E os números são os de uma varredura sem nenhuma interrupção.
    clean = sweeps.run_sweep(spec, tmp_path / "limpa.jsonl", quiet=True)
    assert _numbers(sweeps.load_results(out)) == _numbers(clean)


def test_queue_order_puts_the_longest_run_first(tmp_path):
    """A fila começa pelo treino mais demorado, não pelo de mais FLOPs: no IsoFLOP do benchmark
    o menor modelo do maior orçamento dá mais passos (1907) e leva mais tempo que os maiores."""
    from helpers.engine.specs import expand, load_spec
    from helpers.engine.workers import estimated_seconds

    sizes = [(1, 16), (1, 32), (2, 32), (2, 48), (3, 48)]
    spec = {
        "name": "ordem", "description": "ordem da fila",
        "base": {"model": {"preset": "tiny", "num_hidden_layers": 1, "hidden_size": 16},
                 "train": {"budget_flops": 1e10, "flops_convention": "M", "seq_len": 64, "batch_size_tokens": 512,
                           "lr": 3e-3, "eval_points": 5, "eval_tokens": 16384}},
        "runs": [{"train.budget_flops": b, "model.num_hidden_layers": n, "model.hidden_size": d}
                 for b in (1e10, 3e10) for n, d in sizes],
    }
    path = tmp_path / "ordem.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    planned = expand(load_spec(path))
    estimate = {(p.train.budget_flops, p.model.num_hidden_layers, p.model.hidden_size): estimated_seconds(p)
                for p in planned}
    assert max(estimate, key=estimate.get) == (3e10, 1, 16)
    for n, d in sizes:  # o triplo do orçamento custa mais que o orçamento, para cada tamanho
        assert estimate[(3e10, n, d)] > estimate[(1e10, n, d)] > 0
