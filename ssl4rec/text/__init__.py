"""Item text -> embeddings with TF-IDF or a pretrained language model, cached on disk."""

from .embedders import (  # noqa: F401
    DEFAULT_LM,
    SentenceTransformerEncoder,
    TextEncoderMissing,
    TfidfEncoder,
    build_text_encoder,
    cache_dir,
    embed_items,
    item_texts,
    load_item_embeddings,
)
