"""helpers — a pequena biblioteca do livro "Leis de Escala na Prática".

Uma casa em andares: cada camada importa só a própria e as de baixo (``tests/test_layers.py``
confere o grafo de importações). Entre parênteses, o capítulo que explica cada módulo.

``model`` — o modelo e a sua contagem de custo
    - :mod:`helpers.model.config` — ``ModelConfig`` com os nomes do Hugging Face; 7B, 67B e a família minúscula (2)
    - :mod:`helpers.model.transformer` — o *decoder* DeepSeek/LLaMA: RMSNorm, RoPE, SwiGLU, GQA, cache KV (2, 4)
    - :mod:`helpers.model.attention` — o *kernel* de atenção com consultas agrupadas e o tamanho do cache (4)
    - :mod:`helpers.model.flops` — parâmetros e FLOPs: 6N, 6N₁, 6N₂, M e os medidos (3)

``engine`` — o motor de treino
    - :mod:`helpers.engine.data` — o corpus embutido, tokenizadores, divisão, cache, lotes e validação (5)
    - :mod:`helpers.engine.degradations` — corpora de treino degradados: *boilerplate*, ruído, linhas embaralhadas (10)
    - :mod:`helpers.engine.schedules` — aquecimento + degraus do DeepSeek, cosseno, constante (5)
    - :mod:`helpers.engine.runs` — ``TrainConfig``, ``RunResult``, ``run_id`` e a proveniência de cada treino (5)
    - :mod:`helpers.engine.trainer` — ``train(model_config, train_config) -> RunResult``: o passo, a avaliação (5)
    - :mod:`helpers.engine.specs` — as especificações de varredura (JSON de ``experiments/``), validadas (5)
    - :mod:`helpers.engine.results_store` — o arquivo de resultados à prova de queda e de vários processos (5)
    - :mod:`helpers.engine.workers` — *workers* de uma *thread* que dividem uma varredura (5)
    - :mod:`helpers.engine.sweeps` — a linha de comando das varreduras: ``run``, ``status`` (5–10)

``laws`` — as leis: publicadas e ajustadas
    - :mod:`helpers.laws.deepseek` — as leis e tabelas publicadas do DeepSeek LLM (3, 6–10)
    - :mod:`helpers.laws._checks` — a validação das entradas das leis publicadas
    - :mod:`helpers.laws.literature` — as leis de Kaplan et al. e do Chinchilla (1, 8)
    - :mod:`helpers.laws.fit` — os ajustes, um módulo por método: ``power`` (1), ``bootstrap`` (1, 7–9),
      ``critical`` (6), ``hyper`` (7), ``isoflop`` (8–9), ``parametric`` (8, 11), ``curves`` (11);
      o protocolo v2: ``noise`` (o modelo de ruído entre sementes e o da avaliação), ``calibrated`` (o
      *bootstrap* paramétrico do pipeline inteiro) e ``pipelines`` (seleção → parábolas → leis, vetorizados) (7–9)
    - :mod:`helpers.laws.calibration` — a cobertura medida dos intervalos em dados sintéticos de lei conhecida (7–9)
    - :mod:`helpers.laws.refine` — grades sem borda: relatório de bordas e a especificação estendida (7–8)
    - :mod:`helpers.laws.predictions` — previsões escritas na especificação antes do treino, conferência e *backtest* (9)

``presentation`` — o que o leitor vê
    - :mod:`helpers.presentation.plots` — o estilo das figuras e a formatação de números e tabelas em português
    - :mod:`helpers.presentation.widgets` — o explorador de qualidade e a calculadora (ipywidgets e HTML/JS) (10)

``chapters`` — um módulo por capítulo: análise, tabelas, números colados, frases geradas e figuras
    - :mod:`helpers.chapters.common` — ler resultados, o ruído entre sementes, escrever especificações
    - :mod:`helpers.chapters.protocol_v2` / :mod:`helpers.chapters.protocol_v2_specs` — a cadeia do protocolo v2:
      grade de hiperparâmetros, sementes, IsoFLOP e a previsão escrita antes do treino (7–9)
    - :mod:`helpers.chapters.cap01` — leis de potência em dados sintéticos; cobertura dos intervalos de Wald (1)
    - :mod:`helpers.chapters.cap02` — as peças do DeepSeek, o 7B, o 67B e a família minúscula do livro (2)
    - :mod:`helpers.chapters.cap03` — N, 6N₁, 6N₂ e M contra os FLOPs medidos; Tabelas 2 e 3 (3)
    - :mod:`helpers.chapters.cap04` — GQA: *uptraining* e profundidade × largura (especificações e análise) (4)
    - :mod:`helpers.chapters.cap04_bench` / :mod:`helpers.chapters.cap04_plots` — o *kernel*, o cache KV e os benchmarks (4)
    - :mod:`helpers.chapters.cap05` — tokenizadores, agendas de taxa e reuso do primeiro estágio (5)
    - :mod:`helpers.chapters.cap06` — tamanho do lote e comprimento de contexto (6)
    - :mod:`helpers.chapters.cap07` — leis de hiperparâmetros (7)
    - :mod:`helpers.chapters.cap08` — perfis IsoFLOP e a escada de tamanhos (8)
    - :mod:`helpers.chapters.cap09` — a previsão escrita antes do treino, e o treino (9)
    - :mod:`helpers.chapters.cap10` — os corpora de qualidade, a sua especificação e a análise (10)
    - :mod:`helpers.chapters.cap11` / :mod:`helpers.chapters.cap11_alocacao` — curvas de treino e o próximo FLOP (11)
"""

__version__ = "0.1.0"
