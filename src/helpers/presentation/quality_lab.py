"""O laboratório de qualidade do capítulo 10: reajustar ``M_opt ∝ C^a`` ao vivo, corpus a corpus.

Duas formas da **mesma conta**: :func:`quality_lab_html` (HTML + JavaScript + SVG autocontidos, sem recurso
da internet, para o livro estático) e :func:`quality_lab` (ipywidgets + matplotlib). As contas são funções
puras (:func:`refit`, :func:`diluted_frontier`, :func:`planning_cost`, :func:`tokens_per_param`;
:func:`explorer_state` reúne todas), que o JavaScript refaz linha a linha.

**A diluição muda o intercepto, não a inclinação**: com ``L = E + A/M^α + B/(ρD)^β``, ``M_opt = G·C^a``
(``a = β/(α+β)``) vira ``G·ρ^a·C^a``, a mesma reta em log-log deslocada de ``Δlog10 M_opt = a·log10 ρ``.
"""

from __future__ import annotations

import html
import json
import math
import numbers
import re
import uuid

from .widgets import _FMT_JS, _STYLE, _fmt

__all__ = ["A_RANGE", "TARGET_RANGE", "RHO_RANGE", "CHINCHILLA_TOKENS_PER_PARAM", "MESSAGES", "check_payload",
           "refit", "diluted_frontier", "planning_cost", "tokens_per_param", "explorer_state", "quality_lab",
           "quality_lab_html"]

#: Faixas dos controles: ``a`` da fronteira à mão, orçamento-alvo (FLOPs) e diluição ``ρ``.
A_RANGE = (0.30, 0.80)
TARGET_RANGE = (1e11, 1e25)
RHO_RANGE = (0.05, 1.0)
#: *Tokens* por parâmetro da regra do Chinchilla (Hoffmann et al., 2022), para comparação.
CHINCHILLA_TOKENS_PER_PARAM = 20.0
MIN_REPLICATES, MAX_REPLICATES = 10, 200
_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_TOL = 1e-9  # folga relativa nas pontas das faixas (10^log10(x) pode errar no último bit)
NAN = float("nan")
MESSAGES = {"none": "Nenhum corpus marcado: marque pelo menos um para ver as retas.",
            "few": "Com menos de 2 orçamentos marcados não há reta: marque pelo menos 2.",
            "two": "Com 2 orçamentos a reta passa pelos dois vértices: há inclinação, mas não intervalo (—)."}


def _real(value, field: str, valid: str, ok=lambda v: True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not ok(value):
        raise ValueError(f"{field} deve ser {valid}; recebi {value!r}.")
    return float(value)


def _in_range(value, field: str, bounds: tuple[float, float], unit: str = "") -> float:
    """Um número em ``[lo, hi]`` (folga relativa de 1e-9, cortada de volta para a faixa)."""
    lo, hi = bounds
    v = _real(value, field, f"um número entre {_fmt(lo)} e {_fmt(hi)}{' ' + unit if unit else ''}",
              lambda v: lo * (1 - _TOL) <= v <= hi * (1 + _TOL))
    return min(max(v, lo), hi)


def _size(value) -> int | str:
    return len(value) if isinstance(value, (list, tuple)) else type(value).__name__


def _vector(value, field: str, n: int, replicates: bool = False) -> list:
    """Uma lista de ``n`` números finitos ou, com ``replicates``, de 10 a 200 listas dessas."""
    k = _size(value)
    if replicates and not (isinstance(k, int) and MIN_REPLICATES <= k <= MAX_REPLICATES):
        raise ValueError(f"{field} deve ter entre {MIN_REPLICATES} e {MAX_REPLICATES} réplicas do bootstrap; "
                         f"recebi {k}.")
    if not replicates and k != n:
        raise ValueError(f"{field} deve ser uma lista de {n} números (um por orçamento); recebi {k}.")
    return [_vector(v, f"{field}[{i}]", n) if replicates else _real(v, f"{field}[{i}]", "um número finito")
            for i, v in enumerate(value)]


def _check_corpus(i: int, c, budgets: list[float] | None) -> dict:
    at = f"corpora[{i}]"
    if not isinstance(c, dict):
        raise ValueError(f"{at} deve ser um dicionário; recebi {type(c).__name__}.")
    for k in (k for k in ("name", "label", "H", "color", "budgets", "log10_m", "log10_c", "boot_log10_m",
                          "boot_log10_c", "a_book") if k not in c):
        raise ValueError(f"{at} sem o campo obrigatório {k!r}.")
    for key, pattern, valid in (("name", _NAME, "ter de 1 a 40 letras, dígitos, '_' ou '-'"),
                                ("label", re.compile(r"\s*\S.*", re.S), "ser um texto não vazio"),
                                ("color", _COLOR, "ser uma cor '#rrggbb'")):
        if not isinstance(c[key], str) or not pattern.fullmatch(c[key]):
            raise ValueError(f"{at}.{key} deve {valid}; recebi {c[key]!r}.")
    if not isinstance(n := _size(c["budgets"]), int) or n < 3:
        raise ValueError(f"{at}.budgets deve ter pelo menos 3 orçamentos; recebi {n}.")
    own = [_real(b, f"{at}.budgets[{j}]", "um orçamento finito > 0 (FLOPs)", lambda v: v > 0)
           for j, b in enumerate(c["budgets"])]
    if any(b2 <= b1 for b1, b2 in zip(own, own[1:])):
        raise ValueError(f"{at}.budgets deve estar em ordem estritamente crescente; recebi {own!r}.")
    if budgets is not None and (n != len(budgets) or any(abs(x - y) > _TOL * y for x, y in zip(own, budgets))):
        raise ValueError(f"{at}.budgets deve ser igual aos orçamentos de corpora[0] ({budgets!r}): um controle por "
                         f"orçamento vale para todos os corpora; recebi {own!r}.")
    bm, bc = (_vector(c[key], f"{at}.{key}", n, replicates=True) for key in ("boot_log10_m", "boot_log10_c"))
    if len(bm) != len(bc):
        raise ValueError(f"{at}.boot_log10_m e boot_log10_c devem ter o mesmo número de réplicas; "
                         f"recebi {len(bm)} e {len(bc)}.")
    return {"name": c["name"], "label": c["label"], "color": c["color"], "budgets": own,
            "H": _real(c["H"], f"{at}.H", "um número finito ≥ 0 (bits por byte)", lambda v: v >= 0),
            "log10_m": _vector(c["log10_m"], f"{at}.log10_m", n), "log10_c": _vector(c["log10_c"], f"{at}.log10_c", n),
            "boot_log10_m": bm, "boot_log10_c": bc, "a_book": _real(c["a_book"], f"{at}.a_book", "um número finito")}


def check_payload(payload) -> dict:
    """Valida os dados do laboratório e devolve uma cópia normalizada. Aceita também ``"reference"`` (padrão:
    ``"limpo"`` se existir, senão o primeiro corpus) e ``"rho"`` (diluição inicial, padrão 0,5)."""
    if not isinstance(payload, dict):
        raise ValueError(f"payload deve ser um dicionário (JSON); recebi {type(payload).__name__}.")
    for key in (k for k in ("level", "measured_range", "anchor_budget", "target_budget", "surface", "corpora")
                if k not in payload):
        raise ValueError(f"payload sem o campo obrigatório {key!r}.")
    level = _real(payload["level"], "level (nível do intervalo)", "um número em (0, 1)", lambda v: 0 < v < 1)
    if _size(mr := payload["measured_range"]) != 2:
        raise ValueError(f"measured_range deve ser [menor, maior] orçamento medido; recebi {mr!r}.")
    lo = _real(mr[0], "measured_range[0]", "um orçamento finito > 0 (FLOPs)", lambda v: v > 0)
    hi = _real(mr[1], "measured_range[1]", f"um orçamento finito maior que {_fmt(lo)}", lambda v: v > lo)
    s = payload["surface"] if isinstance(payload["surface"], dict) else {}
    for k in (k for k in ("E", "A", "B", "alpha", "beta") if k not in s):
        raise ValueError(f"surface sem o parâmetro obrigatório {k!r} (E, A, B, alpha, beta).")
    surface = {k: _real(s[k], f"surface.{k}", "um número finito > 0", lambda v: v > 0)
               for k in ("E", "A", "B", "alpha", "beta")}
    if not isinstance(payload["corpora"], (list, tuple)) or not payload["corpora"]:
        raise ValueError(f"corpora deve ser uma lista não vazia de corpora; recebi {payload['corpora']!r}.")
    corpora = [_check_corpus(0, payload["corpora"][0], None)]
    corpora += [_check_corpus(i, c, corpora[0]["budgets"]) for i, c in enumerate(payload["corpora"]) if i]
    if len(set(names := [c["name"] for c in corpora])) != len(names):
        raise ValueError(f"os nomes dos corpora devem ser únicos; recebi {names!r}.")
    if (reference := payload.get("reference", "limpo" if "limpo" in names else names[0])) not in names:
        raise ValueError(f"reference deve ser um dos corpora {names!r}; recebi {reference!r}.")
    return {"level": level, "measured_range": (lo, hi), "surface": surface, "corpora": corpora,
            "budgets": corpora[0]["budgets"], "reference": reference,
            "anchor_budget": _in_range(payload["anchor_budget"], "anchor_budget", (lo, hi), "FLOPs"),
            "target_budget": _in_range(payload["target_budget"], "target_budget", TARGET_RANGE, "FLOPs"),
            "rho": _in_range(payload.get("rho", 0.5), "rho (diluição)", RHO_RANGE)}


def _corpus(p: dict, name) -> dict:
    if not (found := [c for c in p["corpora"] if c["name"] == name]):
        raise ValueError(f"corpus deve ser um dos corpora {[c['name'] for c in p['corpora']]!r}; recebi {name!r}.")
    return found[0]


def _indices(p: dict, budgets) -> list[int]:
    """Os índices (em ordem crescente) dos orçamentos escolhidos; ``None`` = todos."""
    if budgets is None:
        return list(range(len(p["budgets"])))
    if isinstance(budgets, (str, bytes)) or not hasattr(budgets, "__iter__"):
        raise ValueError(f"budgets deve ser uma lista de orçamentos medidos {p['budgets']!r}; recebi {budgets!r}.")
    out: list[int] = []
    for b in budgets:
        ok = isinstance(b, numbers.Real) and not isinstance(b, bool)
        j = next((j for j, ref in enumerate(p["budgets"]) if ok and abs(b - ref) <= _TOL * ref), None)
        if j is None or j in out:
            raise ValueError(f"budgets deve conter orçamentos medidos distintos, entre {p['budgets']!r}; "
                             f"recebi {b!r} ({'repetido' if j is not None else 'não medido'}).")
        out.append(j)
    return sorted(out)


def _setup(payload, corpus, budgets, anchor_budget) -> tuple[dict, dict, float]:
    """O payload validado, o reajuste do corpus (``None`` = a referência) e a âncora (``None`` = a do payload)."""
    p = check_payload(payload)
    anchor = p["anchor_budget"] if anchor_budget is None else _in_range(anchor_budget, "anchor_budget",
                                                                        p["measured_range"], "FLOPs")
    return p, _refit(p, _corpus(p, p["reference"] if corpus is None else corpus), _indices(p, budgets), anchor), anchor


# --- as contas (o JavaScript de quality_lab_html repete cada uma) ------------------------

def _ols(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Inclinação de mínimos quadrados de ``ys`` contra ``xs`` e as duas médias."""
    sx = sy = sxx = sxy = 0.0
    for x, y in zip(xs, ys):
        sx, sy = sx + x, sy + y
    xm, ym = sx / len(xs), sy / len(xs)
    for x, y in zip(xs, ys):
        sxx, sxy = sxx + (x - xm) * (x - xm), sxy + (x - xm) * (y - ym)
    return (sxy / sxx if sxx > 0 else NAN), xm, ym


def _quantile(values: list[float], q: float) -> float:
    """Quantil de uma lista ordenada, interpolação linear (o padrão do ``numpy.quantile``)."""
    i = math.floor(h := (len(values) - 1) * q)
    return values[-1] if i >= len(values) - 1 else values[i] + (h - i) * (values[i + 1] - values[i])


def _refit(p: dict, c: dict, idx: list[int], anchor: float) -> dict:
    if (n := len(idx)) < 2:
        return {"a": NAN, "ci": (NAN, NAN), "log10_m_at_anchor": NAN, "n_budgets": n}
    a, xm, ym = _ols([c["log10_c"][j] for j in idx], [c["log10_m"][j] for j in idx])
    ci = (NAN, NAN)
    if n >= 3 and math.isfinite(a):
        slopes = sorted(_ols([bc[j] for j in idx], [bm[j] for j in idx])[0]
                        for bc, bm in zip(c["boot_log10_c"], c["boot_log10_m"]))
        if all(math.isfinite(s) for s in slopes):
            ci = (_quantile(slopes, (1 - p["level"]) / 2), _quantile(slopes, (1 + p["level"]) / 2))
    return {"a": a, "ci": ci, "log10_m_at_anchor": ym + a * (math.log10(anchor) - xm), "n_budgets": n}


def refit(payload, corpus, budgets=None, *, anchor_budget=None) -> dict:
    """Reajusta ``log10 M_opt = log10 M₀ + a·(log10 C − log10 C₀)`` nos orçamentos ``budgets`` (valores
    medidos; ``None`` = todos). ``a``: mínimos quadrados de ``log10_m`` contra ``log10_c``; ``ci``: percentil
    (nível ``level``) da mesma inclinação em cada réplica do bootstrap; ``log10_m_at_anchor``: a reta na
    âncora ``C₀``. Com menos de 2 orçamentos tudo é ``nan``; com 2, ``ci = (nan, nan)``."""
    return _setup(payload, corpus, budgets, anchor_budget)[1]


def diluted_frontier(payload, rho, *, reference=None, anchor_budget=None, budgets=None) -> dict:
    """A fronteira prevista da referência diluída por ``ρ``: mesma inclinação ``a``, intercepto deslocado
    de ``shift = a·log10 ρ`` décadas (``log10_m_at_anchor``: a reta diluída na âncora)."""
    rho = _in_range(rho, "rho (diluição)", RHO_RANGE)
    ref = _setup(payload, reference, budgets, anchor_budget)[1]
    shift = ref["a"] * math.log10(rho)
    return {"rho": rho, "a": ref["a"], "shift": shift, "log10_m_at_anchor": ref["log10_m_at_anchor"] + shift}


def _best_m(s: dict, budget: float) -> float:
    """``argmin_M L(M, C/M)`` em ``log10 M``. ``L`` é convexa em ``log M``: a derivada ``βB·D^−β − αA·M^−α`` muda
    de sinal uma vez só. Bissecção no sinal dela em ``[−10, log10 C + 10]`` até o intervalo parar de encolher;
    a derivada (e não a perda, chata no fundo) fixa o mínimo a precisão de máquina também em ``M``."""
    lo, hi = -10.0, math.log10(budget) + 10.0
    for _ in range(200):
        if (mid := 0.5 * (lo + hi)) <= lo or mid >= hi:
            break
        m = 10.0 ** mid
        slope = s["beta"] * s["B"] * (budget / m) ** (-s["beta"]) - s["alpha"] * s["A"] * m ** (-s["alpha"])
        lo, hi = (lo, mid) if slope > 0 else (mid, hi)
    return 10.0 ** (0.5 * (lo + hi))


def _cost(p: dict, ref: dict, a_plan: float, target: float, anchor: float) -> dict:
    keys = ("m_plan", "d_plan", "loss_plan", "m_best", "loss_best", "cost_bpb", "cost_pct")
    if not math.isfinite(ref["log10_m_at_anchor"]):
        return dict.fromkeys(keys, NAN)
    m_plan = 10.0 ** (ref["log10_m_at_anchor"] + a_plan * (math.log10(target) - math.log10(anchor)))
    m_best = _best_m(s := p["surface"], target)
    loss_plan, loss_best = (s["E"] + s["A"] * m ** (-s["alpha"]) + s["B"] * (target / m) ** (-s["beta"])
                            for m in (m_plan, m_best))  # L(M, C_t/M)
    if loss_plan < loss_best:  # o plano caiu no ótimo (diferença de arredondamento): custo zero
        m_best, loss_best = m_plan, loss_plan
    cost = loss_plan - loss_best
    return dict(zip(keys, (m_plan, target / m_plan, loss_plan, m_best, loss_best, cost, 100.0 * cost / loss_best)))


def planning_cost(payload, a_plan, target_budget, *, reference=None, anchor_budget=None, budgets=None) -> dict:
    """Quanto se perde planejando ``C_t`` com o expoente ``a_plan`` em vez do ótimo da superfície:
    ``M_plan = 10^{log10 M_ref(C₀)}·(C_t/C₀)^{a_plan}`` (pela reta da referência na âncora ``C₀``),
    ``D_plan = C_t/M_plan``; custo = ``L(M_plan, D_plan) − min_M L(M, C_t/M)`` em bits por byte (≥ 0)
    e em % da perda ótima. Tudo ``nan`` se a referência tiver menos de 2 orçamentos."""
    a_plan = _real(a_plan, "a_plan", "um expoente em (0, 1)", lambda v: 0 < v < 1)
    target = _in_range(target_budget, "target_budget", TARGET_RANGE, "FLOPs")
    p, ref, anchor = _setup(payload, reference, budgets, anchor_budget)
    return _cost(p, ref, a_plan, target, anchor)


def _tpp(ref: dict, budget: float, anchor: float) -> float:
    m = 10.0 ** (ref["log10_m_at_anchor"] + ref["a"] * (math.log10(budget) - math.log10(anchor)))
    return 6.0 * budget / (m * m)


def tokens_per_param(payload, corpus, budget, *, budgets=None, anchor_budget=None) -> float:
    """*Tokens* por parâmetro na fronteira reajustada do corpus em ``budget``: ``N ≈ M/6``,
    ``D = C/M``, ``D/N = 6C/M²`` (``nan`` com menos de 2 orçamentos)."""
    budget = _real(budget, "budget", "um orçamento finito > 0 (FLOPs)", lambda v: v > 0)
    _, ref, anchor = _setup(payload, corpus, budgets, anchor_budget)
    return _tpp(ref, budget, anchor)


def _default_a(p: dict) -> float:
    """Onde o controle de ``a`` começa: o ``a`` da referência com todos os orçamentos (3 casas)."""
    a = _refit(p, _corpus(p, p["reference"]), _indices(p, None), p["anchor_budget"])["a"]
    return min(max(round(a, 3), A_RANGE[0]), A_RANGE[1]) if math.isfinite(a) else 0.5


def explorer_state(payload, *, corpora=None, budgets=None, reference=None, a_plan=None, anchor_budget=None,
                   rho=None, target_budget=None) -> dict[str, float]:
    """Todos os números da página, pelas chaves ``data-key`` dela (``nan`` = "—"). ``corpora`` e
    ``budgets``: os marcados (padrão: todos); os demais são os controles (padrão: onde a página começa;
    ``a_plan`` em :data:`A_RANGE`). Só os corpora marcados têm chaves ``a:<nome>`` etc."""
    p, ref, anchor = _setup(payload, reference, budgets, anchor_budget)
    names = [c["name"] for c in p["corpora"]] if corpora is None else [_corpus(p, n)["name"] for n in corpora]
    target = _in_range(p["target_budget"] if target_budget is None else target_budget, "target_budget",
                       TARGET_RANGE, "FLOPs")
    rho = _in_range(p["rho"] if rho is None else rho, "rho (diluição)", RHO_RANGE)
    a_plan = _default_a(p) if a_plan is None else _in_range(a_plan, "a_plan", A_RANGE)
    out: dict[str, float] = {}
    for c in (c for c in p["corpora"] if c["name"] in names):
        r, k = _refit(p, c, _indices(p, budgets), anchor), c["name"]
        out.update({f"a:{k}": r["a"], f"ci_lo:{k}": r["ci"][0], f"ci_hi:{k}": r["ci"][1],
                    f"log10_m_anchor:{k}": r["log10_m_at_anchor"], f"n_budgets:{k}": float(r["n_budgets"]),
                    f"tokens_per_param:{k}": _tpp(r, target, anchor),
                    f"tokens_per_param_anchor:{k}": _tpp(r, anchor, anchor)})
    shift, s = ref["a"] * math.log10(rho), p["surface"]
    out.update({"a_ref": ref["a"], "ref_log10_m_anchor": ref["log10_m_at_anchor"], "shift": shift,
                "dil_log10_m_anchor": ref["log10_m_at_anchor"] + shift,
                "a_surface": s["beta"] / (s["alpha"] + s["beta"])})
    return {**out, **_cost(p, ref, a_plan, target, anchor)}


def _show(v: float, digits: int | None = None) -> str:
    """Como a página escreve um número: 3 algarismos (ou ``digits`` casas), vírgula decimal, "—" sem valor."""
    return "—" if not math.isfinite(v) else _fmt(v) if digits is None else f"{v:.{digits}f}".replace(".", ",")


def _bars(p: dict, c: dict) -> list[list[float]]:
    """A barra (percentil, nível ``level``) de ``log10 M_opt`` de cada vértice, nas réplicas."""
    cols = [sorted(row[j] for row in c["boot_log10_m"]) for j in range(len(p["budgets"]))]
    return [[_quantile(col, (1 - p["level"]) / 2), _quantile(col, (1 + p["level"]) / 2)] for col in cols]


def _x_span(p: dict) -> tuple[float, float]:
    """A faixa (log10 C) do painel principal: a medida e os vértices, com meia década de folga."""
    lcs = [x for c in p["corpora"] for x in c["log10_c"]] + [math.log10(v) for v in p["measured_range"]]
    return math.floor(2 * min(lcs) - 1) / 2, math.ceil(2 * max(lcs) + 1) / 2


def _out(key: str, state: dict | None, tag: str = "td") -> str:
    """Uma saída: ``data-value`` com o número completo (vazio sem valor); o JavaScript reescreve as da página."""
    v = NAN if state is None else state.get(key, NAN)
    text = str(int(v)) if key.startswith("n_") and math.isfinite(v) else _show(v)
    return f'<{tag} class="lde-out" data-key="{html.escape(key)}" data-value="{repr(v) if math.isfinite(v) else ""}">' \
           f'{text}</{tag}>'


_COST_ROWS = (("m_plan", "M_plan = M_ref(C₀)·(C_t/C₀)^a", "FLOPs por token"), ("d_plan", "D_plan = C_t/M_plan",
              "tokens"), ("loss_plan", "L(M_plan, D_plan)", "bits por byte"), ("m_best", "M ótimo em C_t",
              "FLOPs por token"), ("loss_best", "min_M L(M, C_t/M)", "bits por byte"), ("cost_bpb", "custo do plano",
              "bits por byte"), ("cost_pct", "custo relativo", "% da perda ótima"))


def _panels(p: dict, state: dict | None = None) -> str:
    """As tabelas e os textos sob o gráfico (as duas formas os mostram; ``state=None``: a página os preenche)."""
    esc, o = html.escape, lambda key, tag="td": _out(key, state, tag)
    row = '<tr data-role="row" data-name="{n}"><td style="color:{color}">{label}</td>'.format
    fits = "".join(row(n=c["name"], color=c["color"], label=esc(c["label"])) + f'<td>{_fmt(c["H"])}</td>'
                   + "".join(o(f"{k}:{c['name']}") for k in ("n_budgets", "a", "ci_lo", "ci_hi"))
                   + f'<td>{_fmt(c["a_book"])}</td>{o("log10_m_anchor:" + c["name"])}</tr>' for c in p["corpora"])
    tpps = "".join(row(n=c["name"], color=c["color"], label=esc(c["label"])) + o(f"tokens_per_param_anchor:{c['name']}")
                   + o(f"tokens_per_param:{c['name']}") + f'<td>~{_fmt(CHINCHILLA_TOKENS_PER_PARAM)}</td></tr>'
                   for c in p["corpora"])
    costs = "".join(f"<tr><td>{label}</td>{o(key)}<td>{unit}</td></tr>" for key, label, unit in _COST_ROWS)
    return f"""<p style="font-size:0.85em">Pontos: os vértices (vazios: fora do ajuste), com a barra de
{_fmt(100 * p["level"])} % do bootstrap em log10 M_opt. Retas: mínimos quadrados de log10 M_opt contra log10 C
nos orçamentos marcados; o intervalo de a é o percentil de {_fmt(100 * p["level"])} % da inclinação nas réplicas.</p>
<table><tr><th>corpus</th><th>H</th><th>orçamentos</th><th>a</th><th>IC inf.</th><th>IC sup.</th><th>a do livro</th>
<th>log10 M_opt em C₀</th></tr>{fits}</table>
<p>Diluir a referência por ρ desloca a fronteira em Δlog10 M_opt = a·log10 ρ = {o("shift", "b")} década(s), com
a = {o("a_ref", "b")}; em C₀, log10 M_opt vai de {o("ref_log10_m_anchor", "b")} a {o("dil_log10_m_anchor", "b")}.
<b>A inclinação não muda</b>: com L = E + A/M^α + B/(ρD)^β só a constante do termo de dados muda, e
M_opt ∝ ρ^a·C^a — a diluição move o intercepto, não a inclinação (reta pontilhada).</p>
<p><b>Custo de planejar C_t com o a do controle</b> em vez do ótimo da superfície L(M, D) = E + A/M^α + B/D^β
(cujo expoente é β/(α+β) = {o("a_surface", "span")}):</p><table>{costs}</table>
<p><b>Tokens por parâmetro</b> em cada fronteira reajustada, com N ≈ M/6 (a parte 6N de M, sem o termo de
atenção), D = C/M e D/N = 6C/M²; ao lado, os ~20 do Chinchilla.</p>
<table><tr><th>corpus</th><th>D/N na âncora C₀</th><th>D/N no alvo C_t</th><th>Chinchilla</th></tr>{tpps}</table>"""


# --- ipywidgets (no notebook, com kernel) ------------------------------------------------

def quality_lab(payload):
    """O laboratório como *widget* (contas de :func:`explorer_state`): um ``VBox`` com ``lab_controls``
    (``corpus:<nome>``, ``budget:<i>``, ``reference``, ``a``, ``anchor``, ``rho``, ``target``) e ``lab_state``."""
    p = check_payload(payload)
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import HTML, display
    ctl = {f"corpus:{c['name']}": w.Checkbox(value=True, description=c["label"], indent=False) for c in p["corpora"]}
    ctl.update({f"budget:{j}": w.Checkbox(value=True, description=f"{_fmt(b)} FLOPs", indent=False)
                for j, b in enumerate(p["budgets"])})
    kw = dict(continuous_update=False, style={"description_width": "initial"}, layout=w.Layout(width="95%"))
    ctl["reference"] = w.Dropdown(options=[(c["label"], c["name"]) for c in p["corpora"]], value=p["reference"],
                                  description="referência")
    ctl["a"] = w.FloatSlider(value=_default_a(p), min=A_RANGE[0], max=A_RANGE[1], step=0.001, readout_format=".3f",
                             description="a da fronteira à mão", **kw)
    for key, label, value, (lo, hi), step in (
            ("anchor", "âncora C₀ (FLOPs)", p["anchor_budget"], p["measured_range"], 0.01),
            ("rho", "diluição ρ", p["rho"], RHO_RANGE, 0.01),
            ("target", "orçamento-alvo C_t (FLOPs)", p["target_budget"], TARGET_RANGE, 0.05)):
        ctl[key] = w.FloatLogSlider(value=value, base=10, min=math.log10(lo), max=math.log10(hi), step=step,
                                    description=label, readout_format=".3g", **kw)
    out = w.Output()
    ui = w.VBox([w.HBox([v for k, v in ctl.items() if k.startswith(prefix)]) for prefix in ("corpus:", "budget:")]
                + [ctl[k] for k in ("reference", "a", "anchor", "rho", "target")] + [out])
    ui.add_class("lde-quality-lab")  # o gancho de tests/test_jupyterlab.py
    ui.lab_controls = ctl

    def redraw(_=None):
        args = {"corpora": [c["name"] for c in p["corpora"] if ctl[f"corpus:{c['name']}"].value],
                "budgets": [b for j, b in enumerate(p["budgets"]) if ctl[f"budget:{j}"].value],
                "reference": ctl["reference"].value, "a_plan": ctl["a"].value, "anchor_budget": ctl["anchor"].value,
                "rho": ctl["rho"].value, "target_budget": ctl["target"].value}
        ui.lab_state = state = explorer_state(p, **args)
        with out:
            out.clear_output(wait=True)
            nb = len(args["budgets"])
            message = "" if args["corpora"] and nb > 2 else \
                MESSAGES["none" if not args["corpora"] else "few" if nb < 2 else "two"]
            display(fig := _figure(p, args, state))
            plt.close(fig)
            display(HTML(f'<p style="color:#a33">{message}</p>' * bool(message) + _panels(p, state)))

    for c in ctl.values():
        c.observe(redraw, names="value")
    redraw()
    return ui


def _figure(p: dict, args: dict, st: dict):
    import numpy as np

    from .plots import new_figure

    fig, ax = new_figure(width=7.5, height=4.6)
    x, la, idx = np.array(_x_span(p)), math.log10(args["anchor_budget"]), _indices(p, args["budgets"])
    ax.axvspan(*p["measured_range"], color="0.92", label="faixa medida")
    for c in (c for c in p["corpora"] if c["name"] in args["corpora"]):
        lc, lm, bars, k = np.array(c["log10_c"]), np.array(c["log10_m"]), np.array(_bars(p, c)), c["name"]
        ax.vlines(10 ** lc, 10 ** bars[:, 0], 10 ** bars[:, 1], color=c["color"], lw=1)
        ax.scatter(10 ** lc, 10 ** lm, edgecolors=c["color"], zorder=3,  # cheios: no ajuste; vazios: fora dele
                   facecolors=[c["color"] if j in idx else "white" for j in range(len(lc))])
        y = 10 ** (st[f"log10_m_anchor:{k}"] + st[f"a:{k}"] * (x - la))  # nan sem reta: nada desenhado
        ax.plot(10 ** x, y, color=c["color"], label=f"{c['label']} · H = {_fmt(c['H'])} · a = "
                f"{_show(st[f'a:{k}'], 2)} [{_show(st[f'ci_lo:{k}'], 2)}; {_show(st[f'ci_hi:{k}'], 2)}]")
    if math.isfinite(st["ref_log10_m_anchor"]):
        ax.plot(10 ** x, 10 ** (st["ref_log10_m_anchor"] + args["a_plan"] * (x - la)), "k--",
                label=f"à mão: a = {_show(args['a_plan'], 2)}")
        ax.plot(10 ** x, 10 ** (st["dil_log10_m_anchor"] + st["a_ref"] * (x - la)), ":", color="0.3",
                label=f"referência diluída (ρ = {_fmt(args['rho'])}), mesma inclinação")
        ax.scatter([args["anchor_budget"]], [10 ** st["ref_log10_m_anchor"]], marker="s", color="k", zorder=4)
    ax.set(xscale="log", yscale="log", xlabel="C (FLOPs)", ylabel="M_opt (FLOPs por token)")
    ax.legend(fontsize=7, loc="upper left")
    return fig


# --- HTML estático (no livro, sem kernel) -------------------------------------------------

_JS = r"""
(function() {
__FMT__
  const P = __P__, SF = P.surface, root = document.getElementById("__UID__");
  const all = r => [...root.querySelectorAll('[data-role="' + r + '"]')], q = r => all(r)[0];
  const f2 = v => isFinite(v) ? v.toFixed(2).replace('.', ',') : '—';
  const E = (tag, at, text) => '<' + tag + Object.entries(at).map(([k, v]) => ' ' + k + '="' + v + '"').join('') +
    (text === undefined ? '/>' : '>' + text + '</' + tag + '>');  // um elemento SVG
  const pow10 = v => Math.pow(10, v), log10 = Math.log10;
  const quant = (s, p, h = (s.length - 1) * p, i = Math.floor(h)) =>  // = _quantile
    i >= s.length - 1 ? s[s.length - 1] : s[i] + (h - i) * (s[i + 1] - s[i]);
  function ols(xs, ys) {  // = _ols
    let sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (let i = 0; i < xs.length; i++) { sx += xs[i]; sy += ys[i]; }
    const xm = sx / xs.length, ym = sy / xs.length;
    for (let i = 0; i < xs.length; i++) { sxx += (xs[i] - xm) * (xs[i] - xm); sxy += (xs[i] - xm) * (ys[i] - ym); }
    return {a: sxx > 0 ? sxy / sxx : NaN, xm, ym};
  }
  function refit(c, idx, anchor) {  // = _refit
    const n = idx.length, f = n < 2 ? {a: NaN} : ols(idx.map(j => c.lc[j]), idx.map(j => c.lm[j]));
    if (n < 2) return {a: NaN, lo: NaN, hi: NaN, l0: NaN, n};
    const s = n >= 3 && isFinite(f.a) ? c.bc.map((bc, k) => ols(idx.map(j => bc[j]), idx.map(j => c.bm[k][j])).a) : [NaN];
    s.sort((u, v) => u - v);
    const ok = s.every(v => isFinite(v)), lo = ok ? quant(s, (1 - P.level) / 2) : NaN, hi = ok ? quant(s, (1 + P.level) / 2) : NaN;
    return {a: f.a, lo, hi, l0: f.ym + f.a * (log10(anchor) - f.xm), n};
  }
  const loss = (m, d) => SF.E + SF.A * Math.pow(m, -SF.alpha) + SF.B * Math.pow(d, -SF.beta);
  function bestM(c) {  // = _best_m: bissecção no sinal de dL/dlog M
    let lo = -10, hi = log10(c) + 10;
    for (let k = 0, mid = 0.5 * (lo + hi); k < 200 && mid > lo && mid < hi; k++, mid = 0.5 * (lo + hi)) {
      const m = pow10(mid);
      if (SF.beta * SF.B * Math.pow(c / m, -SF.beta) - SF.alpha * SF.A * Math.pow(m, -SF.alpha) > 0) hi = mid; else lo = mid;
    }
    return pow10(0.5 * (lo + hi));
  }
  const tpp = (r, c, anchor) => { const m = pow10(r.l0 + r.a * (log10(c) - log10(anchor))); return 6 * c / (m * m); };
  function state(k) {  // = explorer_state
    const S = {};
    for (const c of P.corpora.filter(c => k.sel.includes(c.name))) {
      const r = refit(c, k.idx, k.anchor), n = c.name;
      Object.assign(S, {['a:' + n]: r.a, ['ci_lo:' + n]: r.lo, ['ci_hi:' + n]: r.hi, ['log10_m_anchor:' + n]: r.l0, ['n_budgets:' + n]: r.n,
                        ['tokens_per_param:' + n]: tpp(r, k.target, k.anchor), ['tokens_per_param_anchor:' + n]: tpp(r, k.anchor, k.anchor)});
    }
    const ref = refit(P.corpora.find(c => c.name === k.ref), k.idx, k.anchor), shift = ref.a * log10(k.rho);
    Object.assign(S, {a_ref: ref.a, ref_log10_m_anchor: ref.l0, shift, dil_log10_m_anchor: ref.l0 + shift,
                      a_surface: SF.beta / (SF.alpha + SF.beta)});
    const keys = ['m_plan', 'd_plan', 'loss_plan', 'm_best', 'loss_best', 'cost_bpb', 'cost_pct'];
    if (!isFinite(ref.l0)) { keys.forEach(key => S[key] = NaN); return S; }
    const mPlan = pow10(ref.l0 + k.a * (log10(k.target) - log10(k.anchor))), lPlan = loss(mPlan, k.target / mPlan);
    let mBest = bestM(k.target), lBest = loss(mBest, k.target / mBest);
    if (lPlan < lBest) { mBest = mPlan; lBest = lPlan; }  // o plano caiu no ótimo: custo zero
    [mPlan, k.target / mPlan, lPlan, mBest, lBest, lPlan - lBest, 100 * (lPlan - lBest) / lBest].forEach((v, i) => S[keys[i]] = v);
    return S;
  }
  function controls() {
    const lg = r => pow10(parseFloat(q(r).value));
    return {sel: all("corpus").filter(e => e.checked).map(e => e.dataset.name),
            idx: all("budget").filter(e => e.checked).map(e => +e.dataset.index),
            ref: q("reference").value, a: parseFloat(q("a").value), anchor: lg("anchor"), rho: lg("rho"), target: lg("target")};
  }
  function plot(k, S) {
    const x0 = 62, y0 = 318, w = 400, h = 290, top = y0 - h, la = log10(k.anchor), ys = [], lines = [];
    const X = v => x0 + (v - P.xlo) / (P.xhi - P.xlo) * w, sel = P.corpora.filter(c => k.sel.includes(c.name));
    const line = (l0, a, color, dash) => lines.push([[P.xlo, P.xhi].map(x => l0 + a * (x - la)), color, dash]);
    for (const c of sel) {
      c.bars.forEach(b => ys.push(...b)); ys.push(...c.lm);
      if (isFinite(S['a:' + c.name])) line(S['log10_m_anchor:' + c.name], S['a:' + c.name], c.color, 'none');
    }
    const ref = isFinite(S.ref_log10_m_anchor);
    if (ref) { line(S.ref_log10_m_anchor, k.a, '#000', '7 4'); line(S.dil_log10_m_anchor, S.a_ref, '#555', '2 3'); }
    lines.forEach(l => ys.push(...l[0]));
    const ylo = ys.length ? Math.floor(2 * Math.min(...ys)) / 2 : 6, yhi = Math.max(ys.length ? Math.ceil(2 * Math.max(...ys)) / 2 : 10, ylo + 1);
    const Y = v => y0 - (v - ylo) / (yhi - ylo) * h, t10 = {'font-size': 10};
    let s = '<defs><clipPath id="__UID__-clip">' + E('rect', {x: x0, y: top, width: w, height: h}) + '</clipPath></defs>';
    s += E('rect', {x: X(P.lo), y: top, width: X(P.hi) - X(P.lo), height: h, fill: '#eee'});
    s += E('text', {x: X(P.lo) + 4, y: top + 12, ...t10, fill: '#666'}, 'faixa medida');
    s += E('rect', {x: x0, y: top, width: w, height: h, fill: 'none', stroke: '#999'});
    for (let e = Math.ceil(2 * P.xlo) / 2; e <= P.xhi + 1e-9; e += 0.5) s += E('text', {x: X(e), y: y0 + 14, ...t10, 'text-anchor': 'middle'}, fmt(pow10(e)));
    for (let e = ylo; e <= yhi + 1e-9; e += yhi - ylo > 4 ? 1 : 0.5) s += E('text', {x: x0 - 4, y: Y(e) + 3, ...t10, 'text-anchor': 'end'}, fmt(pow10(e)));
    s += E('line', {x1: X(la), x2: X(la), y1: top, y2: y0, stroke: '#999', 'stroke-dasharray': '1 3'});
    s += '<g clip-path="url(#__UID__-clip)">' + lines.map(([l, color, dash]) => E('polyline', {fill: 'none', stroke: color,
      'stroke-width': 1.6, 'stroke-dasharray': dash, points: X(P.xlo) + ',' + Y(l[0]) + ' ' + X(P.xhi) + ',' + Y(l[1])})).join('') + '</g>';
    let ly = top + 8;
    const legend = (color, dash, t1, t2) => { s += E('line', {x1: 476, x2: 496, y1: ly, y2: ly, stroke: color, 'stroke-width': 2,
      'stroke-dasharray': dash}) + E('text', {x: 500, y: ly + 3, ...t10}, t1) + E('text', {x: 500, y: ly + 15, ...t10, fill: '#444'}, t2); ly += 32; };
    for (const c of sel) {
      c.lc.forEach((x, j) => s += E('line', {x1: X(x), x2: X(x), y1: Y(c.bars[j][0]), y2: Y(c.bars[j][1]), stroke: c.color}) +
        E('circle', {cx: X(x), cy: Y(c.lm[j]), r: 3.5, stroke: c.color, fill: k.idx.includes(j) ? c.color : '#fff'}));
      legend(c.color, 'none', c.label, 'H = ' + fmt(c.H) + ' · a = ' + f2(S['a:' + c.name]) + ' [' + f2(S['ci_lo:' + c.name]) + '; ' +
             f2(S['ci_hi:' + c.name]) + ']');
    }
    if (ref) {
      s += E('rect', {x: X(la) - 4, y: Y(S.ref_log10_m_anchor) - 4, width: 8, height: 8});
      legend('#000', '7 4', 'à mão: a = ' + f2(k.a), 'pela referência na âncora (quadrado)');
      legend('#555', '2 3', 'referência diluída, ρ = ' + fmt(k.rho), 'mesma inclinação a = ' + f2(S.a_ref));
    }
    s += E('text', {x: x0 + w / 2, y: y0 + 30, 'font-size': 11, 'text-anchor': 'middle'}, 'C (FLOPs)') + E('text', {x: 12,
      y: y0 - h / 2, 'font-size': 11, transform: 'rotate(-90 12 ' + (y0 - h / 2) + ')', 'text-anchor': 'middle'}, 'M_opt (FLOPs por token)');
    q("plot").innerHTML = s; root.dataset.draws = (+root.dataset.draws || 0) + 1;
  }
  function update() {
    const k = controls(), S = state(k), nb = k.idx.length;
    Object.assign(root.dataset, {a: k.a, anchor: k.anchor, rho: k.rho, target: k.target, reference: k.ref,
                                 corpora: k.sel.join(','), budgets: JSON.stringify(k.idx.map(j => P.budgets[j]))});
    [["a-text", k.a.toFixed(3).replace('.', ',')], ["anchor-text", fmt(k.anchor)], ["rho-text", fmt(k.rho)],
     ["target-text", fmt(k.target)]].forEach(([r, t]) => q(r).textContent = t);
    q("message").textContent = !k.sel.length ? P.msg.none : nb < 2 ? P.msg.few : nb === 2 ? P.msg.two : '';
    root.querySelectorAll(".lde-out").forEach(el => {
      const v = S[el.dataset.key], ok = v !== undefined && isFinite(v);
      el.dataset.value = ok ? String(v) : ''; el.textContent = !ok ? '—' : el.dataset.key.startsWith('n_') ? String(v) : fmt(v);
    });
    all("row").forEach(tr => tr.style.opacity = k.sel.includes(tr.dataset.name) ? 1 : 0.35);
    plot(k, S);
  }
  root.querySelectorAll("input, select").forEach(el => el.addEventListener(el.type === "range" ? "input" : "change", update));
  update();
})();
"""


def quality_lab_html(payload, *, element_id: str | None = None) -> str:
    """O laboratório em HTML + JavaScript + SVG autocontidos: o JavaScript refaz :func:`explorer_state` a cada
    mudança; cada número fica num ``.lde-out`` (``data-key``; ``data-value`` completo ou vazio) e a raiz guarda
    os controles (``data-a``, ``-anchor``, ``-rho``, ``-target``, ``-reference``, ``-corpora``, ``-budgets``)."""
    p = check_payload(payload)
    if element_id is not None and (not isinstance(element_id, str) or not _NAME.fullmatch(element_id)):
        raise ValueError(f"element_id deve ter de 1 a 40 letras, dígitos, '_' ou '-'; recebi {element_id!r}.")
    uid = element_id or "lde-lab-" + uuid.uuid4().hex[:8]
    lo, hi = (math.log10(v) for v in p["measured_range"])
    xlo, xhi = _x_span(p)
    params = {"level": p["level"], "budgets": p["budgets"], "lo": lo, "hi": hi, "xlo": xlo, "xhi": xhi,
              "surface": p["surface"], "msg": MESSAGES,
              "corpora": [{"name": c["name"], "label": html.escape(c["label"]), "H": c["H"], "color": c["color"],
                           "lm": c["log10_m"], "lc": c["log10_c"], "bm": c["boot_log10_m"], "bc": c["boot_log10_c"],
                           "bars": _bars(p, c)} for c in p["corpora"]]}
    js = (_JS.replace("__FMT__", _FMT_JS).replace("__UID__", uid)
          .replace("__P__", json.dumps(params, ensure_ascii=False).replace("</", "<\\/")))
    esc, box = html.escape, '<label style="display:inline-block;margin-right:12px"><input type="checkbox" data-role='
    corpora = "".join(f'{box}"corpus" data-name="{c["name"]}" checked> <span style="color:{c["color"]}">●</span> '
                      f'{esc(c["label"])}</label>' for c in p["corpora"])
    budgets = "".join(f'{box}"budget" data-index="{j}" checked> {_fmt(b)}</label>' for j, b in enumerate(p["budgets"]))
    options = "".join(f'<option value="{c["name"]}"{" selected" if c["name"] == p["reference"] else ""}>'
                      f'{esc(c["label"])}</option>' for c in p["corpora"])
    slider = '<input type="range" data-role="{}" min="{!r}" max="{!r}" step="any" value="{!r}"></label>'.format
    return f"""{_STYLE}
<div class="lde-w" id="{uid}">
<p><b>corpora no gráfico:</b><br>{corpora}</p>
<p><b>orçamentos no ajuste (FLOPs):</b><br>{budgets}</p>
<label>referência: <select data-role="reference">{options}</select></label>
<label>a da fronteira à mão (tracejada, pela referência na âncora): <b data-role="a-text"></b>
<input type="range" data-role="a" min="{A_RANGE[0]}" max="{A_RANGE[1]}" step="0.001" value="{_default_a(p)}"></label>
<label>orçamento-âncora C₀: <b data-role="anchor-text"></b> FLOPs (dentro da faixa medida)
{slider("anchor", lo, hi, math.log10(p["anchor_budget"]))}
<label>diluição ρ (fração de tokens úteis): <b data-role="rho-text"></b>
{slider("rho", math.log10(RHO_RANGE[0]), 0.0, math.log10(p["rho"]))}
<label>orçamento-alvo C_t do painel de custo: <b data-role="target-text"></b> FLOPs
{slider("target", math.log10(TARGET_RANGE[0]), math.log10(TARGET_RANGE[1]), math.log10(p["target_budget"]))}
<p data-role="message" style="color:#a33"></p>
<svg data-role="plot" viewBox="0 0 690 360" width="690" height="360" role="img"
 aria-label="M_opt contra C em escala log-log, com as retas reajustadas de cada corpus"></svg>
{_panels(p)}
</div>
<script>{js}</script>
"""
