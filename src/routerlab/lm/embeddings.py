"""Query embeddings from a sentence-embedding model (for the embedding MLP router)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab.core.io import write_array, write_frame, write_json
from routerlab.lm.models import embedder_path

EMBEDDINGS_VERSION = 1


def embed_texts(texts: list[str], spec: dict[str, Any], batch_size: int = 64) -> np.ndarray:
    # A packaged model must never trigger a hub lookup.
    if spec.get("source") in ("pypi", "local"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer  # lazy: heavy (and must follow HF_HUB_OFFLINE above)

    model = SentenceTransformer(embedder_path(spec), device=spec.get("device", "cpu"))
    return model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False).astype(np.float32)


def embed_dataset(data: pd.DataFrame, spec: dict[str, Any], out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    emb = embed_texts(data["prompt"].astype(str).tolist(), spec)
    write_array(out_dir / "embeddings.npy", emb)
    write_frame(out_dir / "index.parquet", data[["id"]].astype(str))
    write_json(out_dir / "meta.json", {"version": EMBEDDINGS_VERSION, "embedder": spec, "shape": list(emb.shape)})
