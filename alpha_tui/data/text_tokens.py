"""Every token's last hidden state, for models with fine-grained (atom-token) attention.

Such a model attends from each atom over all tokens of its crystal's description, so
the CLS vector alone cannot run it. Token states come from a file the user saved or
from ``--text-encoder``; computed ones are cached on disk like the CLS vectors (same
encoder identity and normalization, plus "tokens"), one variable-length ``[L_i, T]``
array per text, with only its real tokens (padding is re-made per batch).

Token file layout (npz): ``ids`` [N] str, ``tokens`` [N, L, T] float, ``mask`` [N, L]
bool or 0/1 (True for real tokens, position 0 the CLS token, as the tokenizer emits).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from alpha_tui.array_files import check_npz
from alpha_tui.data.text_embeddings import (
    EmbeddingCache,
    Progress,
    cache_key,
    checked_encoder,
    encode_batches,
    encoder_identity,
    text_key,
)
from alpha_tui.data.text_normalize import TextPreprocessing
from alpha_tui.errors import UserError

TokenStates = list[np.ndarray]  # per crystal [L_i, T] float32, real tokens only


def encode_tokens(
    texts: list[str],
    encoder_dir: Path,
    *,
    device: str = "cpu",
    batch_size: int = 16,
    progress: Progress | None = None,
) -> TokenStates:
    """Real-token hidden states per text (mask applied), tokenized as the users' forward."""
    out: TokenStates = []
    for hidden, mask in encode_batches(
        texts, encoder_dir, device=device, batch_size=batch_size, progress=progress
    ):
        for row, real in zip(hidden, mask, strict=True):
            out.append(np.ascontiguousarray(row[real], dtype=np.float32))
    return out


class TokenCache(EmbeddingCache):
    """Token states per (encoder, normalization, text hash): one npz of ragged rows."""

    def _file(self, encoder_key: str) -> Path:
        return self.directory / f"{encoder_key[:32]}.tokens.npz"

    def read(self, encoder_key: str) -> dict[str, np.ndarray]:
        path = self._file(encoder_key)
        if not self.enabled or not path.is_file():
            return {}
        try:
            check_npz(path)  # a forged header must not allocate before it is refused
            with np.load(path, allow_pickle=False) as data:
                if str(data["encoder"]) != encoder_key:
                    return {}
                keys = data["keys"].tolist()
                lengths = np.asarray(data["lengths"], dtype=np.int64)
                flat = np.asarray(data["tokens"], dtype=np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, UserError):
            return {}
        if len(keys) != len(lengths) or int(lengths.sum()) != flat.shape[0]:
            return {}  # damaged: rebuilt on the next store
        bounds = np.concatenate(([0], np.cumsum(lengths)))
        return {k: flat[bounds[i] : bounds[i + 1]] for i, k in enumerate(keys)}

    def _payload(self, rows: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Ragged token rows flattened, with each text's token count."""
        return {
            "lengths": np.array([r.shape[0] for r in rows], dtype=np.int64),
            "tokens": np.concatenate(rows).astype(np.float32),
        }


def load_token_file(path: Path | str, ids: list[str], expected_width: int) -> TokenStates:
    """Real-token rows of a saved token file, in the order of ``ids``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"token embeddings file not found: {path}; check --text-tokens")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing_keys = {"ids", "tokens", "mask"} - set(data.keys())
            if missing_keys:
                raise UserError(
                    f"{path.name} lacks {', '.join(sorted(missing_keys))}; a token file holds "
                    "ids [N], tokens [N, L, T] and mask [N, L] (see README)"
                )
            file_ids = [str(i) for i in data["ids"].tolist()]
            tokens = np.asarray(data["tokens"], dtype=np.float32)
            mask = np.asarray(data["mask"]).astype(bool)
    except UserError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise UserError(f"cannot read token embeddings {path.name}: {exc}") from exc
    n = len(file_ids)
    if tokens.ndim != 3 or tokens.shape[0] != n or mask.shape != tokens.shape[:2]:
        raise UserError(
            f"{path.name}: tokens must be [N, L, T] and mask [N, L] for N={n} ids, got "
            f"{list(tokens.shape)} and {list(mask.shape)}"
        )
    if tokens.shape[2] != expected_width:
        raise UserError(
            f"token states in {path.name} have width {tokens.shape[2]} but the checkpoint "
            f"expects {expected_width}; use the encoder the model was trained with"
        )
    index: dict[str, int] = {}
    for row, crystal_id in enumerate(file_ids):
        index.setdefault(crystal_id, row)
    missing = [i for i in ids if i not in index]
    if missing:
        raise UserError(
            f"{len(missing)} of {len(ids)} crystals have no token states in {path.name} "
            f"(first: {', '.join(missing[:3])}); use a file that covers them"
        )
    out = [np.ascontiguousarray(tokens[index[i]][mask[index[i]]]) for i in ids]
    empty = [i for i, t in zip(ids, out, strict=True) if t.shape[0] == 0]
    if empty:
        raise UserError(f"{path.name}: crystal {empty[0]} has no real token (mask all False)")
    if not all(np.all(np.isfinite(t)) for t in out):
        raise UserError(f"token states in {path.name} contain NaN or inf; re-export them")
    return out


def text_tokens_for(
    texts: list[str],
    *,
    ids: list[str],
    tokens_file: Path | None = None,
    encoder_dir: Path | None = None,
    expected_width: int,
    preprocessing: TextPreprocessing,
    device: str = "cpu",
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> tuple[TokenStates, str]:
    """Token states per crystal and a note of where they came from (file, cache, encoder)."""
    if tokens_file is not None:
        path = Path(tokens_file)
        return load_token_file(path, ids, expected_width), f"token file {path.name}"
    if encoder_dir is None:
        raise UserError(
            "this model attends over every text token (fine-grained attention): pass "
            "--text-tokens <file.npz> or --text-encoder <model folder>"
        )
    encoder_dir = checked_encoder(encoder_dir, expected_width)
    normalized = [preprocessing.apply(t) for t in texts]
    key = cache_key(encoder_identity(encoder_dir), preprocessing, kind="tokens")
    cache = TokenCache(cache_dir)
    stored = cache.read(key)
    hashes = [text_key(t) for t in normalized]
    todo: dict[str, str] = {}
    for h, t in zip(hashes, normalized, strict=True):
        if h not in stored:
            todo.setdefault(h, t)
    computed: dict[str, np.ndarray] = {}
    if todo:
        states = encode_tokens(list(todo.values()), encoder_dir, device=device, progress=progress)
        computed = dict(zip(todo, states, strict=True))
        cache.store(key, computed, stored)
    elif progress is not None:
        progress(len(texts), len(texts))
    found = {**stored, **computed}
    n_encoded = sum(1 for h in hashes if h in todo)
    note = (
        f"encoder {encoder_dir}, every token "
        f"({len(hashes) - n_encoded} cached, {n_encoded} encoded)"
    )
    return [found[h] for h in hashes], note


def cls_from_tokens(states: TokenStates, width: int) -> np.ndarray:
    """[C, T] CLS rows (position 0), what the model's text projection reads."""
    if not states:
        return np.zeros((0, width), np.float32)
    return np.ascontiguousarray(np.stack([s[0] for s in states]), dtype=np.float32)
