"""Os ajustes do livro, um módulo por método.

- :mod:`.power` — ``y = k·x^α`` em log-log e ``y = E + k·x^(-α)`` com termo irredutível,
  ambos com ruído multiplicativo e intervalos de Wald (capítulo 1 mede quando eles falham);
- :mod:`.bootstrap` — intervalos por reamostragem, estratificada por orçamento quando é o caso;
- :mod:`.critical` — passos até uma meta e o lote crítico (capítulo 6);
- :mod:`.hyper` — a região quase ótima de uma grade e as leis ``η_opt(C)``, ``B_opt(C)``
  (DeepSeek LLM §3.1; capítulo 7);
- :mod:`.isoflop` — a parábola de cada orçamento, o vértice, as leis ``M_opt ∝ C^a``,
  ``D_opt ∝ C^b`` e da perda ótima, e o intervalo de predição (§3.2; capítulos 8–9);
- :mod:`.parametric` — ``L = E + A/x^α + B/D^β`` (Chinchilla, abordagem 3) e os ganhos
  marginais de parâmetros e dados (capítulos 8 e 11);
- :mod:`.curves` — extrapolação de curvas de treino e parada antecipada (capítulo 11);
- :mod:`.noise` — o modelo de ruído entre sementes (σ com intervalo qui-quadrado) e o da avaliação;
- :mod:`.calibrated` — o bootstrap paramétrico do pipeline inteiro sob o ruído medido, com as
  falhas contadas por motivo, e os pipelines de hiperparâmetros e IsoFLOP.

Todos os nomes públicos ficam também aqui: ``from helpers.laws import fit; fit.near_optimal(...)``.
"""

from . import bootstrap as _bootstrap
from . import critical as _critical
from . import curves as _curves
from . import hyper as _hyper
from . import isoflop as _isoflop
from . import parametric as _parametric
from . import power as _power
from . import noise as _noise
from . import calibrated as _calibrated

__all__ = [name for _m in (_power, _bootstrap, _critical, _hyper, _isoflop, _parametric, _curves)
           for name in _m.__all__]
__all__ += _noise.__all__ + _calibrated.__all__

from .power import *  # noqa: E402,F401,F403
from .bootstrap import *  # noqa: E402,F401,F403
from .critical import *  # noqa: E402,F401,F403
from .hyper import *  # noqa: E402,F401,F403
from .isoflop import *  # noqa: E402,F401,F403
from .parametric import *  # noqa: E402,F401,F403
from .curves import *  # noqa: E402,F401,F403
from .noise import *  # noqa: E402,F401,F403
from .calibrated import *  # noqa: E402,F401,F403
