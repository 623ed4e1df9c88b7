"""Checkpoint, model, data, text and capture, in one call with progress and cancel.

This is the only place that strings the layers together; the CLI, the report and the
TUI loader all go through ``run_pipeline`` so they see the same numbers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alpha_tui.capture.cache import ActivationCache
from alpha_tui.capture.hooks import HookNames
from alpha_tui.capture.memory import give_back_heap
from alpha_tui.capture.patching import ModelHandle
from alpha_tui.capture.run import (
    CaptureCancelled,
    CaptureInput,
    ProgressCallback,
    capture,
    shard_window,
)
from alpha_tui.checkpoint.loader import load_checkpoint
from alpha_tui.data.dataset import CrystalRecord, read_dataset
from alpha_tui.data.graph_cache import GraphCache
from alpha_tui.data.graph_source import GraphSource
from alpha_tui.data.graphs import build_graph
from alpha_tui.data.parse_pool import usable_cores
from alpha_tui.data.row_file import spill_rows
from alpha_tui.data.text_embeddings import text_embeddings_for
from alpha_tui.data.text_normalize import TextPreprocessing, choose_preprocessing
from alpha_tui.data.text_tokens import TokenStates, cls_from_tokens, text_tokens_for
from alpha_tui.errors import UserError
from alpha_tui.model.build import build_model, resolve_device
from alpha_tui.problems import Problem
from alpha_tui.warning_notes import folded_warnings

SIDECAR_SUFFIX = ".json"


@dataclass
class RunOptions:
    checkpoint: Path
    data: Path | None = None
    text_embeddings: Path | None = None
    text_encoder: Path | None = None
    text_tokens: Path | None = None  # npz of token states (fine-grained attention)
    vocab_mappings: Path | None = None
    text_normalize: str | None = None  # None: the users' normalization if mappings exist
    limit: int | None = None
    batch_size: int = 16
    device: str = "auto"
    backend: str = "auto"
    max_atoms: int = 400
    trust_checkpoint: bool = False
    cache_dir: Path | None = None
    names: HookNames = field(default_factory=HookNames)
    # jarvis use_canonize: True as the users trained; False as their extraction scripts ran.
    graph_canonize: bool = True
    shard: tuple[int, int] | None = None  # (rank, world size) of a sharded extract
    workers: int | None = None  # structure-parsing processes; None: the usable cores


def bundled_inputs(checkpoint: Path) -> tuple[Path | None, Path | None]:
    """A checkpoint may carry a sidecar JSON naming its data and text embeddings.

    The sample checkpoints use this so that ``alpha-tui sample_checkpoints/x.pt`` finds
    its dataset without ``--data``. Paths in the sidecar are relative to it.
    """
    sidecar = checkpoint.with_suffix(SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return None, None
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None, None
    data = info.get("data")
    emb = info.get("text_embeddings")
    return (
        (sidecar.parent / data).resolve() if data else None,
        (sidecar.parent / emb).resolve() if emb else None,
    )


def needs_token_states(config: object, state_dict: dict[str, object]) -> bool:
    """True for models with fine-grained (atom-token) attention, by config or weights."""
    if bool(getattr(config, "use_fine_grained_attention", False)):
        return True
    return any(k.split(".", 1)[0] == "fine_grained_attention" for k in state_dict)


def text_preprocessing_note(preprocessing: TextPreprocessing, from_file: bool) -> str:
    """What produced the text vectors, for the Overview and the report."""
    if from_file:
        return (
            "as saved in the embeddings file (its preprocessing is unknown to alpha-tui; "
            "--text-normalize applies only to --text-encoder)"
        )
    return preprocessing.describe()


def stream_graphs(
    records: list[CrystalRecord],
    graph_cache: GraphCache,
    problems: list[dict],
    report: ProgressCallback,
) -> tuple[GraphSource, list[CrystalRecord]]:
    """Every usable record's graph in a ``GraphSource``, and those records.

    A parsed structure gets its graph built and stored, then its Atoms and graph are
    dropped, so what stays per crystal is a key, a path and a count; only where the
    cache cannot store does the source hold the graph.
    """
    source = GraphSource(graph_cache)
    kept = []
    for i, record in enumerate(records):
        try:
            if record.atoms is None and record.cache_key is not None:  # cached already
                source.add_cached(record.cache_key, record.path, record.n_atoms)
            else:
                graph = build_graph(record.atoms, canonize=graph_cache.canonize)
                source.add_built(record.cache_key, record.path, graph)
                record.atoms = None
            kept.append(record)
        except ValueError as exc:  # degenerate cells the neighbour search cannot handle
            problems.append(Problem("skipped-row", record.id, f"graph not built: {exc}").to_dict())
        report(i + 1, len(records), "graphs")
    return source, kept


def run_pipeline(
    options: RunOptions,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    on_model: Callable[[ModelHandle], None] | None = None,
) -> ActivationCache:
    """``on_model`` receives the live model and its input after the capture, for
    callers that re-run it later (text-effect counterfactuals); others let it go."""
    def report(done: int, total: int, stage: str) -> None:
        if cancel is not None and cancel.is_set():
            raise CaptureCancelled()
        if progress is not None:
            progress(done, total, stage)

    report(0, 1, "checkpoint")
    loaded = load_checkpoint(options.checkpoint, trust=options.trust_checkpoint)
    device = resolve_device(options.device)
    built = build_model(loaded.config, loaded.state_dict, backend=options.backend, device=device)
    report(1, 1, "checkpoint")

    data_path, embeddings_path = options.data, options.text_embeddings
    if data_path is None:
        data_path, bundled_embeddings = bundled_inputs(options.checkpoint)
        if embeddings_path is None and options.text_encoder is None:
            embeddings_path = bundled_embeddings
    if data_path is None:
        raise UserError(
            f"no data for {options.checkpoint.name}: pass --data <folder with cif/ and "
            "description.csv>"
        )
    graph_cache = GraphCache(
        options.cache_dir / "graphs" if options.cache_dir else None,
        canonize=options.graph_canonize,
    )
    dataset = read_dataset(
        data_path,
        max_atoms=options.max_atoms,
        limit=options.limit,
        progress=lambda d, t: report(d, t, "structures"),
        graph_cache=graph_cache,
        workers=options.workers or usable_cores(),
    )
    records = dataset.records
    problems = [p.to_dict() for p in dataset.problems]
    graphs, kept = stream_graphs(records, graph_cache, problems, report)
    if not kept:
        raise UserError(f"no crystal in {dataset.root} gave a usable graph; see the problems list")
    records = kept

    preprocessing = choose_preprocessing(
        options.text_normalize,
        options.vocab_mappings,
        [options.checkpoint.parent, Path(dataset.root)],
    )
    ids, texts = [r.id for r in records], [r.text for r in records]
    text_kwargs = {
        "encoder_dir": options.text_encoder,
        "expected_width": loaded.config.text_input_features,
        "device": str(device),
        "cache_dir": options.cache_dir / "text" if options.cache_dir else None,
        "progress": lambda d, t: report(d, t, "text"),
        "preprocessing": preprocessing,
    }
    text_warnings: list[str] = []  # what torch/transformers warned while reading text
    tokens: TokenStates | None = None
    tokens_origin = "not needed (no fine-grained attention)"
    if needs_token_states(loaded.config, loaded.state_dict):
        if options.text_tokens is None and options.text_encoder is None:
            tokens_origin = (
                "missing: this model attends over every text token; pass --text-tokens FILE "
                "or --text-encoder DIR for predictions"
            )
        else:
            with folded_warnings("reading the text tokens") as warned:
                tokens, tokens_origin = text_tokens_for(
                    texts, ids=ids, tokens_file=options.text_tokens, **text_kwargs
                )
            text_warnings.extend(warned)
    if tokens is not None and embeddings_path is None:
        text = cls_from_tokens(tokens, loaded.config.text_input_features)
        text_origin = f"CLS of the {tokens_origin}"
    else:
        with folded_warnings("reading the text embeddings") as warned:
            text, text_origin = text_embeddings_for(
                ids, texts, embeddings_file=embeddings_path, **text_kwargs
            )
        text_warnings.extend(warned)
    cls_from_file = embeddings_path is not None or (
        tokens is not None and options.text_tokens is not None
    )
    preprocessing_text = text_preprocessing_note(preprocessing, cls_from_file)
    text_notes = [] if cls_from_file else [f"text preprocessing: {preprocessing_text}"]
    text_notes += text_warnings

    # the text vectors go to disk and are read back with their batch, as the graphs are
    text, text_held = spill_rows(text, "the text vectors are")
    held_notes = [note for note in (graphs.held_note(), text_held) if note]
    data_in = CaptureInput(
        ids=ids,
        formulas=[r.formula for r in records],
        targets=np.array([r.target for r in records], dtype=np.float64),
        graphs=graphs,
        text=text,
        text_tokens=tokens,
    )
    data_root, rows_total = str(dataset.root), dataset.rows_total
    # The capture needs only these columns: the records (texts, paths, keys) and the
    # heap their reading left go first (at 10,000 crystals reading left 109 MiB, of
    # which the trim gives back 43-58: tests/benchmarks/extract_phases.py); the capture's
    # peak sits on top of what stays.
    del dataset, records, kept, texts
    give_back_heap()
    cache = capture(
        built.model,
        data_in,
        names=options.names,
        batch_size=options.batch_size,
        device=device,
        prediction_available=built.prediction_available,
        progress=report,
        cancel=cancel,
        window=shard_window(len(ids), options.batch_size, *options.shard)
        if options.shard
        else None,
        spill_results=True,
        notes=held_notes,
    )
    if on_model is not None:
        kept_input = CaptureInput(
            list(cache.crystal_ids), list(cache.formulas), cache.targets, graphs, text
        )
        on_model(ModelHandle(built.model, kept_input, device, options.batch_size))
    for group, keys in built.unimplemented.items():
        problems.append(
            Problem(
                "unimplemented-keys",
                group,
                f"{len(keys)} parameters of {group}.* are not implemented by the reference "
                "model; predictions are marked unavailable",
            ).to_dict()
        )
    # A head that could not run on this data (fine-grained attention without token
    # states) says why, on the same path as unimplemented keys.
    unavailable = getattr(built.model, "unavailable_reason", None)
    if unavailable and cache.predictions is None and built.prediction_available:
        problems.append(Problem("prediction-unavailable", "predictions", unavailable).to_dict())
    problems.extend(cache.meta.get("problems", []))
    cache.meta.update(
        {
            "checkpoint": {
                "path": str(loaded.path),
                "sha256": loaded.sha256,
                "config": loaded.config.to_dict(),
                "config_source": loaded.config_source,
                "assumptions": list(loaded.assumptions),
            },
            "device": str(device),
            "backend": built.backend_name,
            "problems": problems,
            "notes": list(loaded.notes) + list(built.notes) + text_notes + held_notes,
            "data": {
                "root": data_root,
                "n_rows": rows_total,
                "primitive_cells": True,
                "graph_canonize": graph_cache.canonize,
                "text_embeddings": text_origin,
                "text_preprocessing": preprocessing_text,
                "text_tokens": tokens_origin,
            },
            "prediction_available": built.prediction_available and cache.predictions is not None,
        }
    )
    return cache
