"""helpers — a pequena biblioteca do livro "Leis de Escala na Prática".

Um módulo por responsabilidade:

- :mod:`helpers.config` — ``ModelConfig`` e as predefinições (7B, 67B, família minúscula);
- :mod:`helpers.model` — o *decoder* DeepSeek/LLaMA (RMSNorm, RoPE, SwiGLU, GQA);
- :mod:`helpers.attention` — o *kernel* de atenção com consultas agrupadas;
- :mod:`helpers.flops` — parâmetros e FLOPs em todas as convenções (6N, 6N₁, 6N₂, M, medido);
- :mod:`helpers.deepseek` — as leis e tabelas publicadas do DeepSeek LLM;
- :mod:`helpers.literature` — as leis publicadas de Kaplan et al. e do Chinchilla;
- :mod:`helpers.fit` — ajustes de leis de potência com incerteza, bootstrap, região quase ótima,
  perfis IsoFLOP e a abordagem 3 do Chinchilla;
- :mod:`helpers.data` — o corpus embutido, os tokenizadores, a divisão e a amostragem de lotes;
- :mod:`helpers.schedules` — aquecimento + degraus do DeepSeek, cosseno, constante;
- :mod:`helpers.trainer` — ``train(model_config, train_config) -> RunResult``;
- :mod:`helpers.sweeps` — varreduras declarativas e resultados retomáveis (linha de comando);
- :mod:`helpers.scaling` — dos resultados às leis dos capítulos 7–9 e às especificações seguintes;
- :mod:`helpers.plots` — o estilo das figuras e tabelas do livro.
"""

__version__ = "0.1.0"
