"""O corpus embutido, os tokenizadores, a divisão treino/validação e a amostragem de lotes.

O corpus padrão é o **código-fonte Python** que toda instalação do projeto já tem:
a biblioteca padrão do Python e os pacotes fixados em ``requirements.txt`` (torch,
numpy, scipy, matplotlib). Nada é baixado; a mesma versão do Python e das
dependências dá exatamente os mesmos bytes, e a *impressão digital* (SHA-256 do
conteúdo) registrada em cada treino diz qual corpus foi usado. O leitor pode apontar
:func:`corpus_spec` para uma pasta própria de arquivos de texto.

Os tokens ficam em arquivos ``.bin`` mapeados em memória, num cache em disco
identificado por corpus, tokenizador e divisão; a amostragem de janelas aleatórias
usa um ``torch.Generator`` explícito, para que a mesma semente dê os mesmos lotes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import sysconfig
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .compressibility import band_mask, check_band, document_ratio, gzip_ratio, is_band_validation
from .degradations import degrade

__all__ = [
    "DEFAULT_PACKAGES",
    "CorpusSpec",
    "corpus_spec",
    "Document",
    "list_documents",
    "is_validation",
    "TokenizerSpec",
    "PreparedData",
    "prepare_data",
    "cache_dir",
    "sample_batch",
    "EVAL_SAMPLINGS",
    "validation_starts",
    "validation_batches",
    "separator_ids",
    "describe_validation_sample",
    "bits_per_byte",
]

# Pacotes fixados em requirements.txt cujo código entra no corpus padrão. O
# transformers fica de fora de propósito: boa parte dos seus arquivos são cópias
# quase idênticas de outros ("# Copied from ..."), o que vazaria texto do treino
# para a validação.
DEFAULT_PACKAGES = ("torch", "numpy", "scipy", "matplotlib")
DOCUMENT_SEPARATOR = b"\x00"  # não ocorre em código-fonte; marca o fim de cada documento


@dataclass(frozen=True)
class CorpusSpec:
    """Qual texto usar. ``kind="python"``: o corpus embutido; ``kind="folder"``: uma pasta."""

    kind: str = "python"
    path: str | None = None
    suffixes: tuple[str, ...] = (".py",)
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    validation_fraction: float = 0.01
    #: Degradação da parte de **treino** (a validação fica limpa): ver :mod:`helpers.engine.degradations`.
    degradation: str = "none"
    degradation_level: float = 0.0
    #: Uma faixa de compressibilidade (frações dos *bytes*, ver :mod:`helpers.engine.compressibility`):
    #: o treino só com esses documentos e uma validação própria deles, além da comum.
    gzip_band: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        from .degradations import check_degradation

        check_degradation(self.degradation, self.degradation_level)
        object.__setattr__(self, "gzip_band", check_band(self.gzip_band))
        if self.kind not in ("python", "folder"):
            raise ValueError(f"kind deve ser 'python' ou 'folder'; recebi {self.kind!r}.")
        if self.kind == "folder" and not self.path:
            raise ValueError("um corpus do tipo 'folder' precisa de path (a pasta com os arquivos de texto).")
        if not 0 < self.validation_fraction < 0.5:
            raise ValueError(
                f"validation_fraction deve estar em (0; 0,5); recebi {self.validation_fraction}."
            )
        if not self.suffixes or not all(isinstance(s, str) and s.startswith(".") for s in self.suffixes):
            raise ValueError(f"suffixes deve listar extensões como '.txt'; recebi {self.suffixes!r}.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["suffixes"], d["packages"] = list(self.suffixes), list(self.packages)
        if self.degradation == "none":  # o corpus limpo mantém o dicionário (e os run_id) de antes
            del d["degradation"], d["degradation_level"]
        if self.gzip_band is None:
            del d["gzip_band"]
        else:
            d["gzip_band"] = list(self.gzip_band)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CorpusSpec":
        d = dict(d)
        d["suffixes"] = tuple(d.get("suffixes", (".py",)))
        d["packages"] = tuple(d.get("packages", DEFAULT_PACKAGES))
        return cls(**d)


def corpus_spec(path: str | os.PathLike | None = None, *, suffixes=(".txt", ".md", ".py"), validation_fraction=0.01) -> CorpusSpec:
    """O corpus embutido (``path=None``) ou uma pasta de arquivos de texto do leitor."""
    if path is None:
        return CorpusSpec(validation_fraction=validation_fraction)
    p = Path(path)
    if not p.is_dir():
        raise ValueError(f"a pasta do corpus não existe: {str(p)!r}.")
    return CorpusSpec(kind="folder", path=str(p.resolve()), suffixes=tuple(suffixes), validation_fraction=validation_fraction)


@dataclass(frozen=True)
class Document:
    """Um arquivo do corpus: ``key`` é o caminho relativo estável (igual em toda instalação)."""

    key: str
    path: Path


def _roots(spec: CorpusSpec) -> list[tuple[str, Path]]:
    if spec.kind == "folder":
        return [("pasta", Path(spec.path))]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    roots = [("stdlib", stdlib)]
    for name in spec.packages:
        # Só o endereço do pacote: encontrá-lo sem importá-lo poupa ~0,25 s (scipy, matplotlib).
        found = importlib.util.find_spec(name)
        if found is None or not found.origin:  # pragma: no cover - dependências fixadas
            raise ValueError(f"o pacote {name!r} do corpus padrão não está instalado.")
        roots.append((name, Path(found.origin).parent))
    return roots


def list_documents(spec: CorpusSpec) -> list[Document]:
    """Todos os documentos do corpus, em ordem determinística (pela chave).

    Percorre as pastas com ``os.walk``, podando ``__pycache__`` (e, na biblioteca padrão,
    ``site-packages``/``dist-packages``) em vez de descer nelas e descartar o que achou: a
    mesma lista de ``Path.rglob("*")`` com os mesmos filtros (um teste confere), em ~1/5 do tempo.
    Como ``rglob``, não desce em pastas que são *links* simbólicos.
    """
    docs = []
    for label, root in _roots(spec):
        # Na biblioteca padrão, o site-packages (pacotes instalados) não é "stdlib".
        skip = {"__pycache__", "site-packages", "dist-packages"} if label == "stdlib" else {"__pycache__"}
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in skip]
            base = Path(folder)
            for name in files:
                p = base / name
                if p.suffix not in spec.suffixes or not p.is_file():
                    continue
                docs.append(Document(f"{label}/{p.relative_to(root).as_posix()}", p))
    docs.sort(key=lambda d: d.key)
    if not docs:
        where = ", ".join(str(r) for _, r in _roots(spec))
        raise ValueError(f"corpus vazio: nenhum arquivo com extensão {list(spec.suffixes)} em {where}.")
    return docs


def is_validation(key: str, fraction: float) -> bool:
    """Divisão determinística por documento: um *hash* estável da chave decide o lado."""
    return (zlib.crc32(key.encode("utf-8")) % 100_000) < fraction * 100_000


@dataclass(frozen=True)
class TokenizerSpec:
    """``kind="bytes"`` (padrão; 256 símbolos, bits por byte exatos) ou ``kind="bpe"``."""

    kind: str = "bytes"
    vocab_size: int = 256
    train_bytes: int = 20_000_000  # quanto texto de treino usar para aprender o BPE

    def __post_init__(self) -> None:
        if self.kind not in ("bytes", "bpe"):
            raise ValueError(f"tokenizador desconhecido {self.kind!r}; use 'bytes' ou 'bpe'.")
        if self.kind == "bytes" and self.vocab_size != 256:
            raise ValueError(f"o tokenizador de bytes tem vocab_size = 256; recebi {self.vocab_size}.")
        if self.kind == "bpe" and not 257 <= self.vocab_size <= 65535:
            raise ValueError(f"vocab_size do BPE deve estar entre 257 e 65535; recebi {self.vocab_size}.")

    @property
    def ident(self) -> str:
        return "bytes" if self.kind == "bytes" else f"bpe{self.vocab_size}"


def cache_dir() -> Path:
    """Pasta do cache de tokens: ``$LEIS_DE_ESCALA_CACHE`` ou ``~/.cache/leis-de-escala``."""
    return Path(os.environ.get("LEIS_DE_ESCALA_CACHE", Path.home() / ".cache" / "leis-de-escala"))


@dataclass
class PreparedData:
    """Tokens de treino e validação prontos para amostrar (mapeados em memória)."""

    train: np.ndarray
    val: np.ndarray
    vocab_size: int
    token_bytes: np.ndarray  # bytes de texto que cada token representa
    fingerprint: str
    tokenizer: TokenizerSpec
    corpus: CorpusSpec
    stats: dict = field(default_factory=dict)
    tokenizer_path: str | None = None
    #: A validação própria de uma faixa de compressibilidade (``None`` nos outros corpora).
    val_own: np.ndarray | None = None

    def decode(self, ids) -> str:
        """Texto de uma sequência de ids (bytes inválidos viram '�')."""
        ids = [int(i) for i in ids]
        if self.tokenizer.kind == "bytes":
            return bytes(ids).decode("utf-8", errors="replace")
        from tokenizers import Tokenizer

        return Tokenizer.from_file(self.tokenizer_path).decode(ids)

    def encode(self, text: str) -> list[int]:
        if self.tokenizer.kind == "bytes":
            return list(text.encode("utf-8"))
        from tokenizers import Tokenizer

        return Tokenizer.from_file(self.tokenizer_path).encode(text).ids

    def describe(self) -> dict:
        """Metadados para registrar num resultado (o que foi usado, exatamente)."""
        return {
            "corpus": self.corpus.to_dict(),
            "fingerprint": self.fingerprint,
            "tokenizer": asdict(self.tokenizer),
            **self.stats,
        }


def _read_split(spec: CorpusSpec, docs: list[Document] | None = None) -> tuple[bytes, bytes, str, dict, bytes | None]:
    """Treino, validação comum, impressão digital, estatísticas e a validação própria (ou ``None``).

    Numa faixa de compressibilidade, o treino e a validação própria são só os documentos da faixa
    (a comum é a do corpus inteiro); num corpus degradado ou numa faixa, as estatísticas trazem a
    razão do gzip (:func:`~helpers.engine.compressibility.gzip_ratio`) de cada parte.
    """
    docs = list_documents(spec) if docs is None else docs
    digest = hashlib.sha256()
    contents = []
    for d in docs:
        data = d.path.read_bytes().replace(DOCUMENT_SEPARATOR, b"")
        digest.update(d.key.encode("utf-8") + b"\x00" + hashlib.sha256(data).digest())
        contents.append(data)
    in_band = np.ones(len(docs), dtype=bool)
    if spec.gzip_band is not None:
        in_band = band_mask([d.key for d in docs], np.array([len(c) for c in contents]),
                            np.array([document_ratio(c) for c in contents]), spec.gzip_band)
    train_parts, val_parts, own_parts = [], [], []
    n_val = 0
    for d, data, member in zip(docs, contents, in_band):
        if is_validation(d.key, spec.validation_fraction):
            val_parts.append(data + DOCUMENT_SEPARATOR)
            n_val += 1
        elif not member:
            continue
        elif spec.gzip_band is not None and is_band_validation(d.key):
            own_parts.append(data + DOCUMENT_SEPARATOR)
        else:
            train_parts.append(degrade(data, d.key, spec.degradation, spec.degradation_level) + DOCUMENT_SEPARATOR)
    if not train_parts or not val_parts or (spec.gzip_band is not None and not own_parts):
        raise ValueError(
            f"a divisão por documento deixou um lado vazio ({len(train_parts)} de treino, {n_val} de validação"
            + (f", {len(own_parts)} de validação própria da faixa" if spec.gzip_band is not None else "")
            + "); o corpus precisa de mais arquivos ou de outra validation_fraction/gzip_band."
        )
    train, val = b"".join(train_parts), b"".join(val_parts)
    own = b"".join(own_parts) if spec.gzip_band is not None else None
    stats = {"documents": len(docs), "validation_documents": n_val, "train_bytes": len(train), "val_bytes": len(val)}
    if spec.gzip_band is not None or spec.degradation != "none":
        stats["gzip_ratio_train"] = gzip_ratio(train)
        stats["gzip_ratio_val"] = gzip_ratio(val)
    if own is not None:
        stats.update({"band_documents": int(in_band.sum()), "own_validation_documents": len(own_parts),
                      "own_val_bytes": len(own), "gzip_ratio_val_own": gzip_ratio(own)})
    return train, val, digest.hexdigest(), stats, own


def _tag(corpus: CorpusSpec) -> str:
    tag = "" if corpus.degradation == "none" else f"{corpus.degradation}{corpus.degradation_level:g}-"
    if corpus.gzip_band is not None:
        tag += f"faixa{corpus.gzip_band[0]:g}-{corpus.gzip_band[1]:g}-"
    return tag


def _index_path(root: Path, corpus: CorpusSpec, docs: list[Document]) -> Path:
    """Onde fica a impressão digital já calculada para exatamente estes arquivos, nestes estados.

    A chave é o SHA-256 da especificação do corpus e, para cada documento, da chave, do
    caminho, do tamanho e da data de modificação em nanossegundos (``os.stat``, ~20 ms
    para o corpus padrão). Editar, trocar, acrescentar ou apagar um arquivo muda a chave, e
    o corpus é lido de novo.
    """
    digest = hashlib.sha256(json.dumps(corpus.to_dict(), sort_keys=True).encode("utf-8"))
    for d in docs:
        st = d.path.stat()
        digest.update(f"{d.key}\x00{d.path}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return root / "indice" / f"{digest.hexdigest()[:32]}.json"


def _read_index(path: Path) -> dict | None:
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # sem índice (ou um índice ilegível): lê o corpus
    if not isinstance(known, dict) or not isinstance(known.get("fingerprint"), str) \
            or not isinstance(known.get("stats"), dict):
        return None
    return known


def _write_index(path: Path, fingerprint: str, stats: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"fingerprint": fingerprint, "stats": stats}), encoding="utf-8")
    os.replace(tmp, path)


def _write_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    array.tofile(tmp)
    os.replace(tmp, path)


def prepare_data(
    corpus: CorpusSpec | None = None,
    tokenizer: TokenizerSpec | None = None,
    *,
    cache: str | os.PathLike | None = None,
) -> PreparedData:
    """Lê, divide e tokeniza o corpus, usando o cache em disco quando ele já existe."""
    corpus = corpus or CorpusSpec()
    tokenizer = tokenizer or TokenizerSpec()
    root = Path(cache) if cache is not None else cache_dir()
    root.mkdir(parents=True, exist_ok=True)

    # A impressão digital depende só do conteúdo; calculá-la exige ler o corpus
    # (alguns segundos), mas garante que um cache velho nunca seja reutilizado. O índice
    # guarda a impressão de uma leitura anterior sob a lista de (arquivo, tamanho, data de
    # modificação): se nenhum arquivo mudou, a leitura é dispensada.
    docs = list_documents(corpus)
    index_path = _index_path(root, corpus, docs)
    known = _read_index(index_path)
    if known is not None and (root / f"{known['fingerprint'][:16]}-{_tag(corpus)}{tokenizer.ident}.json").exists():
        train_raw = val_raw = own_raw = None
        fingerprint, stats = known["fingerprint"], known["stats"]
    else:
        train_raw, val_raw, fingerprint, stats, own_raw = _read_split(corpus, docs)
    tag = _tag(corpus)
    base = root / f"{fingerprint[:16]}-{tag}{tokenizer.ident}"
    meta_path = base.with_suffix(".json")
    dtype = np.uint8 if tokenizer.kind == "bytes" else np.uint16
    tok_path = None
    if tokenizer.kind == "bpe":
        tok_path = str(base.with_suffix(".tokenizer.json"))
    if not meta_path.exists():
        if train_raw is None:  # o índice sobreviveu aos arquivos do cache: lê de novo
            train_raw, val_raw, fingerprint, stats, own_raw = _read_split(corpus, docs)
        if tokenizer.kind == "bytes":
            train_ids = np.frombuffer(train_raw, dtype=np.uint8)
            val_ids = np.frombuffer(val_raw, dtype=np.uint8)
        else:
            train_ids, val_ids = _bpe_encode(train_raw, val_raw, tokenizer, tok_path)
        meta = {**stats, "fingerprint": fingerprint, "train_tokens": int(train_ids.size), "val_tokens": int(val_ids.size)}
        if own_raw is not None:
            own_ids = (np.frombuffer(own_raw, dtype=np.uint8) if tokenizer.kind == "bytes"
                       else _bpe_encode_text(own_raw, tok_path))
            _write_atomic(base.with_suffix(".valown.bin"), own_ids.astype(dtype))
            meta["val_own_tokens"] = int(own_ids.size)
        _write_atomic(base.with_suffix(".train.bin"), train_ids.astype(dtype))
        _write_atomic(base.with_suffix(".val.bin"), val_ids.astype(dtype))
        tmp = meta_path.with_suffix(f".json.tmp{os.getpid()}")
        tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.replace(tmp, meta_path)
    if known is None or known["fingerprint"] != fingerprint:
        _write_index(index_path, fingerprint, stats)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    train = np.memmap(base.with_suffix(".train.bin"), dtype=dtype, mode="r")
    val = np.memmap(base.with_suffix(".val.bin"), dtype=dtype, mode="r")
    if tokenizer.kind == "bytes":
        token_bytes = np.ones(256, dtype=np.int64)
    else:
        token_bytes = _bpe_token_bytes(tok_path, tokenizer.vocab_size)
    stats = {**stats, "train_tokens": meta["train_tokens"], "val_tokens": meta["val_tokens"]}
    val_own = None
    if corpus.gzip_band is not None:
        val_own = np.memmap(base.with_suffix(".valown.bin"), dtype=dtype, mode="r")
        stats["val_own_tokens"] = meta["val_own_tokens"]
    return PreparedData(train, val, tokenizer.vocab_size, token_bytes, fingerprint, tokenizer, corpus, stats, tok_path,
                        val_own)


def _bpe_encode(train_raw: bytes, val_raw: bytes, spec: TokenizerSpec, tok_path: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    text_train = train_raw.decode("utf-8", errors="replace")
    text_val = val_raw.decode("utf-8", errors="replace")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    sample = text_train[: spec.train_bytes]
    tok.train_from_iterator((sample[i : i + 100_000] for i in range(0, len(sample), 100_000)), trainer=trainer)
    tok.save(tok_path)

    def encode(text: str) -> np.ndarray:
        chunks = [text[i : i + 200_000] for i in range(0, len(text), 200_000)]
        encoded = tok.encode_batch(chunks)
        return np.concatenate([np.asarray(e.ids, dtype=np.uint16) for e in encoded])

    return encode(text_train), encode(text_val)


def _bpe_encode_text(raw: bytes, tok_path: str) -> np.ndarray:
    """``raw`` com o BPE já treinado e salvo em ``tok_path`` (a validação própria de uma faixa)."""
    from tokenizers import Tokenizer

    tok, text = Tokenizer.from_file(tok_path), raw.decode("utf-8", errors="replace")
    encoded = tok.encode_batch([text[i : i + 200_000] for i in range(0, len(text), 200_000)])
    return np.concatenate([np.asarray(e.ids, dtype=np.uint16) for e in encoded])


def _bpe_token_bytes(tok_path: str, vocab_size: int) -> np.ndarray:
    from tokenizers import Tokenizer

    # No BPE de bytes, cada caractere da forma textual de um token representa
    # exatamente um byte (o alfabeto ByteLevel mapeia os 256 bytes em 256 caracteres).
    tok = Tokenizer.from_file(tok_path)
    out = np.zeros(vocab_size, dtype=np.int64)
    for token, i in tok.get_vocab().items():
        out[i] = len(token)
    return out


def sample_batch(tokens: np.ndarray, batch_size: int, seq_len: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Janelas aleatórias de ``seq_len + 1`` tokens: entradas e alvos deslocados de um."""
    if tokens.size <= seq_len + 1:
        raise ValueError(
            f"o conjunto tem {tokens.size} tokens, menos que uma janela de {seq_len + 1}; "
            "use um contexto menor ou um corpus maior."
        )
    starts = torch.randint(0, tokens.size - seq_len - 1, (batch_size,), generator=generator).numpy()
    idx = starts[:, None] + np.arange(seq_len + 1)[None, :]
    window = torch.from_numpy(np.asarray(tokens[idx], dtype=np.int64))
    return window[:, :-1], window[:, 1:]


#: Como escolher as janelas de validação: ``start`` (consecutivas, do início do texto — o
#: protocolo original) ou ``spread`` (espalhadas por todo o texto de validação).
EVAL_SAMPLINGS = ("start", "spread")


def validation_starts(n_tokens: int, seq_len: int, max_tokens: int, sampling: str = "start") -> np.ndarray:
    """Onde começa cada janela de validação (``seq_len + 1`` tokens; ``seq_len`` alvos).

    São ``n = min(max_tokens // seq_len, (n_tokens - 1) // seq_len)`` janelas, que nunca se
    sobrepõem. ``sampling="start"``: consecutivas a partir do início. ``sampling="spread"``:
    a primeira no início, a última no fim do texto e as outras igualmente espaçadas entre
    elas (aritmética inteira: as mesmas posições em toda máquina); quando as ``n`` janelas
    são todas as que cabem, é o texto inteiro em janelas consecutivas, como em ``start``.
    """
    if sampling not in EVAL_SAMPLINGS:
        raise ValueError(
            f"amostragem de validação desconhecida {sampling!r}; as válidas são {list(EVAL_SAMPLINGS)}."
        )
    for name, value in (("seq_len", seq_len), ("max_tokens", max_tokens)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} deve ser um inteiro ≥ 1; recebi {value!r}.")
    n_fit = (int(n_tokens) - 1) // seq_len
    n_windows = min(max_tokens // seq_len, n_fit)
    if n_windows < 1:
        raise ValueError(
            f"o texto de validação ({n_tokens} tokens) não comporta uma janela de {seq_len + 1} "
            f"com max_tokens = {max_tokens} (são necessários ≥ {seq_len + 1} tokens de texto "
            f"e max_tokens ≥ {seq_len})."
        )
    i = np.arange(n_windows, dtype=np.int64)
    if sampling == "start" or n_windows == n_fit or n_windows == 1:
        return i * seq_len
    # Espaçamento (n_tokens − 1 − seq_len)/(n − 1) > seq_len, porque n < n_fit: sem sobreposição.
    return (i * (int(n_tokens) - 1 - seq_len)) // (n_windows - 1)


def validation_batches(tokens: np.ndarray, seq_len: int, max_tokens: int, batch_size: int = 16, *,
                       sampling: str = "start"):
    """O conjunto fixo de validação, em lotes de até ``batch_size`` janelas.

    Gera ``(x, y)`` com no máximo ``max_tokens`` alvos no total; as janelas são as de
    :func:`validation_starts` (as mesmas para todo treino com o mesmo contexto, o mesmo
    ``max_tokens`` e a mesma amostragem), na ordem do texto.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size deve ser um inteiro ≥ 1; recebi {batch_size!r}.")
    starts = validation_starts(tokens.size, seq_len, max_tokens, sampling)
    offsets = np.arange(seq_len + 1)[None, :]
    for first in range(0, starts.size, batch_size):
        idx = starts[first:first + batch_size, None] + offsets
        window = torch.from_numpy(np.asarray(tokens[idx], dtype=np.int64))
        yield window[:, :-1], window[:, 1:]


def separator_ids(data: PreparedData) -> tuple[int, ...]:
    """Os ids dos tokens que contêm o separador de documentos (o byte ``\\x00``).

    No tokenizador de bytes, só o token 0. No BPE, todo token cuja forma textual contém
    ``"Ā"`` — o caractere com que o alfabeto ByteLevel escreve o byte 0 — pois o separador
    pode ter se fundido a bytes vizinhos num token só.
    """
    if data.tokenizer.kind == "bytes":
        return (DOCUMENT_SEPARATOR[0],)
    from tokenizers import Tokenizer

    return tuple(sorted(i for tok, i in Tokenizer.from_file(data.tokenizer_path).get_vocab().items() if "Ā" in tok))


def describe_validation_sample(tokens: np.ndarray, seq_len: int, max_tokens: int, *, sampling: str = "start",
                               separators=(DOCUMENT_SEPARATOR[0],)) -> dict:
    """O que uma amostra de validação cobre: janelas, alvos, documentos tocados e fração do texto.

    Os documentos são os pedaços do texto entre separadores (``separators``: os ids de
    :func:`separator_ids`); cada documento inclui o separador que o encerra. Um documento é
    *tocado* se ao menos um alvo de alguma janela cai nele. ``fraction_of_split`` é a fração
    dos tokens de validação que são alvos da amostra.
    """
    starts = validation_starts(tokens.size, seq_len, max_tokens, sampling)
    is_sep = np.isin(np.asarray(tokens), np.asarray(separators, dtype=np.int64))
    # documento do token na posição p = quantos separadores há antes de p
    before = np.concatenate([[0], np.cumsum(is_sep[:-1], dtype=np.int64)])
    total = int(before[-1]) + 1
    first, last = before[starts + 1], before[starts + seq_len]  # alvos: posições s+1 … s+seq_len
    marks = np.zeros(total + 1, dtype=np.int64)
    np.add.at(marks, first, 1)
    np.add.at(marks, last + 1, -1)
    touched = int(np.count_nonzero(np.cumsum(marks[:-1])))
    n_tokens = int(starts.size) * seq_len
    return {"sampling": sampling, "windows": int(starts.size), "tokens": n_tokens, "documents_touched": touched,
            "documents_total": total, "fraction_of_split": n_tokens / int(tokens.size)}


def bits_per_byte(total_nats: float, total_bytes: float) -> float:
    """Entropia cruzada total (nats) convertida em bits e dividida pelos bytes de texto."""
    if total_bytes <= 0:
        raise ValueError(f"total_bytes deve ser > 0; recebi {total_bytes}.")
    return total_nats / math.log(2) / total_bytes

