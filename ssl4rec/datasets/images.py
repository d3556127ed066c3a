"""Image vectors for ``item_features: {image: FILE}``: a folder of item images embedded with CLIP.

``ssl4rec data images NAME --images DIR --model clip:<model> --to FILE.npz`` reads one image per item
from ``DIR`` (``<raw item id>.jpg`` / ``.jpeg`` / ``.png`` / ``.webp``; Amazon 2018 / 2023 items keep
their image addresses in the ``image_urls`` column, so they can be fetched into such a folder), embeds
each with the image tower of a CLIP model (``transformers``' ``CLIPModel.get_image_features``, rows
L2-normalised) and writes the ``.npz`` (``ids``, ``vectors``) that a suite attaches with
``params: {item_features: {image: FILE}}``. Items without an image get no row (the dataset counts
them). ssl4rec downloads nothing: the model comes from the Hugging Face cache or hub as usual.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..registry import ConfigError
from .base import DataError

__all__ = [
    "DEFAULT_CLIP",
    "IMAGE_SUFFIXES",
    "ClipImageEncoder",
    "build_image_encoder",
    "embed_item_images",
    "find_images",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
DEFAULT_CLIP = "openai/clip-vit-base-patch32"


def find_images(raw_ids: list[str], folder: Path) -> dict[str, Path]:
    """``{raw id: image file}`` for the items with a ``<raw id><suffix>`` file in ``folder``."""
    present = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    out: dict[str, Path] = {}
    for rid in raw_ids:
        for suffix in IMAGE_SUFFIXES:
            p = present.get(f"{rid}{suffix}".lower())
            if p is not None:
                out[rid] = p
                break
    return out


class ClipImageEncoder:
    """``clip:<model>``: a CLIP model's image embeddings through ``transformers`` (rows L2-normalised).

    Args:
        model: a Hugging Face model name or local folder (default ``openai/clip-vit-base-patch32``).
        batch_size: images per forward pass.
        device: torch device (default: CUDA when present, else CPU).
    """

    def __init__(self, model: str = DEFAULT_CLIP, batch_size: int = 32, device: str | None = None) -> None:
        self.model_name, self.batch_size, self.device = model or DEFAULT_CLIP, int(batch_size), device
        self._model: Any = None
        self._processor: Any = None

    @property
    def name(self) -> str:
        return f"clip:{self.model_name}"

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch

        try:
            from transformers import CLIPModel, CLIPProcessor
        except ImportError as exc:
            raise ConfigError(f"image encoder {self.name!r} needs transformers: pip install 'ssl4rec[text]'") from exc
        try:
            self._model = CLIPModel.from_pretrained(self.model_name).eval()
            self._processor = CLIPProcessor.from_pretrained(self.model_name)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"image encoder {self.name!r}: could not load the model ({first}); it is read from the Hugging "
                "Face cache or hub: download it once with network, or give a local folder (clip:/path/to/model)"
            ) from None
        self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model.to(self.device)

    def encode(self, files: list[Path]) -> np.ndarray:
        import torch
        from PIL import Image

        self._load()
        out = []
        for start in range(0, len(files), self.batch_size):
            images = []
            for f in files[start : start + self.batch_size]:
                try:
                    with Image.open(f) as im:
                        images.append(im.convert("RGB"))
                except OSError as exc:
                    raise DataError(f"{f}: not a readable image ({exc})") from None
            inputs = self._processor(images=images, return_tensors="pt").to(self.device)
            with torch.no_grad():
                v = self._model.get_image_features(**inputs)
            out.append(torch.nn.functional.normalize(v.float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def build_image_encoder(spec: str) -> Any:
    """``clip`` or ``clip:<model>``."""
    kind, _, model = str(spec).partition(":")
    if kind != "clip":
        raise ConfigError(f"image encoder {spec!r}: use clip:<model> (e.g. clip:{DEFAULT_CLIP}) or clip")
    return ClipImageEncoder(model or DEFAULT_CLIP)


def embed_item_images(items: Any, folder: Path, encoder: Any, out: Path) -> dict[str, Any]:
    """Embed the images in ``folder`` of the items of ``items`` (its ``raw_id`` column) and write ``out``.

    Returns counts for the log: items, images found, missing, vector size, the encoder.
    """
    from ..reporting.records import atomic_write_bytes

    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise DataError(f"--images {folder}: not a folder (give the folder holding <raw item id>.jpg files)")
    if out.suffix.lower() != ".npz":
        raise ConfigError(f"--to {out}: the image vectors are written as .npz (ids, vectors); name a .npz file")
    raw_ids = [str(r) for r in items["raw_id"].tolist()]
    found = find_images(raw_ids, folder)
    if not found:
        raise DataError(
            f"--images {folder}: no image named after an item id (<raw id>{'|'.join(IMAGE_SUFFIXES)}), "
            f"e.g. {raw_ids[0]}.jpg"
        )
    ids = [r for r in raw_ids if r in found]
    vectors = np.asarray(encoder.encode([found[r] for r in ids]), dtype=np.float32)
    if vectors.shape[0] != len(ids) or not np.isfinite(vectors).all():
        raise DataError(
            f"image encoder {getattr(encoder, 'name', encoder)!r} returned {vectors.shape} vectors for {len(ids)} images"
        )
    buf = io.BytesIO()
    np.savez(buf, ids=np.asarray(ids), vectors=vectors)
    atomic_write_bytes(out, buf.getvalue())
    info = {
        "items": len(raw_ids),
        "images": len(ids),
        "missing": len(raw_ids) - len(ids),
        "dim": int(vectors.shape[1]),
        "encoder": getattr(encoder, "name", str(encoder)),
        "to": str(out),
    }
    logger.info("image vectors: %s", info)
    return info
