"""O passo de decodificação de uma camada do 7B e do 67B (capítulo 4): tabela, frases e figura.

O oráculo é um passo que só lê memória: com ``ms = bytes / (10 GB/s)`` exatos, a inclinação do
tempo contra os bytes é 1 e cada aceleração é a razão de bytes (100%)."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest

from helpers.chapters import cap04_decode as D

GBS = 10.0


def _rows(fixed_ms: float = 0.0):
    rows = []
    for shape, d, h in (("7B", 4096, 32), ("67B", 8192, 64)):
        for v, kv in (("MHA", h), ("GQA-8", 8), ("MQA", 1)):
            for t in (512, 4096):
                kv_bytes = 2 * 4 * kv * t * 128 * 4
                w = ((h + 2 * kv) * 128 * d + d * h * 128) * 4
                for kind, read in (("atencao", kv_bytes), ("camada", kv_bytes + w)):
                    ms = read / (GBS * 1e9) * 1e3 + fixed_ms
                    rows.append({"shape": shape, "variant": v, "kv_heads": kv, "heads": h, "d_model": d,
                                 "d_head": 128, "batch": 4, "cache_len": t, "kind": kind, "ms": ms,
                                 "kv_bytes": kv_bytes, "weight_bytes": w, "bytes_read": read,
                                 "gb_per_s": read / (ms / 1e3) / 1e9})
    return rows


def _bench(rows):
    return {"cpu": {"meta": {"dtype": "float32", "device_name": "teste"}, "rows": rows}}


def test_a_memory_bound_step_reaches_the_byte_ratio():
    s = D.decode_layer_section(_bench(_rows()))
    n = s.numbers
    assert n["dl_67b_mqa_regime"] == n["dl_7b_mha_regime"] == "limitada pela leitura de memória"
    assert n["dl_67b_mqa_macs_por_valor"] == 64 and n["dl_7b_gqa8_macs_por_valor"] == 4
    assert n["dl_67b_mqa_atencao"] == "64 vezes mais rápida, 100% da razão de bytes (64×)"
    assert n["dl_7b_gqa8_atencao"].startswith("4 vezes mais rápida, 100%")
    assert n["dl_67b_mqa_acel_camada"] == n["dl_67b_mqa_bytes_camada"]  # a camada também só lê memória
    assert n["dl_gbs_min"] == n["dl_gbs_max"] == n["dl_gbs_pico"] == "10"
    assert n["dl_acompanha_frase"] == "A aceleração acompanha a queda dos bytes"
    assert s.tables["decode_camada"].count("\n") == 2 + 6 - 1  # cabeçalho, separador e 6 linhas


def test_fixed_costs_lower_the_slope_and_the_words_say_so():
    n = D.decode_layer_section(_bench(_rows(fixed_ms=5000.0))).numbers
    assert n["dl_67b_mha_regime"] == "limitada pela leitura de memória"  # a que mais lê define o pico
    assert n["dl_67b_mqa_regime"] == "limitada pelas contas, não pela memória"
    assert n["dl_7b_gqa8_atencao"] == "nenhuma aceleração que passe do ruído"
    assert n["dl_acompanha_frase"] == "Por isso a aceleração não acompanha a queda dos bytes"


def test_attention_flops_by_hand():
    row = {"batch": 4, "heads": 64, "cache_len": 4096, "d_head": 128, "ms": 10.0}
    assert D.attention_gflops(row) == pytest.approx(4 * 4 * 64 * 4096 * 128 / 0.01 / 1e9)


def test_regime_words():
    assert D.regime(1.0, 0.2) == "limitada pela leitura de memória"
    assert D.regime(0.07, 1.0) == "limitada pelas contas, não pela memória"
    assert D.regime(0.5, 0.48) == "entre os dois limites"


def test_missing_file_and_bad_file(tmp_path):
    assert D.decode_layer_section({}).numbers == {"dl_disponivel": "não"}
    (tmp_path / D.DECODE_FILES["cpu"]).write_text(json.dumps({"meta": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"faltam os campos \['rows'\]; gere-o com benchmarks/decodificacao.py"):
        D.load_decode_benchmarks(tmp_path)


def test_committed_benchmark_loads_and_plots():
    bench = D.load_decode_benchmarks()
    assert "cpu" in bench, "results/bench_decodificacao_cpu.json é versionado e o capítulo 4 o lê"
    s = D.decode_layer_section(bench)
    assert s.numbers["dl_T"] == "4.096" and s.numbers["dl_B"] >= 4
    fig = D.plot_decode_layer(s)
    assert fig.axes[0].get_xscale() == "log"
    plt.close(fig)
