"""Vários processos numa varredura: *workers* de uma *thread* que dividem o arquivo de resultados.

Os modelos das varreduras são minúsculos e o custo de cada passo é dominado por muitas
operações pequenas: uma *thread* treina tão rápido quanto duas, e dois processos de uma
*thread* lado a lado rendem bem mais que um de duas. Por isso uma varredura roda ``N``
processos (um por núcleo, por padrão), cada um com **uma** *thread* (``OMP_NUM_THREADS=1``,
``MKL_NUM_THREADS=1`` antes de importar o PyTorch e ``torch.set_num_threads(1)``). Na GPU os
processos dividem o mesmo dispositivo.

**Determinismo.** O número de *threads* faz parte do determinismo na CPU: somas paralelas
mudam a ordem das parcelas e, com ela, os últimos bits. Toda varredura — com um processo ou
com vários, e também o caminho sem processos filhos (:func:`run_in_process`) — treina com
:data:`THREADS` = 1 *thread*; assim os números de cada treino são idênticos bit a bit
qualquer que seja ``--workers``. O registro guarda ``threads``.

**Quedas.** Um treino só está feito quando a sua linha está no arquivo (ver
:mod:`helpers.engine.results_store`). O processo principal distribui os treinos um a um
(do mais caro para o mais barato, para os processos terminarem juntos; um treino com
``init_from`` espera a sua origem); se um *worker* morre — até por ``kill -9`` — o treino
dele volta para a fila e recomeça do seu ponto de controle num *worker* novo. Se o processo
principal morre, os *workers* morrem junto (``PR_SET_PDEATHSIG`` no Linux e, em qualquer
sistema, uma *thread* que vigia ``os.getppid()``); rodar de novo retoma de onde parou.

**Progresso.** Cada *worker* informa os passos de cada treino; o processo principal soma
tudo numa barra em FLOPs planejados (um treino grande pesa mais que um pequeno), e a estimativa
de tempo vem da vazão somada de todos os processos.

Protocolo (uma linha JSON por mensagem): o principal escreve na entrada do *worker* a
configuração e depois ``{"run": RUN_ID}`` (ou ``{"run": null}`` para encerrar); o *worker*
responde no descritor 1 original com ``ready``, ``start``, ``progress``, ``done`` ou ``error``
(a saída comum do *worker* vai para a saída de erros, para não misturar).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .results_store import append_result, clean_stale_temporaries, finished_ids

__all__ = ["THREADS", "default_workers", "run_in_process", "run_pool", "execute_run", "estimated_seconds"]

THREADS = 1
MAX_CRASHES = 3  # mortes de worker por treino, numa mesma execução, antes de desistir
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS")


def default_workers() -> int:
    """Um processo por núcleo disponível para este processo."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# --- os dados, preparados uma vez ------------------------------------------------------

def data_key(p) -> str:
    """Treinos com a mesma chave usam os mesmos dados (corpus + tokenizador)."""
    return json.dumps([p.train.corpus.to_dict(), p.train.tokenizer.__dict__], sort_keys=True)


def data_handle(data) -> dict | None:
    """O endereço dos tokens já preparados (arquivos do cache), para um *worker* abrir sem reler o corpus.

    Calcular a impressão digital do corpus exige ler o corpus inteiro (segundos); o processo
    principal faz isso uma vez e os *workers* só mapeiam os arquivos. ``None`` se os tokens não
    estão em arquivos (o *worker* prepara os dados ele mesmo).
    """
    train, val = getattr(data.train, "filename", None), getattr(data.val, "filename", None)
    if not train or not val:
        return None
    own = getattr(data.val_own, "filename", None) if data.val_own is not None else None
    if data.val_own is not None and not own:
        return None
    return {"train": str(train), "val": str(val), "val_own": str(own) if own else None,
            "dtype": data.train.dtype.str, "vocab_size": data.vocab_size,
            "token_bytes": data.token_bytes.tolist(), "fingerprint": data.fingerprint,
            "tokenizer": dict(data.tokenizer.__dict__), "corpus": data.corpus.to_dict(), "stats": data.stats,
            "tokenizer_path": data.tokenizer_path}


def _open_handle(h: dict):
    import numpy as np

    from .data import CorpusSpec, PreparedData, TokenizerSpec

    return PreparedData(np.memmap(h["train"], dtype=h["dtype"], mode="r"), np.memmap(h["val"], dtype=h["dtype"], mode="r"),
                        h["vocab_size"], np.asarray(h["token_bytes"], dtype=np.int64), h["fingerprint"],
                        TokenizerSpec(**h["tokenizer"]), CorpusSpec.from_dict(h["corpus"]), h["stats"],
                        h["tokenizer_path"],
                        np.memmap(h["val_own"], dtype=h["dtype"], mode="r") if h.get("val_own") else None)


# --- um treino ---------------------------------------------------------------------

def execute_run(p, spec, out: Path, *, mini: bool, checkpoint_every: int, save_weights: bool, data,
                quiet: bool = True) -> tuple[dict, bool]:
    """Treina ``p``, grava a linha e só então apaga o ponto de controle. Devolve ``(registro, escrito)``.

    ``escrito`` é ``False`` se outro processo já tinha gravado o mesmo treino (a linha não duplica).
    """
    import torch

    from .trainer import train

    ckpt_dir = out.with_name(out.name + ".checkpoints")
    result = train(p.model, p.train, data=data, quiet=quiet, checkpoint_path=ckpt_dir / f"{p.run_id}.pt",
                   checkpoint_every=checkpoint_every, keep_checkpoint=True, save_weights=save_weights)
    record = {**result.to_dict(), "sweep": spec.name, "spec_hash": spec.spec_hash, "overrides": p.overrides,
              "mini": mini, "threads": torch.get_num_threads(),
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    written = append_result(out, record)
    (ckpt_dir / f"{p.run_id}.pt").unlink(missing_ok=True)
    return record, written


class _StepReporter:
    """Faz as vezes da barra ``tqdm`` do treinador: em vez de desenhar, avisa ``callback(passo, total)``.

    O treinador, com ``quiet=False``, cria ``tqdm(total=passos, initial=passo_inicial, ...)`` e chama
    ``update(1)`` a cada passo; é tudo o que se usa aqui. Se o treinador mudar, perde-se só o
    progresso dentro de cada treino (a barra ainda avança a cada treino terminado).
    """

    callback: Callable[[str, int, int], None] = staticmethod(lambda kind, n, total: None)

    def __init__(self, *args, total: int | None = None, initial: int = 0, **kwargs):
        self.total = int(total or 0)
        self.n = int(initial or 0)
        self._last = 0.0
        type(self).callback("start", self.n, self.total)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            type(self).callback("progress", self.n, self.total)

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def set_description(self, *args, **kwargs) -> None:
        pass

    def refresh(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def _report_steps(callback: Callable[[str, int, int], None]):
    """Troca, enquanto dura, a barra do treinador por um :class:`_StepReporter` que chama ``callback``."""
    import tqdm.auto

    reporter = type("_Reporter", (_StepReporter,), {"callback": staticmethod(callback)})
    previous = tqdm.auto.tqdm
    tqdm.auto.tqdm = reporter
    try:
        yield
    finally:
        tqdm.auto.tqdm = previous


@contextlib.contextmanager
def _threads(n: int):
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# --- a barra de progresso somada ------------------------------------------------

class _Progress:
    """A barra em FLOPs planejados de todos os treinos pendentes, somando todos os *workers*.

    Um treino retomado de um ponto de controle já tem parte feita: essa parte sai do total (não
    é vazão desta execução), para a estimativa de tempo não ficar otimista.
    """

    def __init__(self, pending, *, name: str, quiet: bool):
        from tqdm.auto import tqdm

        self.flops = {p.run_id: p.flops for p in pending}
        self.credit: dict[str, float] = {}  # FLOPs já somados na barra, por treino
        self.removed: dict[str, float] = {}  # FLOPs de pontos de controle, tirados do total
        self.offset: dict[str, int] = {}  # o passo de onde o treino recomeçou
        self.finished = 0
        self.name = name
        self.bar = tqdm(total=sum(self.flops.values()), unit="FLOP", unit_scale=True, disable=quiet,
                        desc=self._desc(0), smoothing=0.0, dynamic_ncols=True)

    def _desc(self, running: int) -> str:
        text = f"{self.name}: {self.finished}/{len(self.flops)} treinos"
        return text + (f", {running} em curso" if running else "")

    def _set(self, rid: str, value: float) -> None:
        self.bar.update(value - self.credit.get(rid, 0.0))
        self.credit[rid] = value

    def event(self, rid: str, kind: str, step: int, steps: int, running: int = 0) -> None:
        if rid not in self.flops:
            return
        full = self.flops[rid]
        if kind == "start":
            self._set(rid, 0.0)  # recomeço depois de uma queda: o que se perdeu sai da conta
            self.bar.total += self.removed.pop(rid, 0.0)
            already = full * step / steps if steps else 0.0
            self.bar.total -= already
            self.removed[rid] = already
            self.offset[rid] = step
            self.bar.set_description(self._desc(running), refresh=False)
        elif kind == "progress" and steps:
            start = self.offset.get(rid, 0)
            frac = min(max((step - start) / max(steps - start, 1), 0.0), 1.0)
            self._set(rid, frac * (full - self.removed.get(rid, 0.0)))

    def done(self, rid: str, running: int = 0) -> None:
        if rid in self.flops:
            self._set(rid, self.flops[rid] - self.removed.get(rid, 0.0))
        self.finished += 1
        self.bar.set_description(self._desc(running), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


# --- sem processos filhos --------------------------------------------------------

def run_in_process(spec, pending, out: Path, *, mini: bool, checkpoint_every: int, parents: set[str],
                   quiet: bool, prepare) -> list[dict]:
    """Os treinos pendentes neste processo, um depois do outro, com :data:`THREADS` *thread*."""
    new: list[dict] = []
    progress = _Progress(pending, name=spec.name, quiet=quiet)
    try:
        with _threads(THREADS):
            for p in pending:
                data = prepare(p)

                def callback(kind, step, steps, rid=p.run_id):
                    progress.event(rid, kind, step, steps, running=1)

                with _report_steps(callback) if not quiet else contextlib.nullcontext():
                    record, written = execute_run(p, spec, out, mini=mini, checkpoint_every=checkpoint_every,
                                                  save_weights=p.run_id in parents, data=data, quiet=quiet)
                if written:
                    new.append(record)
                progress.done(p.run_id)
    finally:
        progress.close()
    return new


# --- o processo principal de uma varredura em vários processos ---------------------

class _Worker:
    def __init__(self, setup: dict | None):
        env = dict(os.environ)
        env.update({k: str(THREADS) for k in THREAD_ENV})
        src = str(Path(__file__).resolve().parents[2])  # o mesmo código do processo principal
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen([sys.executable, "-m", "helpers.engine.workers", str(os.getpid())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.buffer = b""
        self.run: str | None = None
        self.ready = False
        if setup is not None:  # senão, a configuração vai depois (send), quando os dados estiverem prontos
            self.send(setup)

    def send(self, message: dict) -> None:
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # morreu; o fim da saída dele avisa o laço principal

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            self.proc.kill()
        self.proc.wait()


def estimated_seconds(p) -> float:
    """Uma estimativa grosseira do tempo de um treino numa *thread* de CPU, só para a ordem da fila.

    Nos modelos minúsculos das varreduras o custo de um passo não é proporcional aos FLOPs:
    cada operação tem um custo fixo (~10–40 µs) que não depende do tamanho. O modelo é
    ``passos·(a + b·L) + chamadas_de_avaliação·c·(L + 1) + FLOPs/R`` (``L`` camadas; os FLOPs
    das avaliações contam 1/3, só a ida), com ``a`` = 1,75 ms, ``b`` = 2,5 ms, ``c`` = 0,27 ms e
    ``R`` = 35 GFLOP/s, ajustados por mínimos quadrados aos 10 treinos de
    ``benchmarks/varredura.py`` com 2 *workers* nesta CPU (2 núcleos AMD EPYC; erro de até 12%).
    A ordem pelos FLOPs punha o treino mais longo (d = 16, 1907 passos, ~10 s) atrás de modelos
    maiores de 3 s. A ordem não muda número nenhum: só quando cada treino começa.
    """
    from .runs import flops_per_token, planned_steps

    t = p.train
    steps, layers = planned_steps(p.model, t), p.model.num_hidden_layers
    eval_tokens = (t.eval_points + 1) * t.eval_tokens + (t.final_eval_tokens or 0)
    eval_calls = eval_tokens / max(t.seq_len * 16, 1)
    flops = p.flops + eval_tokens * flops_per_token(p.model, t.seq_len, "measured") / 3
    return steps * (1.75e-3 + 2.5e-3 * layers) + eval_calls * 0.27e-3 * (layers + 1) + flops / 35e9


def run_pool(spec, pending, out: Path, *, workers: int, mini: bool, checkpoint_every: int, parents: set[str],
             quiet: bool, data: dict[str, dict | None] | Callable[[], dict[str, dict | None]] | None = None
             ) -> list[dict]:
    """Os treinos pendentes em ``workers`` processos de uma *thread*; devolve os registros novos.

    ``data`` são os endereços dos dados preparados (:func:`data_handle`) por :func:`data_key`, ou
    uma função que os calcula: nesse caso os *workers* nascem antes — importar o PyTorch leva
    ~2 s por processo — e recebem a configuração quando ela volta.
    """
    def order(p):
        return (-estimated_seconds(p), p.index)  # os mais demorados primeiro

    queue = sorted(pending, key=order)
    by_id = {p.run_id: p for p in pending}
    crashes: dict[str, int] = {}
    failed_starts = 0
    new_ids: list[str] = []
    setup: dict | None = None
    progress = _Progress(pending, name=spec.name, quiet=quiet)
    sel = selectors.DefaultSelector()
    pool: list[_Worker] = []

    def spawn() -> None:
        w = _Worker(setup)
        pool.append(w)
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)

    def busy() -> set[str]:
        return {w.run for w in pool if w.run is not None}

    def next_run() -> str | None:
        waiting = {p.run_id for p in queue} | busy()
        for k, p in enumerate(queue):
            if p.parent_id is None or p.parent_id not in waiting:  # a origem já terminou (ou não é desta fatia)
                return queue.pop(k).run_id
        return None

    def assign(w: _Worker) -> None:
        rid = next_run()
        if rid is not None:
            w.run = rid
            w.send({"run": rid})
        elif not queue:
            w.send({"run": None})  # nada mais a fazer: encerra

    def retire(w: _Worker) -> None:
        sel.unregister(w.proc.stdout)
        w.proc.stdout.close()
        w.kill()
        pool.remove(w)

    try:
        for _ in range(min(workers, len(queue))):
            spawn()
        handles = data() if callable(data) else data  # enquanto os workers importam o PyTorch
        setup = {"spec": spec.to_dict(), "mini": mini, "out": str(out.resolve()),
                 "checkpoint_every": checkpoint_every, "parents": sorted(parents), "data": handles or {}}
        for w in pool:
            w.send(setup)
        while pool:
            for key, _ in sel.select(timeout=1.0):
                w: _Worker = key.data
                chunk = os.read(w.proc.stdout.fileno(), 1 << 16)
                if chunk:
                    w.buffer += chunk
                    *lines, w.buffer = w.buffer.split(b"\n")
                    for line in lines:
                        msg = json.loads(line)
                        kind = msg["event"]
                        if kind == "ready":
                            w.ready = True
                            assign(w)
                        elif kind in ("start", "progress"):
                            progress.event(msg["run"], kind, msg["step"], msg["steps"], running=len(busy()))
                        elif kind == "done":
                            if msg["written"]:
                                new_ids.append(msg["run"])
                            w.run = None
                            progress.done(msg["run"], running=len(busy()))
                            assign(w)
                            for other in pool:  # quem esperava uma origem pode ter ficado livre agora
                                if other.ready and other.run is None and other is not w:
                                    assign(other)
                        elif kind == "error":
                            raise ValueError(f"treino {msg['run']}: {msg['message']}") if msg["kind"] == "ValueError" \
                                else RuntimeError(f"treino {msg['run']}: {msg['kind']}: {msg['message']}")
                    continue
                # Fim da saída: o worker terminou (pedimos) ou morreu (kill -9, falta de memória...).
                rid = w.run
                retire(w)
                if not w.ready and w.proc.returncode > 0:  # nem chegou a começar (erro de importação?)
                    failed_starts += 1
                    if failed_starts >= MAX_CRASHES:
                        raise RuntimeError(f"os processos de treino não conseguem começar (código de saída "
                                           f"{w.proc.returncode}); veja as mensagens acima.")
                if rid is not None:
                    if rid in finished_ids(out):  # gravou a linha e morreu antes de avisar
                        new_ids.append(rid)
                        progress.done(rid, running=len(busy()))
                    else:
                        crashes[rid] = crashes.get(rid, 0) + 1
                        if crashes[rid] >= MAX_CRASHES:
                            raise RuntimeError(f"o treino {rid} derrubou o processo {crashes[rid]} vezes "
                                               f"(código de saída {w.proc.returncode}); veja as mensagens acima.")
                        queue.append(by_id[rid])
                        queue.sort(key=order)
                if queue and len(pool) < min(workers, len(queue) + len(busy())):
                    spawn()
    finally:
        for w in list(pool):
            w.kill()
        sel.close()
        progress.close()
    clean_stale_temporaries(out.with_name(out.name + ".checkpoints"))
    from .results_store import load_results

    wanted = set(new_ids)
    return [r for r in load_results(out) if r["run_id"] in wanted]


# --- o worker ------------------------------------------------------------------------

def _die_with_parent(parent: int) -> None:
    """Morre quando o processo principal morre (``kill -9`` dele não deixa órfãos treinando)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:  # morreu antes do prctl
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="vigia-do-pai").start()


def _worker_main(parent: int) -> int:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C é com o processo principal, que encerra os workers
    proto = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # o que o treino imprimir vai para a saída de erros, não para o protocolo
    for k in THREAD_ENV:
        os.environ[k] = str(THREADS)
    import torch

    torch.set_num_threads(THREADS)
    from .data import prepare_data
    from .specs import expand, parse_spec

    def send(**message: Any) -> None:
        proto.write((json.dumps(message) + "\n").encode())

    stdin = sys.stdin.buffer
    setup = json.loads(stdin.readline())
    spec = parse_spec(setup["spec"])
    planned = {p.run_id: p for p in expand(spec, mini=setup["mini"])}
    out = Path(setup["out"])
    parents = set(setup["parents"])
    cache: dict[str, Any] = {}
    send(event="ready")
    for line in stdin:
        rid = json.loads(line)["run"]
        if rid is None:
            break
        p = planned[rid]
        try:
            key = data_key(p)
            if key not in cache:
                handle = setup["data"].get(key)
                cache[key] = _open_handle(handle) if handle else prepare_data(p.train.corpus, p.train.tokenizer)

            def callback(kind: str, step: int, steps: int, rid: str = rid) -> None:
                send(event=kind, run=rid, step=step, steps=steps)

            with _report_steps(callback):
                record, written = execute_run(p, spec, out, mini=setup["mini"],
                                              checkpoint_every=setup["checkpoint_every"],
                                              save_weights=rid in parents, data=cache[key], quiet=False)
        except Exception as exc:  # noqa: BLE001 — vai inteiro para o processo principal
            send(event="error", run=rid, kind=type(exc).__name__, message=" ".join(str(exc).split()))
            return 1
        send(event="done", run=rid, status=record["status"], written=written)
    return 0


if __name__ == "__main__":
    raise SystemExit(_worker_main(int(sys.argv[1])))
