"""Intervalos por reamostragem, estratificada por grupo quando é o caso (capítulos 1 e 7–9).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .power import _validate_xy, fit_power_law, fit_power_law_offset

__all__ = ["BootstrapResult", "bootstrap", "bootstrap_power_law"]


@dataclass(frozen=True)
class BootstrapResult:
    """Estimativas num conjunto de dados e a sua distribuição por reamostragem.

    ``estimate`` vem do ajuste nos dados originais; ``samples[nome]`` tem um valor
    por reamostragem bem-sucedida; ``n_failed`` conta as reamostragens em que o
    ajuste não foi possível (por exemplo, todos os pontos sorteados iguais).
    Os intervalos são percentis da distribuição (bootstrap *percentil*).
    """

    estimate: dict[str, float]
    samples: dict[str, np.ndarray] = field(repr=False)
    level: float
    n_boot: int
    n_failed: int

    def ci(self, name: str, level: float | None = None) -> tuple[float, float]:
        """Intervalo percentil de ``name`` no nível ``level`` (padrão: o da reamostragem)."""
        if name not in self.samples:
            raise ValueError(f"parâmetro desconhecido {name!r}; os disponíveis são {sorted(self.samples)}.")
        level = self.level if level is None else level
        if not 0 < level < 1:
            raise ValueError(f"o nível de confiança deve estar em (0, 1); recebi {level}.")
        s = self.samples[name]
        lo, hi = np.quantile(s, [0.5 - level / 2, 0.5 + level / 2])
        return float(lo), float(hi)

    def intervals(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        """Todos os intervalos, ``{nome: (baixo, alto)}``."""
        return {name: self.ci(name, level) for name in self.samples}

    def std(self, name: str) -> float:
        """Desvio padrão da distribuição de ``name`` (um "erro-padrão bootstrap")."""
        return float(np.std(self.samples[name], ddof=1))


def bootstrap(fn, *arrays, groups=None, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
              max_failed_fraction: float = 0.5) -> BootstrapResult:
    """Reamostra as *linhas* de ``arrays`` com reposição e reaplica ``fn``.

    ``fn(*arrays) -> dict[str, float]`` é o ajuste completo (as mesmas linhas em
    todos os vetores). Com ``groups``, a reamostragem é estratificada: cada grupo
    (por exemplo, um orçamento de computação) é reamostrado dentro de si e mantém o
    seu tamanho — a estrutura do experimento é preservada. Reamostragens em que
    ``fn`` levanta ``ValueError`` contam como falhas; se passarem de
    ``max_failed_fraction``, o erro é levantado.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"n_boot deve ser um inteiro ≥ 10; recebi {n_boot!r}.")
    if not 0 < level < 1:
        raise ValueError(f"o nível de confiança deve estar em (0, 1); recebi {level}.")
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("bootstrap precisa de pelo menos um vetor de dados.")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"os vetores devem ter o mesmo tamanho; recebi {[len(a) for a in arrays]}.")
    estimate = {k: float(v) for k, v in fn(*arrays).items()}
    if groups is None:
        strata = [np.arange(n)]
    else:
        groups = np.asarray(groups)
        if len(groups) != n:
            raise ValueError(f"groups deve ter {n} elementos; recebi {len(groups)}.")
        strata = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in estimate}
    failed = 0
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(s, size=s.size, replace=True) for s in strata])
        try:
            out = fn(*(a[idx] for a in arrays))
        except (ValueError, np.linalg.LinAlgError):
            failed += 1
            continue
        for k in samples:
            samples[k].append(float(out[k]))
    if failed > max_failed_fraction * n_boot:
        raise ValueError(
            f"{failed} de {n_boot} reamostragens falharam (limite {max_failed_fraction:.0%}); "
            "há pontos de menos para um intervalo bootstrap confiável."
        )
    return BootstrapResult(estimate=estimate, samples={k: np.asarray(v) for k, v in samples.items()},
                           level=level, n_boot=n_boot, n_failed=failed)


def bootstrap_power_law(x, y, *, offset: bool = False, n_boot: int = 1000, level: float = 0.95,
                        seed: int = 0) -> BootstrapResult:
    """Intervalos bootstrap para ``y = k·x^α`` (``offset=False``) ou ``y = E + k·x^-α``.

    Parâmetros devolvidos: ``k`` e ``alpha`` (e ``E`` com ``offset=True``), na mesma
    convenção de sinal de :func:`fit_power_law` / :func:`fit_power_law_offset`.
    """
    x, y = _validate_xy(x, y, min_points=4 if offset else 3)

    def fn(xs, ys):
        if offset:
            f = fit_power_law_offset(xs, ys)
            return {"E": f.E, "k": f.k, "alpha": f.alpha}
        f = fit_power_law(xs, ys)
        return {"k": f.k, "alpha": f.alpha}

    return bootstrap(fn, x, y, n_boot=n_boot, level=level, seed=seed)
