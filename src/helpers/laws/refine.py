"""Grades interiores: estender uma grade de hiperparâmetros ou uma janela IsoFLOP onde o ótimo toca a borda.

O protocolo do livro (capítulos 7 e 8): uma região quase ótima que encosta na borda da grade, ou
um vértice IsoFLOP apoiado em um ou dois pontos de um braço, não mede o ótimo — só diz que ele
está do lado de fora. O campo ``refine`` da especificação (ver :mod:`helpers.engine.specs`) diz
como a grade pode crescer; este módulo lê os resultados, diz quem toca a borda e escreve a
especificação estendida. Roda-se em ciclo — estender, treinar, estender — até nada tocar:

- :func:`edge_report` — por grupo (orçamento): o melhor ponto, a região quase ótima (tolerância
  do DeepSeek sobre ``quantity``; treinos que divergiram ou falharam contam como ruins), as
  bordas que ela toca em cada eixo e, no IsoFLOP, o vértice da parábola e quantos tamanhos
  medidos ficam de cada lado;
- :func:`refine_spec` — a especificação com os treinos novos e a lista, em português, do que
  entrou e por quê. Um grupo com treinos ainda não terminados é relatado, não estendido; uma
  grade já interior volta igual.

Hiperparâmetros: uma borda é **local** — um ponto da região toca a borda inferior de um eixo
quando não há treino com valor menor nessa linha da grade (os mesmos valores nos outros eixos).
Para cada borda tocada entra o próximo valor (o da borda ×/÷ ``factor``) nas linhas do outro eixo
que estão na região ou ao lado dela — não o produto cartesiano inteiro. IsoFLOP: entram degraus
consecutivos da escada além da janela até o vértice ter ``min_each_side`` tamanhos medidos de
cada lado (sem vértice interior, conta-se a partir do melhor ponto medido).

Linha de comando::

    python -m helpers.laws.refine experiments/NOME.json --results results/NOME.jsonl [--out NOVA.json] [--check]

Uma linha por grupo (interior ou que borda toca); grava a especificação estendida em ``--out``
(padrão: por cima de ``SPEC``) só se algo entrou. ``--check`` não grava nada e sai com 1 se algum
grupo toca uma borda ou ainda tem treinos por terminar (0 se todos são interiores). Entrada
inválida: uma linha de erro e código 2.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.results_store import load_results
from ..engine.specs import PlannedRun, SweepSpec, expand, format_spec, load_spec, parse_spec, refine_settings
from ..engine.sweeps import _Parser
from .fit.hyper import near_optimal
from .fit.isoflop import isoflop_profile

__all__ = ["GroupReport", "edge_report", "refine_spec", "writable_spec_path", "main"]

SIDE_NAMES = {"low": "inferior", "high": "superior"}


@dataclass(frozen=True)
class GroupReport:
    """O estado de um grupo (um orçamento) da grade.

    ``status``: ``"interior"``, ``"edge"`` (toca uma borda), ``"pending"`` (há treinos sem
    resultado) ou ``"failed"`` (nenhum treino terminou bem). ``best`` e os pontos de ``region``
    são dicionários ``{chave: valor}`` dos eixos (no IsoFLOP, das chaves da escada). ``edges``
    são pares ``(eixo, "low" | "high")``; no IsoFLOP o eixo é ``"ladder"``; ``blocked`` são as
    bordas tocadas que não dá para estender (o limite do eixo, o fim da escada). ``vertex`` é a escala
    do vértice da parábola (``NaN`` sem parábola), ``sides`` os tamanhos medidos abaixo e acima
    dele e ``window`` os índices (inclusive) dos degraus da escada no grupo. ``line`` é a linha
    que a linha de comando imprime.
    """

    group: Any
    kind: str
    status: str
    runs: int
    finished: int
    best: dict | None = None
    best_loss: float = float("nan")
    region: tuple = ()
    edges: tuple = ()
    blocked: tuple = ()
    vertex: float | None = None
    vertex_accepted: bool | None = None
    sides: tuple[int, int] | None = None
    window: tuple[int, int] | None = None
    line: str = ""

    @property
    def touches(self) -> bool:
        """Se a região (ou o vértice) toca alguma borda."""
        return bool(self.edges)


def _value(p: PlannedRun, key: str) -> Any:
    section, _, name = key.partition(".")
    obj = p.model if section == "model" else p.train
    if not hasattr(obj, name):
        raise ValueError(f"refine: {key!r} não é um campo de {section} (treino {p.run_id}).")
    return getattr(obj, name)


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else repr(v)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return a == b


def _loss(rec: dict, quantity: str) -> float:
    """A perda de um treino terminado; ``NaN`` se ele divergiu, falhou ou não tem ``quantity``."""
    v = rec.get(quantity)
    ok = rec.get("status") == "ok" and isinstance(v, (int, float)) and not isinstance(v, bool)
    return float(v) if ok and math.isfinite(v) else float("nan")


def _groups(spec: SweepSpec, records: list[dict], group: str) -> list[tuple[Any, list]]:
    by_id = {r["run_id"]: r for r in records if isinstance(r, dict) and "run_id" in r}
    groups: dict[Any, list] = {}
    for p in expand(spec):
        groups.setdefault(_value(p, group), []).append((p, by_id.get(p.run_id)))
    return sorted(groups.items(), key=lambda kv: (str(type(kv[0])), kv[0]))


def _step(value: float, axis: dict, direction: int) -> float | int | None:
    """O próximo valor do eixo além de ``value`` (×/÷ ``factor``, arredondado); ``None`` além dos limites."""
    v = value * axis["factor"] ** direction
    step = axis.get("multiple_of")
    if step is not None:
        v = max(step, int(math.floor(v / step + 0.5)) * step)
    elif isinstance(value, int) and not isinstance(value, bool):
        v = int(round(v))
    else:
        v = float(f"{v:.4g}")
    if ("min" in axis and v < axis["min"]) or ("max" in axis and v > axis["max"]) or _same(v, value):
        return None
    return v


def _pending_report(kind: str, g: Any, label: str, items: list) -> GroupReport:
    done = sum(rec is not None for _, rec in items)
    return GroupReport(g, kind, "pending", len(items), done,
                       line=f"{label}: {done}/{len(items)} treinos terminados — rode a varredura antes de estender")


def _failed_report(kind: str, g: Any, label: str, items: list) -> GroupReport:
    return GroupReport(g, kind, "failed", len(items), len(items),
                       line=f"{label}: nenhum treino terminou bem (todos divergiram ou falharam) — nada a estender")


# --- hiperparâmetros ------------------------------------------------------------------

def _hyper(settings: dict, g: Any, label: str, items: list) -> tuple[GroupReport, list[dict], list[str]]:
    axes = list(settings["axes"])
    if any(rec is None for _, rec in items):
        return _pending_report("hyper", g, label, items), [], []
    cells: dict[tuple, list] = {}
    for p, rec in items:
        cells.setdefault(tuple(_value(p, a) for a in axes), []).append((p, _loss(rec, settings["quantity"])))
    keys = list(cells)
    losses = np.array([np.nanmean([l for _, l in cells[k]]) if any(math.isfinite(l) for _, l in cells[k])
                       else np.nan for k in keys])
    if not np.isfinite(losses).any():
        return _failed_report("hyper", g, label, items), [], []
    mask = near_optimal(losses, settings["tolerance"])
    region = [k for k, m in zip(keys, mask) if m]
    best = keys[int(np.nanargmin(losses))]

    def line_of(c: tuple, i: int) -> list[tuple]:
        return [k for k in keys if all(_same(k[j], c[j]) for j in range(len(axes)) if j != i)]

    touched: dict[tuple[int, str], list[tuple]] = {}
    for i in range(len(axes)):
        for c in region:
            vals = [k[i] for k in line_of(c, i)]
            if c[i] <= min(vals):
                touched.setdefault((i, "low"), []).append(c)
            if c[i] >= max(vals):
                touched.setdefault((i, "high"), []).append(c)
    order = sorted(touched, key=lambda t: (t[0], t[1] != "low"))
    edges = tuple((axes[i], side) for i, side in order)
    adds, reasons, seen, blocked = [], [], set(keys), []
    for i, side in order:
        at_edge = touched[(i, side)]
        axis, direction = settings["axes"][axes[i]], (-1 if side == "low" else 1)
        extreme = (min if side == "low" else max)(c[i] for c in at_edge)
        target = _step(extreme, axis, direction)
        if target is None:
            blocked.append((axes[i], side))
            reasons.append(f"{label}: a região toca a borda {SIDE_NAMES[side]} de {axes[i]} ({_fmt(extreme)}), "
                           f"mas o eixo não passa desse valor (limites de refine.axes) — nada entra desse lado")
            continue
        if len(axes) == 1:
            lines = [()]
        else:
            j = 1 - i
            others = sorted({k[j] for k in keys})
            lines = sorted({others[n] for c in region for n in (others.index(c[j]) - 1, others.index(c[j]),
                                                                others.index(c[j]) + 1) if 0 <= n < len(others)})
        new_points = []
        for o in lines:
            line = [k for k in keys if len(axes) == 1 or _same(k[1 - i], o)]
            e = (min if side == "low" else max)(k[i] for k in line)
            if direction * (e - target) >= -1e-9 * abs(target):  # a linha já chega lá
                continue
            v = _step(e, axis, direction)
            if v is None:
                continue
            edge_key = next(k for k in line if _same(k[i], e))
            new_key = tuple(v if n == i else edge_key[n] for n in range(len(axes)))
            if any(all(_same(a, b) for a, b in zip(new_key, k)) for k in seen):
                continue
            seen.add(new_key)
            template = cells[edge_key][0][0]
            adds.append({**template.overrides, settings["group"]: g, **dict(zip(axes, new_key))})
            new_points.append(new_key)
        if new_points:
            where = ""
            if len(axes) == 2:
                where = f", com {axes[1 - i]} ∈ {{{', '.join(_fmt(k[1 - i]) for k in new_points)}}}"
            reasons.append(f"{label}: a região quase ótima toca a borda {SIDE_NAMES[side]} de {axes[i]} "
                           f"({_fmt(extreme)}) — +{len(new_points)} treino(s) com {axes[i]} = "
                           f"{', '.join(sorted({_fmt(k[i]) for k in new_points}))}{where}")
    best_loss = float(np.nanmin(losses))
    best_text = ", ".join(f"{a} = {_fmt(v)}" for a, v in zip(axes, best))
    if edges:
        where = "; ".join(f"borda {SIDE_NAMES[s]} de {a}" for a, s in edges)
        text = f"{label}: toca {where} — melhor {best_text} ({best_loss:.4f}), {len(region)} ponto(s) quase ótimo(s)"
        if blocked:
            text += (f" (sem como estender: {'; '.join(f'borda {SIDE_NAMES[s]} de {a}' for a, s in blocked)} "
                     "no limite de refine.axes)")
    else:
        text = (f"{label}: interior — melhor {best_text} ({best_loss:.4f}), {len(region)} ponto(s) quase ótimo(s) "
                "longe das bordas")
    report = GroupReport(g, "hyper", "edge" if edges else "interior", len(items), len(items),
                         best=dict(zip(axes, best)), best_loss=best_loss,
                         region=tuple(dict(zip(axes, k)) for k in region), edges=edges, blocked=tuple(blocked),
                         line=text)
    return report, adds, reasons


# --- IsoFLOP ----------------------------------------------------------------------

def _isoflop(settings: dict, g: Any, label: str, items: list) -> tuple[GroupReport, list[dict], list[str]]:
    keys = settings["ladder"]["keys"]
    ladder = [tuple(v) for v in settings["ladder"]["values"]]
    k_side = settings["min_each_side"]

    def rung(p: PlannedRun) -> int:
        shape = tuple(_value(p, key) for key in keys)
        for n, r in enumerate(ladder):
            if all(_same(a, b) for a, b in zip(shape, r)):
                return n
        raise ValueError(f"refine: o treino {p.run_id} tem {dict(zip(keys, shape))}, que não é um degrau de "
                         f"refine.ladder ({len(ladder)} degraus de {list(ladder[0])} a {list(ladder[-1])}).")

    rungs = [rung(p) for p, _ in items]
    lo, hi = min(rungs), max(rungs)
    if any(rec is None for _, rec in items):
        return dataclasses.replace(_pending_report("isoflop", g, label, items), window=(lo, hi)), [], []
    pts = []  # (degrau, escala, tokens, perda) dos treinos que terminaram bem
    for (p, rec), n in zip(items, rungs):
        loss = _loss(rec, settings["quantity"])
        scale = (rec.get("flops_per_token") or {}).get(settings["scale"])
        if math.isfinite(loss) and scale and rec.get("tokens"):
            pts.append((n, float(scale), float(rec["tokens"]), loss))
    if not pts:
        return dataclasses.replace(_failed_report("isoflop", g, label, items), window=(lo, hi)), [], []
    measured = sorted({n for n, *_ in pts})
    rung_scale = {n: float(np.mean([s for m, s, *_ in pts if m == n])) for n in measured}
    rung_loss = {n: float(np.mean([l for m, *_, l in pts if m == n])) for n in measured}
    if any(rung_scale[a] >= rung_scale[b] for a, b in zip(measured, measured[1:])):
        raise ValueError(f"refine: {label}: a escada não está em ordem crescente de {settings['scale']} "
                         f"({[f'{rung_scale[n]:.3g}' for n in measured]}); ordene refine.ladder.values.")
    best = min(measured, key=rung_loss.get)
    try:
        prof = isoflop_profile([s for _, s, _, _ in pts], [t for _, _, t, _ in pts], [l for *_, l in pts], budget=g)
    except ValueError:  # menos de 3 tamanhos medidos: não há parábola
        prof = None
    accepted = bool(prof is not None and prof.accepted)
    if accepted:
        below = sum(rung_scale[n] < prof.scale_opt for n in measured)
        above = sum(rung_scale[n] > prof.scale_opt for n in measured)
    else:
        below, above = sum(n < best for n in measured), sum(n > best for n in measured)
    need = {"low": max(k_side - below, int(best == lo)), "high": max(k_side - above, int(best == hi))}
    adds, reasons, notes, blocked = [], [], [], []
    for side, direction, edge in (("low", -1, lo), ("high", 1, hi)):
        if need[side] <= 0:
            continue
        template = next(p for (p, _), n in zip(items, rungs) if n == edge)
        wanted = [edge + direction * m for m in range(1, need[side] + 1)]
        new = [n for n in wanted if 0 <= n < len(ladder)]
        for n in new:
            adds.append({**template.overrides, settings["group"]: g, **dict(zip(keys, ladder[n]))})
        what = "abaixo" if side == "low" else "acima"
        if new:
            reasons.append(f"{label}: {below if side == 'low' else above} tamanho(s) medido(s) {what} do "
                           f"{'vértice' if accepted else 'melhor ponto'} (mínimo {k_side}) — +{len(new)} degrau(s): "
                           f"{', '.join(str(list(ladder[n])) for n in new)}")
        if len(new) < len(wanted):
            blocked.append(("ladder", side))
            notes.append(f"a escada acaba {what} de {list(ladder[edge + direction * len(new)])}")
            reasons.append(f"{label}: faltam {len(wanted) - len(new)} degrau(s) {what} — {notes[-1]}; "
                           "estenda refine.ladder.values")
    edges = tuple(("ladder", s) for s in ("low", "high") if need[s] > 0)
    vertex = float(prof.scale_opt) if prof is not None else float("nan")
    center = (f"vértice em {settings['scale']} = {vertex:.3g}" if accepted
              else f"sem vértice interior ({prof.reason if prof is not None else 'menos de 3 tamanhos medidos'})")
    sizes = f"{below} tamanho(s) abaixo e {above} acima (mínimo {k_side}); melhor medido {list(ladder[best])}"
    if edges:
        where = " e ".join(f"borda {SIDE_NAMES[s]}" for _, s in edges)
        text = f"{label}: toca a {where} da escada — {center}, {sizes}"
        if notes:
            text += f" ({'; '.join(notes)})"
    else:
        text = f"{label}: interior — {center}, {sizes}"
    report = GroupReport(g, "isoflop", "edge" if edges else "interior", len(items), len(items),
                         best=dict(zip(keys, ladder[best])), best_loss=rung_loss[best], edges=edges,
                         blocked=tuple(blocked), vertex=vertex,
                         vertex_accepted=accepted, sides=(int(below), int(above)), window=(lo, hi), line=text)
    return report, adds, reasons


def _analyze(spec: SweepSpec, records: list[dict]) -> list[tuple[GroupReport, list[dict], list[str]]]:
    settings = refine_settings(spec)
    if not isinstance(records, list):
        raise ValueError(f"records deve ser uma lista de registros (dicionários); recebi {type(records).__name__}.")
    analyze = _hyper if settings["kind"] == "hyper" else _isoflop
    return [analyze(settings, g, f"{settings['group']} = {_fmt(g)}", items)
            for g, items in _groups(spec, records, settings["group"])]


def edge_report(spec: SweepSpec, records: list[dict]) -> list[GroupReport]:
    """Um :class:`GroupReport` por grupo da grade (em ordem crescente do valor do grupo)."""
    return [report for report, _, _ in _analyze(spec, records)]


def refine_spec(spec: SweepSpec, records: list[dict]) -> tuple[SweepSpec, list[str]]:
    """A especificação estendida e a lista, em português, do que entrou e por quê.

    Os treinos novos entram no fim de ``runs`` (os índices de ``mini_runs`` e os ``run_id``
    dos treinos antigos não mudam); cada um copia as variações do treino da borda de onde
    parte e troca só o eixo (ou o degrau da escada). Sem nada a acrescentar, devolve a
    própria ``spec`` e, na lista, só os avisos (por exemplo, um eixo no limite).
    """
    adds, reasons = [], []
    for _, group_adds, group_reasons in _analyze(spec, records):
        adds += group_adds
        reasons += group_reasons
    old_ids = {p.run_id for p in expand(spec)}
    fresh = []
    for extra in adds:
        rid = expand(dataclasses.replace(spec, runs=(extra,), mini_runs=None))[0].run_id
        if rid not in old_ids:
            old_ids.add(rid)
            fresh.append(extra)
    if not fresh:
        return spec, reasons
    d = spec.to_dict()
    d["runs"] = d["runs"] + fresh
    return parse_spec(d, spec.name), reasons


# --- linha de comando -----------------------------------------------------------------

def _existing_file(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{what} não encontrado: {str(p)!r}.")
    if not p.is_file():
        raise ValueError(f"{what} {str(p)!r} não é um arquivo (é uma pasta?).")
    return p


def writable_spec_path(path: str) -> Path:
    """O caminho de ``--out`` de um comando que grava uma especificação: um arquivo numa pasta que existe."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"--out deve ser um arquivo .json, não uma pasta; recebi {str(p)!r}.")
    if not p.parent.is_dir():
        raise ValueError(f"--out: a pasta {str(p.parent)!r} não existe.")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m helpers.laws.refine",
                     description="Estende uma grade onde o ótimo (ou a região quase ótima) toca a borda.")
    parser.add_argument("spec", help="arquivo JSON da varredura, com o campo 'refine'")
    parser.add_argument("--results", required=True, help="arquivo .jsonl de resultados da varredura")
    parser.add_argument("--out", default=None, help="onde gravar a especificação estendida (padrão: por cima de SPEC)")
    parser.add_argument("--check", action="store_true",
                        help="só verifica: sai com 1 se algum grupo toca uma borda ou tem treinos pendentes")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # erro de uso (já impresso numa linha) ou --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        spec = load_spec(args.spec)
        refine_settings(spec)
        records = load_results(_existing_file(args.results, "arquivo de resultados"))
        out = writable_spec_path(args.out if args.out is not None else args.spec)
        reports = edge_report(spec, records)
        for r in reports:
            print(r.line)
        if args.check:
            return 0 if all(r.status == "interior" for r in reports) else 1
        new, reasons = refine_spec(spec, records)
        for line in reasons:
            print(f"  {line}")
        if new is spec:
            print("nada a estender: nenhum treino novo")
            return 0
        tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
        tmp.write_text(format_spec(new.to_dict()), encoding="utf-8")
        os.replace(tmp, out)
        added = len(expand(new)) - len(expand(spec))
        print(f"{added} treino(s) novo(s) gravado(s) em {out}; rode: python -m helpers.engine.sweeps run {out} "
              f"--out {args.results}")
    except ValueError as exc:
        print(f"erro: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"erro: não consegui ler ou gravar {exc.filename!r} ({exc.strerror}).", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
