"""Os dois pipelines do livro, vetorizados sobre réplicas, para o bootstrap paramétrico.

- :class:`HyperPipeline` — DeepSeek §3.1: a região a até ``tolerance`` da melhor perda em cada
  orçamento e as leis ``η_opt = k·C^α``, ``B_opt = k·C^α`` por **todos** os pontos quase ótimos;
- :class:`IsoFlopPipeline` — DeepSeek §3.2: parábola de cada orçamento → vértices →
  ``escala_opt ∝ C^a``, ``D_opt ∝ C^b`` e a lei da perda ótima.

Cada pipeline sabe, além de se ajustar (``batch`` em muitas réplicas, ``__call__`` em uma):

- ``smooth(perdas)`` — a superfície ajustada nos pontos do desenho (o centro das réplicas);
- ``posterior(perdas, ruído, σs, rng)`` — superfícies **sorteadas** dentro da incerteza do próprio
  ajuste (uma por réplica, com o ``σ`` da réplica) e o valor **verdadeiro** de cada quantidade em
  cada superfície sorteada (o "alvo" do mundo do bootstrap). É o que o intervalo *pivô* de
  :func:`~.calibrated.parametric_bootstrap` usa: ``estimativa − quantis(réplica − alvo)``.

A superfície dos hiperparâmetros é, em cada orçamento, um polinômio em ``(t, s) = (ln taxa,
ln lote)`` ajustado a ``ln perda`` — quadrático com o termo cruzado, mais ``t³`` e ``s³`` quando a
grade tem 4 valores ou mais no eixo (as bacias são assimétricas: taxa alta demais custa mais que
baixa demais) —, por mínimos quadrados **ponderados** ``w = exp(−(ln perda − mín)/local_width)``:
a seleção da região quase ótima depende só da forma perto do mínimo. O alvo é o mínimo dessa
superfície dentro da grade medida.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PipelineFailure", "HyperPipeline", "IsoFlopPipeline"]

LN10 = float(np.log(10.0))


class PipelineFailure(ValueError):
    """O pipeline não se completa nesta réplica; ``reason`` diz por quê (e é a chave da contagem)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _fmt(x: float) -> str:
    return f"{x:.3g}".replace(".", ",")


def _loglog(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Reta ``y = c + m·x`` por linha (mínimos quadrados, pesos 0/1 opcionais): ``(m, c)``."""
    x = np.broadcast_to(x, y.shape)
    if w is None:
        w = np.ones_like(y)
    sw = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (w * x).sum(axis=1) / sw
        my = (w * y).sum(axis=1) / sw
        dx = x - mx[:, None]
        m = (w * dx * (y - my[:, None])).sum(axis=1) / (w * dx * dx).sum(axis=1)
    return m, my - m * mx


def _positive(name: str, x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} deve ser um vetor 1D; recebi forma {x.shape}.")
    bad = ~np.isfinite(x) | (x <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} deve ser finito e > 0, isto é, em (0, ∞); {name}[{i}] = {float(x[i])!r}.")
    return x


def _check_losses(losses, n: int) -> np.ndarray:
    losses = np.asarray(losses, dtype=float)
    if losses.ndim == 1:
        losses = losses[None, :]
    if losses.ndim != 2 or losses.shape[1] != n:
        raise ValueError(f"esperava perdas com {n} colunas (uma por treino do desenho); recebi forma {losses.shape}.")
    return losses


def _sigma_scale(noise, sigmas, n: int) -> np.ndarray:
    """``σ_réplica / σ̂`` (zeros quando ``σ̂ = 0``)."""
    sigmas = np.full(n, noise.sigma) if sigmas is None else np.asarray(sigmas, dtype=float)
    return sigmas / noise.sigma if noise.sigma > 0 else np.zeros(n)


def _draw_coef(coef: np.ndarray, cov: np.ndarray, scale: np.ndarray, rng) -> np.ndarray:
    """``coef + scale·N(0, cov)`` por linha (raiz simétrica: serve para ``cov`` singular)."""
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    z = rng.standard_normal((scale.size, coef.size))
    return coef + scale[:, None] * (z @ root.T)


class _Pipeline:
    """Base: ``__call__`` numa réplica (levanta :class:`PipelineFailure`), ``batch`` em muitas."""

    names: list[str]

    def __call__(self, losses) -> dict[str, float]:
        values, reasons = self.batch(losses)
        if reasons[0]:
            raise PipelineFailure(str(reasons[0]))
        return {k: float(v[0]) for k, v in values.items()}

    def batch(self, losses):  # pragma: no cover - interface
        raise NotImplementedError


# --- hiperparâmetros (DeepSeek §3.1) ---------------------------------------------------------

def _features(t, v) -> np.ndarray:
    """``[1, t, s, t², s², t·s, t³, s³]`` na última dimensão."""
    t, v = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(v, dtype=float))
    return np.stack([np.ones_like(t), t, v, t * t, v * v, t * v, t**3, v**3], axis=-1)


class HyperPipeline(_Pipeline):
    """A região quase ótima de cada orçamento e as leis de taxa e lote em ``C``, vetorizadas.

    O desenho (``budgets``, ``lrs``, ``batches``, um valor por treino) fica fixo; as perdas
    variam. Quantidades: ``alpha_lr``, ``k_lr``, ``alpha_batch``, ``k_batch`` e, para cada
    ``C`` em ``predict_at``, ``lr@C`` e ``batch@C``. Coincide com
    :func:`~.hyper.fit_hyperparameter_laws` nos mesmos dados. Perdas ``NaN`` (divergiu)
    nunca são quase ótimas; um orçamento todo ``NaN`` faz a réplica falhar.
    ``local_width`` é a largura (em ``ln perda``) dos pesos da superfície (ver o topo do módulo).
    O bootstrap padrão sorteia superfícies (``default_centre = "posterior"``, intervalo pivô).
    """

    default_centre = "posterior"

    def __init__(self, budgets, lrs, batches, *, tolerance: float = 0.0025, predict_at=(),
                 local_width: float = 0.03):
        budgets, lrs, batches = _positive("budgets", budgets), _positive("lrs", lrs), _positive("batches", batches)
        if not (budgets.shape == lrs.shape == batches.shape):
            raise ValueError(f"budgets, lrs e batches devem ter o mesmo tamanho; recebi "
                             f"{budgets.size}, {lrs.size} e {batches.size}.")
        if not (np.isfinite(tolerance) and 0 <= tolerance < 1):
            raise ValueError(f"tolerance deve estar em [0, 1); recebi {tolerance!r}.")
        if not (np.isfinite(local_width) and local_width > 0):
            raise ValueError(f"local_width deve ser finito e > 0; recebi {local_width!r}.")
        self.keys = np.unique(budgets)
        if self.keys.size < 2:
            raise ValueError(f"as leis em C precisam de 2 orçamentos distintos ou mais; recebi {self.keys.size}.")
        self.n = budgets.size
        self.tolerance = float(tolerance)
        self.local_width = float(local_width)
        self.predict_at = tuple(float(c) for c in _positive("predict_at", list(predict_at))) if predict_at else ()
        self.order = np.argsort(budgets, kind="stable")
        sorted_b = budgets[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_b[1:] != sorted_b[:-1]])
        self.counts = np.diff(np.r_[self.starts, self.n])
        self.x = np.log(sorted_b)
        self.y_lr = np.log(lrs[self.order])
        self.y_batch = np.log(batches[self.order])
        self.names = ["alpha_lr", "k_lr", "alpha_batch", "k_batch"]
        for c in self.predict_at:
            self.names += [f"lr@{c:g}", f"batch@{c:g}"]

    def selection(self, losses) -> np.ndarray:
        """Máscara ``(réplicas, treinos)`` dos quase ótimos, na ordem original dos treinos."""
        lo = _check_losses(losses, self.n)[:, self.order]
        with np.errstate(invalid="ignore"):
            best = np.fmin.reduceat(np.where(np.isfinite(lo), lo, np.inf), self.starts, axis=1)
            sel_sorted = lo <= np.repeat(best * (1 + self.tolerance), self.counts, axis=1)
        sel = np.empty_like(sel_sorted)
        sel[:, self.order] = sel_sorted
        return sel

    def _laws(self, x, y_lr, y_b, w=None) -> dict[str, np.ndarray]:
        a_lr, c_lr = _loglog(x, y_lr, w)
        a_b, c_b = _loglog(x, y_b, w)
        values = {"alpha_lr": a_lr, "k_lr": np.exp(c_lr), "alpha_batch": a_b, "k_batch": np.exp(c_b)}
        for c in self.predict_at:
            values[f"lr@{c:g}"] = np.exp(c_lr + a_lr * np.log(c))
            values[f"batch@{c:g}"] = np.exp(c_b + a_b * np.log(c))
        return values

    def batch(self, losses):
        losses = _check_losses(losses, self.n)
        w = self.selection(losses)[:, self.order].astype(float)
        reasons = np.full(losses.shape[0], "", dtype=object)
        dead = ~np.logical_or.reduceat(np.isfinite(losses[:, self.order]), self.starts, axis=1)
        for j in range(self.keys.size - 1, -1, -1):  # o menor orçamento com problema dá o motivo
            reasons[dead[:, j]] = f"todos os treinos divergiram no orçamento {_fmt(self.keys[j])}"
        reasons[(w.sum(axis=1) < 3) & (reasons == "")] = "menos de 3 pontos quase ótimos"
        shape = w.shape
        values = self._laws(np.broadcast_to(self.x, shape), np.broadcast_to(self.y_lr, shape),
                            np.broadcast_to(self.y_batch, shape), w)
        for v in values.values():
            v[reasons != ""] = np.nan
        return values, reasons

    # --- a superfície ----------------------------------------------------------------------

    def _surfaces(self, losses, noise=None):
        """Por orçamento: ``(fatia, t, s, features, ok, coef, cov_unit, caixa)`` do ajuste ponderado.

        ``cov_unit`` é a covariância (sanduíche) dos coeficientes com o ``σ`` de ``noise``
        (em ``ln perda``); as colunas cúbicas ausentes ficam com coeficiente e variância 0.
        """
        lo = _check_losses(losses, self.n)[0][self.order]
        out = []
        for j, (s0, m) in enumerate(zip(self.starts, self.counts)):
            sl = slice(s0, s0 + m)
            ok = np.isfinite(lo[sl])
            t = self.y_lr[sl] - self.y_lr[sl][ok].mean() if ok.any() else self.y_lr[sl]
            v = self.y_batch[sl] - self.y_batch[sl][ok].mean() if ok.any() else self.y_batch[sl]
            feats = _features(t, v)
            nt, nv = np.unique(t[ok]).size, np.unique(v[ok]).size
            cols = [0, 1, 2, 3, 4, 5] + ([6] if nt >= 4 else []) + ([7] if nv >= 4 else [])
            if nt < 3 or nv < 3 or np.linalg.matrix_rank(feats[ok][:, cols]) < len(cols):
                raise ValueError(f"a grade do orçamento {_fmt(self.keys[j])} não sustenta uma bacia "
                                 "(são necessárias 3 taxas e 3 lotes ou mais, sem divergir).")
            y = np.log(lo[sl][ok])
            w = np.exp(-(y - y.min()) / self.local_width)
            d = feats[ok][:, cols]
            proj = np.linalg.solve(d.T @ (w[:, None] * d), d.T * w)  # coef = proj @ y
            coef = np.zeros(8)
            coef[cols] = proj @ y
            cov = np.zeros((8, 8))
            if noise is not None:
                sd = np.asarray(noise.sigma_at(np.exp(d @ coef[cols])), dtype=float) / np.exp(d @ coef[cols])
                cov[np.ix_(cols, cols)] = (proj * sd**2) @ proj.T
            box = (t[ok].min(), t[ok].max(), v[ok].min(), v[ok].max())
            out.append((sl, self.y_lr[sl][ok].mean(), self.y_batch[sl][ok].mean(), feats, ok, coef, cov, box))
        return out

    def smooth(self, losses) -> np.ndarray:
        """A superfície ajustada em cada treino (``NaN`` onde o treino divergiu)."""
        res = np.full(self.n, np.nan)
        for sl, _, _, feats, ok, coef, _, _ in self._surfaces(losses):
            block = np.full(ok.size, np.nan)
            block[ok] = np.exp(feats[ok] @ coef)
            res[sl] = block
        out = np.empty(self.n)
        out[self.order] = res
        return out

    @staticmethod
    def _minimum(coef: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
        """O mínimo de cada superfície (linhas de ``coef``) na caixa: grade 21 × 21 e 3 passos de Newton."""
        t0, t1, v0, v1 = box
        tg, vg = np.meshgrid(np.linspace(t0, t1, 21), np.linspace(v0, v1, 21), indexing="ij")
        tg, vg = tg.ravel(), vg.ravel()
        i = np.argmin(coef @ _features(tg, vg).T, axis=1)
        t, v = tg[i], vg[i]
        c = coef.T
        for _ in range(3):
            gt = c[1] + 2 * c[3] * t + c[5] * v + 3 * c[6] * t * t
            gv = c[2] + 2 * c[4] * v + c[5] * t + 3 * c[7] * v * v
            htt, hvv, htv = 2 * c[3] + 6 * c[6] * t, 2 * c[4] + 6 * c[7] * v, c[5]
            det = htt * hvv - htv * htv
            good = (htt > 0) & (det > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                dt = np.where(good, (hvv * gt - htv * gv) / det, 0.0)
                dv = np.where(good, (htt * gv - htv * gt) / det, 0.0)
            tn, vn = np.clip(t - dt, t0, t1), np.clip(v - dv, v0, v1)
            better = np.einsum("rk,rk->r", coef, _features(tn, vn)) <= np.einsum("rk,rk->r", coef, _features(t, v))
            t, v = np.where(better, tn, t), np.where(better, vn, v)
        return t, v

    def posterior(self, losses, noise, sigmas, rng):
        """Superfícies sorteadas (uma por réplica) → ``(centros, alvos, motivos)``.

        Os alvos são as leis ajustadas pelos **mínimos** das superfícies sorteadas (não pela
        seleção numa grade): o valor verdadeiro das quantidades no mundo do bootstrap.
        """
        n_rep = len(sigmas)
        scale = _sigma_scale(noise, sigmas, n_rep)
        centres = np.full((n_rep, self.n), np.nan)
        cs = np.full((n_rep, self.n), np.nan)
        opt_lr, opt_b = [], []
        for sl, tm, vm, feats, ok, coef, cov, box in self._surfaces(losses, noise):
            draws = _draw_coef(coef, cov, scale, rng)
            block = np.full((n_rep, ok.size), np.nan)
            block[:, ok] = np.exp(draws @ feats[ok].T)
            cs[:, sl] = block
            t, v = self._minimum(draws, box)
            opt_lr.append(tm + t)
            opt_b.append(vm + v)
        centres[:, self.order] = cs
        x = np.broadcast_to(self.x[self.starts], (n_rep, self.starts.size))
        targets = self._laws(x, np.stack(opt_lr, axis=1), np.stack(opt_b, axis=1))
        return centres, targets, np.full(n_rep, "", dtype=object)


# --- IsoFLOP (DeepSeek §3.2) -------------------------------------------------------------------

class IsoFlopPipeline(_Pipeline):
    """Parábola de cada orçamento → vértices → leis de escala, dados e perda ótimas, vetorizadas.

    ``scales`` é a representação da escala (M, N, 6N₁…), ``tokens`` os tokens de treino; a
    parábola é ``L`` contra ``log10(escala)``, os tokens no vértice vêm da reta de
    ``log10 D`` contra ``log10(escala)`` no orçamento e ``C_opt = escala_opt · D_opt``,
    como em :func:`~.isoflop.fit_isoflop` (com que coincide quando todos os vértices são
    interiores). Quantidades: ``a``, ``b``, ``scale_base``, ``data_base``, ``loss_k``,
    ``loss_alpha`` e, para cada ``C`` em ``predict_at``, ``scale@C``, ``tokens@C``, ``loss@C``.

    **Escolha documentada:** um vértice fora da faixa medida, ou uma parábola sem mínimo, em
    qualquer orçamento, faz a réplica inteira falhar com esse motivo — nunca se ajusta com menos
    orçamentos em silêncio. Nos dados observados isso é um erro: o desenho tem de ter vértice
    interior em todos os orçamentos (amplie a grade ou tire o orçamento explicitamente).
    O bootstrap padrão sorteia em torno das parábolas ajustadas (``default_centre = "smooth"``,
    intervalo percentil); ``posterior`` fica disponível para comparação.
    """

    default_centre = "smooth"

    def __init__(self, budgets, scales, tokens, *, predict_at=()):
        budgets, scales, tokens = _positive("budgets", budgets), _positive("scales", scales), _positive("tokens", tokens)
        if not (budgets.shape == scales.shape == tokens.shape):
            raise ValueError(f"budgets, scales e tokens devem ter o mesmo tamanho; recebi "
                             f"{budgets.size}, {scales.size} e {tokens.size}.")
        self.keys = np.unique(budgets)
        if self.keys.size < 3:
            raise ValueError(f"as leis de alocação precisam de 3 orçamentos ou mais; recebi {self.keys.size}.")
        self.n = budgets.size
        self.predict_at = tuple(float(c) for c in _positive("predict_at", list(predict_at))) if predict_at else ()
        self.groups = []
        for k in self.keys:
            idx = np.flatnonzero(budgets == k)
            u = np.log10(scales[idx])
            if np.unique(u).size < 3:
                raise ValueError(f"o orçamento {_fmt(k)} tem {np.unique(u).size} escalas distintas; "
                                 "uma parábola precisa de 3 ou mais.")
            um = u.mean()
            uc = u - um
            vander = np.stack([np.ones_like(uc), uc, uc * uc], axis=1)
            d1, d0 = np.polyfit(uc, np.log10(tokens[idx]), 1)
            self.groups.append({"idx": idx, "um": um, "lo": uc.min(), "hi": uc.max(), "vander": vander,
                                "pinv": np.linalg.pinv(vander), "d0": d0, "d1": d1})
        self.names = ["a", "b", "scale_base", "data_base", "loss_k", "loss_alpha"]
        for c in self.predict_at:
            self.names += [f"scale@{c:g}", f"tokens@{c:g}", f"loss@{c:g}"]

    def vertices(self, losses):
        """``(u*, perda no vértice, motivos)`` por réplica e orçamento; ``u* = log10(escala_opt)``."""
        losses = _check_losses(losses, self.n)
        r, g = losses.shape[0], len(self.groups)
        u_star = np.empty((r, g))
        l_star = np.empty((r, g))
        reasons = np.full(r, "", dtype=object)
        for j in range(g - 1, -1, -1):  # o menor orçamento com problema dá o motivo
            grp = self.groups[j]
            block = losses[:, grp["idx"]]
            c0, c1, c2 = (block @ grp["pinv"].T).T
            with np.errstate(invalid="ignore", divide="ignore"):
                v = -c1 / (2 * c2)
                no_min = ~(c2 > 0)
                outside = ~no_min & ~((v >= grp["lo"]) & (v <= grp["hi"]))
            reasons[outside] = f"vértice fora da faixa medida no orçamento {_fmt(self.keys[j])}"
            reasons[no_min] = f"parábola sem mínimo no orçamento {_fmt(self.keys[j])}"
            reasons[~np.isfinite(block).all(axis=1)] = f"perda não finita no orçamento {_fmt(self.keys[j])}"
            u_star[:, j] = grp["um"] + v
            l_star[:, j] = c0 + c1 * v + c2 * v * v
        return u_star, l_star, reasons

    def batch(self, losses):
        u_star, l_star, reasons = self.vertices(losses)
        d0 = np.array([grp["d0"] for grp in self.groups])
        d1 = np.array([grp["d1"] for grp in self.groups])
        um = np.array([grp["um"] for grp in self.groups])
        log_d = d0 + d1 * (u_star - um)  # log10 D_opt
        with np.errstate(invalid="ignore"):
            reasons[(reasons == "") & ~(l_star > 0).all(axis=1)] = "perda ótima ≤ 0 em algum orçamento"
        fine = reasons == ""
        x = (u_star + log_d) * LN10  # ln C_opt
        a, ca = _loglog(x, u_star * LN10)
        b, cb = _loglog(x, log_d * LN10)
        la, cl = _loglog(x, np.log(np.where(fine[:, None], l_star, 1.0)))
        with np.errstate(over="ignore", invalid="ignore"):
            values = {"a": a, "b": b, "scale_base": np.exp(ca), "data_base": np.exp(cb), "loss_k": np.exp(cl),
                      "loss_alpha": la}
            for c in self.predict_at:
                lc = np.log(c)
                values[f"scale@{c:g}"] = np.exp(ca + a * lc)
                values[f"tokens@{c:g}"] = np.exp(cb + b * lc)
                values[f"loss@{c:g}"] = np.exp(cl + la * lc)
        for v in values.values():
            v[~fine] = np.nan
        return values, reasons

    def smooth(self, losses) -> np.ndarray:
        """A parábola de cada orçamento avaliada nas escalas medidas."""
        losses = _check_losses(losses, self.n)[0]
        if not np.isfinite(losses).all():
            raise ValueError("as perdas IsoFLOP devem ser finitas: tire do desenho os treinos que divergiram.")
        out = np.empty_like(losses)
        for grp in self.groups:
            out[grp["idx"]] = grp["vander"] @ (grp["pinv"] @ losses[grp["idx"]])
        return out

    def posterior(self, losses, noise, sigmas, rng):
        """Parábolas sorteadas dentro da incerteza do ajuste → ``(centros, alvos, motivos)``.

        O alvo é o pipeline aplicado à própria parábola sorteada (sem ruído): o vértice exato.
        Uma parábola sorteada sem vértice interior conta como falha, com o motivo.
        """
        fitted = self.smooth(losses)
        n_rep = len(sigmas)
        scale = _sigma_scale(noise, sigmas, n_rep)
        centres = np.empty((n_rep, self.n))
        for grp in self.groups:
            coef = grp["pinv"] @ fitted[grp["idx"]]
            sd = np.asarray(noise.sigma_at(fitted[grp["idx"]]), dtype=float)
            cov = (grp["pinv"] * sd**2) @ grp["pinv"].T
            centres[:, grp["idx"]] = _draw_coef(coef, cov, scale, rng) @ grp["vander"].T
        targets, reasons = self.batch(centres)
        reasons = np.array([f"superfície sorteada: {r}" if r else "" for r in reasons], dtype=object)
        return centres, targets, reasons
