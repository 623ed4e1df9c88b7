"""Command line: ``alpha-tui [CKPT]`` opens the explorer; subcommands run headless.

Errors the user can fix are one line on stderr with exit code 2; ``--debug`` keeps
the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from alpha_tui import __version__
from alpha_tui.errors import UserError
from alpha_tui.progress import tty_progress

SUBCOMMANDS = ("report", "export", "make-samples", "extract", "cache")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = REPO_ROOT / "sample_checkpoints" / "gap_fusion2.pt"


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        nargs="?",
        type=Path,
        help="checkpoint file (.pt) or a store folder from alpha-tui extract; "
        "default: the bundled sample_checkpoints/gap_fusion2.pt",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", type=Path, help="folder with cif/ and description.csv, or the CSV")
    data.add_argument("--text-embeddings", type=Path, help="npz/pt file: crystal id -> vector")
    data.add_argument("--text-encoder", type=Path, help="local BERT-style model directory")
    data.add_argument(
        "--text-tokens",
        type=Path,
        help="npz of every token's state (ids, tokens [N,L,T], mask [N,L]) for fine-grained "
        "attention models",
    )
    data.add_argument(
        "--vocab-mappings",
        type=Path,
        help="the users' vocab_mappings.txt (default: one beside the checkpoint or in the data)",
    )
    data.add_argument(
        "--text-normalize",
        choices=("none", "bert", "sage"),
        help="text preprocessing before --text-encoder (default: sage when a vocab_mappings.txt "
        "is given or found, else none)",
    )
    data.add_argument("--limit", type=int, help="use only the first N usable crystals")
    data.add_argument("--max-atoms", type=int, default=400, help="skip larger crystals (400)")
    data.add_argument(
        "--cache-dir", type=Path, help="graph/text cache (default ~/.cache/alpha-tui)"
    )
    data.add_argument(
        "--workers",
        type=int,
        help="processes parsing structure files (default: the usable cores; 1: in this "
        "process, without crash isolation)",
    )
    data.add_argument(
        "--graph-canonize",
        choices=("true", "false"),
        default="true",
        help="jarvis use_canonize: true as the users trained (default); false as their "
        "extraction scripts built graphs, to reproduce their earlier figures",
    )
    run = parser.add_argument_group("model")
    run.add_argument("--device", default="auto", help="auto | cpu | cuda (auto: CUDA if present)")
    run.add_argument("--backend", default="auto", choices=("auto", "native", "dgl"))
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow full unpickling (runs code from the file; only for files you trust)",
    )
    run.add_argument(
        "--fusion", help="fusion module to show first, e.g. middle_fusion_modules.layer_2"
    )
    run.add_argument(
        "--layer-containers",
        default="alignn_layers,gcn_layers",
        help="module names whose children are the layers to hook",
    )
    run.add_argument("--text-projection-name", default="text_projection")
    run.add_argument(
        "--recapture",
        action="store_true",
        help="run the model even when a store of the same inputs is cached",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alpha-tui",
        description="Explore the text gate (alpha) of a multimodal ALIGNN checkpoint.",
        epilog=(
            "subcommands: alpha-tui report CKPT [--json] | alpha-tui export CKPT --out FILE | "
            "alpha-tui make-samples [--out DIR]  (alpha-tui SUBCOMMAND --help for details)"
        ),
    )
    parser.add_argument("--version", action="version", version=f"alpha-tui {__version__}")
    _add_run_options(parser)
    parser.add_argument("--snapshot-dir", type=Path, default=Path("alpha-tui-snapshots"))
    parser.add_argument("--reduction", default="mean", help="reduction shown first")
    return parser


def build_report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alpha-tui report", description="Headless diagnosis.")
    _add_run_options(parser)
    parser.add_argument("--reduction", default="max", help="reduction reported next to mean")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument(
        "--text-effect",
        action="store_true",
        help="also re-run the model with the text changed at each fusion module "
        "(key text_effect; about 2-3 capture passes per module)",
    )
    return parser


def build_export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alpha-tui export", description="Per-atom alpha values.")
    _add_run_options(parser)
    parser.add_argument("--out", type=Path, required=True, help="output file")
    parser.add_argument("--format", choices=("npz", "csv"), help="default: from --out suffix")
    parser.add_argument("--reduction", default="mean")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    return parser


def build_samples_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alpha-tui make-samples",
        description="Rebuild the sample dataset, embeddings and checkpoints reproducibly.",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "sample_checkpoints")
    parser.add_argument("--epochs", type=int, help="override the training epochs")
    parser.add_argument("--max-crystals", type=int, help="build a reduced set (for tests)")
    parser.add_argument("--debug", action="store_true")
    return parser


def checked_checkpoint(args: argparse.Namespace) -> Path:
    """The checkpoint to use, checked without importing torch (a store hit needs none)."""
    if args.checkpoint is None and not DEFAULT_CHECKPOINT.is_file():
        raise UserError(
            "no checkpoint given and the bundled sample is not here (it ships with the "
            "source tree, not the wheel); pass a checkpoint: alpha-tui CKPT --data DIR"
        )
    checkpoint = args.checkpoint or DEFAULT_CHECKPOINT
    if not checkpoint.exists():
        raise UserError(f"checkpoint {checkpoint} does not exist; check the path")
    return checkpoint


def checked_run_args(args: argparse.Namespace) -> Path:
    """The checkpoint, with the numeric options checked; no torch, so the explorer can
    refuse bad options before its first frame without paying for the model imports."""
    checkpoint = checked_checkpoint(args)
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: give 1 or more processes")
    return checkpoint


def _capture_inputs(args: argparse.Namespace) -> dict:
    """The options both the capture and the store key take, mapped once: a field added
    to one and not the other would reuse a store captured from other inputs."""
    return {
        "data": args.data,
        "text_embeddings": args.text_embeddings,
        "text_encoder": args.text_encoder,
        "text_tokens": args.text_tokens,
        "vocab_mappings": args.vocab_mappings,
        "text_normalize": args.text_normalize,
        "limit": args.limit,
        "max_atoms": args.max_atoms,
        "batch_size": args.batch_size,
        "device": args.device,
        "backend": args.backend,
        "graph_canonize": args.graph_canonize == "true",
    }


def run_options(args: argparse.Namespace):
    from alpha_tui.capture.hooks import HookNames
    from alpha_tui.capture.pipeline import RunOptions

    checkpoint = checked_run_args(args)
    containers = tuple(c.strip() for c in args.layer_containers.split(",") if c.strip())
    return RunOptions(
        checkpoint=checkpoint,
        **_capture_inputs(args),
        trust_checkpoint=args.trust_checkpoint,
        cache_dir=args.cache_dir,
        workers=args.workers,
        names=HookNames(layer_containers=containers, text_projection=args.text_projection_name),
    )


def store_inputs(args: argparse.Namespace):
    from alpha_tui.store.index import StoreInputs

    return StoreInputs(
        checkpoint=args.checkpoint or DEFAULT_CHECKPOINT,
        **_capture_inputs(args),
        layer_containers=args.layer_containers,
        text_projection_name=args.text_projection_name,
    )


def load_activations(args: argparse.Namespace, progress=None, cancel=None, on_model=None):
    """A STORE folder opens as is (no torch); a checkpoint goes through the store cache.

    ``on_model`` receives the live model only when a capture ran; from a store there is
    none, and ``live_model`` makes one on demand.
    """
    from alpha_tui.store.auto import capture_with_store, is_store_path, open_store_path

    if is_store_path(args.checkpoint):
        return open_store_path(args.checkpoint)
    checked_checkpoint(args)  # before any hashing
    return capture_with_store(
        lambda: run_options(args),
        store_inputs(args),
        cache_dir=args.cache_dir,
        recapture=args.recapture,
        progress=progress,
        cancel=cancel,
        on_model=on_model,
    )


def live_model(args: argparse.Namespace, handles: list, progress=None, cancel=None):
    """The model the Text effect re-runs need: the capture's, or one more pass for it.

    Activations read from a store come without a model; re-running needs the checkpoint
    and data, so one capture pass builds them (same inputs, so the same crystals in the
    same order as the store the session shows).
    """
    from alpha_tui.store.auto import is_store_path

    if not handles:
        if is_store_path(args.checkpoint):
            raise UserError(
                "the Text effect re-runs the model, and a store holds none: open the "
                "checkpoint (with its --data) instead of the store"
            )
        from alpha_tui.capture.pipeline import run_pipeline

        run_pipeline(run_options(args), progress, cancel, on_model=handles.append)
    return handles[-1]


def cmd_open(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError(
            "alpha-tui needs a terminal; for scripts use 'alpha-tui report CKPT [--json]'"
        )
    # a store is a folder (store.auto.is_store_path); that module's imports can wait
    # for the loader thread, after the first frame
    on_store = args.checkpoint is not None and args.checkpoint.is_dir()
    # not run_options: it imports torch, seconds before the first frame could show
    name = args.checkpoint.name if on_store else checked_run_args(args).name
    from alpha_tui.tui.app import AlphaTuiApp

    handles: list = []  # the live model, kept for the Text effect pane's re-runs

    def loader(progress, cancel):
        from alpha_tui.analysis.session import AnalysisSession

        caches.append(load_activations(args, progress, cancel, handles.append))
        return AnalysisSession(caches[-1])

    caches: list = []

    def text_effect(fusion, progress, cancel):
        from alpha_tui.capture.patching import run_text_effect

        handle = live_model(args, handles, progress, cancel)
        run_text_effect(handle, caches[-1], fusion, progress=progress, cancel=cancel)
        keep_text_effects(caches[-1])

    app = AlphaTuiApp(
        loader=loader,
        title=f"alpha-tui — {name}",
        snapshot_dir=args.snapshot_dir,
        initial_fusion=args.fusion,
        initial_reduction=args.reduction,
        failure_log=args.cache_dir / "logs" / "explorer.log" if args.cache_dir else None,
        debug=bool(args.debug) or os.environ.get("ALPHA_TUI_DEBUG") == "1",
        text_effect=text_effect,
    )
    app.run()
    message = getattr(app, "error_message", None)
    if message:
        # the screen is gone once the app exits: leave the reason in the scrollback,
        # once, and exit 2 however the error screen was left (q, escape or ctrl+c)
        print(f"alpha-tui: error: {message}", file=sys.stderr)
        return UserError.exit_code
    return int(app.return_code or 0)


def cmd_report(args: argparse.Namespace) -> int:
    from alpha_tui.analysis.reductions import parse_reduction
    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.report.build import build_report
    from alpha_tui.report.render import render_report

    parse_reduction(args.reduction)
    handles: list = []
    cache = load_activations(args, tty_progress, on_model=handles.append)
    if args.text_effect and set(cache.fusion_modules) - set(cache.counterfactuals):
        run_all_text_effects(live_model(args, handles, tty_progress), cache)
        keep_text_effects(cache)
    session = AnalysisSession(cache)
    report = build_report(session, reduction=args.reduction, fusion=args.fusion)
    if args.json:
        import json

        print(json.dumps(report, indent=2, allow_nan=False))
    else:
        print(render_report(report))
    return 0


def run_all_text_effects(handle, cache) -> None:
    """Counterfactual re-runs at every fusion module, with the headless progress bar."""
    from alpha_tui.capture.patching import run_text_effect

    for fusion in cache.fusion_modules:
        if fusion not in cache.counterfactuals:  # kept in the store by an earlier run
            run_text_effect(handle, cache, fusion, progress=tty_progress)


def keep_text_effects(cache) -> None:
    """Write the re-runs into the session's store, so a reopen shows them without a model."""
    from alpha_tui.store.counterfactuals import save_all_counterfactuals

    note = save_all_counterfactuals(cache)
    if note:
        cache.meta.setdefault("notes", []).append(note)


def cmd_export(args: argparse.Namespace) -> int:
    from alpha_tui.analysis.reductions import parse_reduction
    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.export.alpha_values import export_alpha_values

    fmt = args.format or ("csv" if args.out.suffix.lower() == ".csv" else "npz")
    parse_reduction(args.reduction)
    if args.out.is_dir():
        raise UserError(
            f"--out {args.out} is a folder; give a file name, e.g. {args.out / ('alpha.' + fmt)}"
        )
    if args.out.exists() and not args.force:
        raise UserError(f"{args.out} exists; pass --force to overwrite or choose another --out")
    session = AnalysisSession(load_activations(args, tty_progress))
    path = export_alpha_values(
        session, args.out, fmt=fmt, reduction=args.reduction, fusion=args.fusion, force=args.force
    )
    print(f"wrote {path}")
    return 0


def build_extract_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alpha-tui extract",
        description="Capture once into a store folder; open it later with alpha-tui STORE.",
    )
    _add_run_options(parser)
    parser.add_argument("--out", type=Path, required=True, help="store folder to write")
    parser.add_argument("--force", action="store_true", help="replace an existing store")
    parser.add_argument(
        "--shards", type=int, default=1, help="capture in N windows, each kept on disk (1)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the finished shards of an interrupted extract (checked by SHA-256)",
    )
    return parser


def cmd_extract(args: argparse.Namespace) -> int:
    from alpha_tui.store.extract import extract, rate_progress

    if args.checkpoint is not None and args.checkpoint.is_dir():
        raise UserError(f"{args.checkpoint} is a folder; extract needs a checkpoint file")
    options = run_options(args)
    inputs = store_inputs(args)
    if args.shards < 1:
        raise UserError("--shards must be at least 1")
    path = extract(
        options,
        inputs,
        args.out,
        force=args.force,
        progress=rate_progress(),
        shards=args.shards,
        resume=args.resume,
    )
    if path is not None:  # under torchrun only rank 0 writes the store
        print(f"wrote {path}")
    return 0


def build_cache_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alpha-tui cache", description="Show or prune the automatic activation stores."
    )
    parser.add_argument("action", choices=("list", "clear"))
    parser.add_argument("--cache-dir", type=Path, help="default ~/.cache/alpha-tui")
    parser.add_argument("--older-than", type=float, metavar="DAYS", help="clear: only older")
    parser.add_argument("--debug", action="store_true")
    return parser


def cmd_cache(args: argparse.Namespace) -> int:
    from alpha_tui.store.index import (
        clear_stores,
        human_age,
        human_bytes,
        list_stores,
        stores_dir,
    )

    directory = stores_dir(args.cache_dir)
    if args.action == "clear":
        removed = clear_stores(directory, older_than_days=args.older_than)
        freed = human_bytes(sum(e.bytes for e in removed))
        print(f"removed {len(removed)} stores ({freed}) from {directory}")
        return 0
    entries = list_stores(directory)
    if not entries:
        print(f"no stores in {directory}")
        return 0
    for e in entries:
        state = "complete" if e.complete else "INCOMPLETE"
        crystals = "?" if e.crystals is None else e.crystals
        print(
            f"{e.path.name}  {human_bytes(e.bytes):>9}  {human_age(e.age_seconds):>7} old  "
            f"{state:<10}  {e.checkpoint}  {crystals} crystals"
        )
    total = human_bytes(sum(e.bytes for e in entries))
    print(f"{len(entries)} stores, {total}, in {directory}")
    return 0


def cmd_make_samples(args: argparse.Namespace) -> int:
    from alpha_tui.samples.make import make_samples

    make_samples(args.out, epochs=args.epochs, max_crystals=args.max_crystals)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    parsers = {
        None: (build_parser, cmd_open),
        "report": (build_report_parser, cmd_report),
        "export": (build_export_parser, cmd_export),
        "make-samples": (build_samples_parser, cmd_make_samples),
        "extract": (build_extract_parser, cmd_extract),
        "cache": (build_cache_parser, cmd_cache),
    }
    make_parser, handler = parsers[command]
    args = make_parser().parse_args(argv[1:] if command else argv)
    debug = bool(getattr(args, "debug", False)) or os.environ.get("ALPHA_TUI_DEBUG") == "1"
    from alpha_tui.temp_files import install_signal_cleanup

    install_signal_cleanup()  # a write stopped by ctrl+c / kill leaves no temporary
    try:
        return handler(args)
    except UserError as exc:
        if debug:
            raise
        print(f"alpha-tui: error: {one_line(exc.message)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("alpha-tui: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if debug:
            raise
        print(f"alpha-tui: error: {one_line(os_error_line(exc))}", file=sys.stderr)
        return UserError.exit_code
    except MemoryError:
        if debug:
            raise
        print(
            "alpha-tui: error: ran out of memory; use --limit N or a smaller --batch-size",
            file=sys.stderr,
        )
        return UserError.exit_code


def one_line(message: str) -> str:
    """The message with control characters (from file names, headers) made visible.

    A header of binary garbage or a file name with a newline must not split the error
    into several lines or move the terminal's cursor.
    """
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)


def os_error_line(exc: OSError) -> str:
    """One line naming the path and the OS reason, for an OSError nothing else caught.

    The OS refuses paths for reasons alpha-tui cannot foresee (too long, read-only or
    pseudo file systems, permissions); its own wording is the most precise account.
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return f"{reason}; check the paths given and their permissions"
    shown = [str(p) if len(str(p)) <= 120 else str(p)[:100] + "..." for p in paths]
    return f"cannot use {' -> '.join(shown)}: {reason}; check the path and its permissions"


if __name__ == "__main__":
    sys.exit(main())
