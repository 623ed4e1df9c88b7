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

SUBCOMMANDS = ("report", "export", "make-samples")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = REPO_ROOT / "sample_checkpoints" / "gap_fusion2.pt"


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        nargs="?",
        type=Path,
        help="checkpoint file (.pt); default: the bundled sample_checkpoints/gap_fusion2.pt",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", type=Path, help="folder with cif/ and description.csv, or the CSV")
    data.add_argument("--text-embeddings", type=Path, help="npz/pt file: crystal id -> vector")
    data.add_argument("--text-encoder", type=Path, help="local BERT-style model directory")
    data.add_argument("--limit", type=int, help="use only the first N usable crystals")
    data.add_argument("--max-atoms", type=int, default=400, help="skip larger crystals (400)")
    data.add_argument(
        "--cache-dir", type=Path, help="graph/text cache (default ~/.cache/alpha-tui)"
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


def run_options(args: argparse.Namespace):
    from alpha_tui.capture.hooks import HookNames
    from alpha_tui.capture.pipeline import RunOptions

    checkpoint = args.checkpoint or DEFAULT_CHECKPOINT
    if args.checkpoint is None and not DEFAULT_CHECKPOINT.is_file():
        raise UserError(
            "no checkpoint given and the bundled sample is not here (it ships with the "
            "source tree, not the wheel); pass a checkpoint: alpha-tui CKPT --data DIR"
        )
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    containers = tuple(c.strip() for c in args.layer_containers.split(",") if c.strip())
    return RunOptions(
        checkpoint=checkpoint,
        data=args.data,
        text_embeddings=args.text_embeddings,
        text_encoder=args.text_encoder,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
        backend=args.backend,
        max_atoms=args.max_atoms,
        trust_checkpoint=args.trust_checkpoint,
        cache_dir=args.cache_dir,
        names=HookNames(layer_containers=containers, text_projection=args.text_projection_name),
    )


def cmd_open(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError(
            "alpha-tui needs a terminal; for scripts use 'alpha-tui report CKPT [--json]'"
        )
    options = run_options(args)
    from alpha_tui.tui.app import AlphaTuiApp

    handles: list = []  # the live model, kept for the Text effect pane's re-runs

    def loader(progress, cancel):
        from alpha_tui.analysis.session import AnalysisSession
        from alpha_tui.capture.pipeline import run_pipeline

        cache = run_pipeline(options, progress, cancel, on_model=handles.append)
        caches.append(cache)
        return AnalysisSession(cache)

    caches: list = []

    def text_effect(fusion, progress, cancel):
        from alpha_tui.capture.patching import run_text_effect

        run_text_effect(handles[-1], caches[-1], fusion, progress=progress, cancel=cancel)

    app = AlphaTuiApp(
        loader=loader,
        title=f"alpha-tui — {options.checkpoint.name}",
        snapshot_dir=args.snapshot_dir,
        initial_fusion=args.fusion,
        initial_reduction=args.reduction,
        text_effect=text_effect,
    )
    app.run()
    message = getattr(app, "error_message", None)
    if message:
        # the screen is gone once the app exits: leave the reason in the scrollback
        print(f"alpha-tui: error: {message}", file=sys.stderr)
    return int(app.return_code or 0)


def cmd_report(args: argparse.Namespace) -> int:
    from alpha_tui.analysis.reductions import parse_reduction
    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.capture.pipeline import run_pipeline
    from alpha_tui.report.build import build_report
    from alpha_tui.report.render import render_report

    parse_reduction(args.reduction)
    handles: list = []
    cache = run_pipeline(run_options(args), tty_progress, on_model=handles.append)
    if args.text_effect:
        run_all_text_effects(handles[0], cache)
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
        run_text_effect(handle, cache, fusion, progress=tty_progress)


def cmd_export(args: argparse.Namespace) -> int:
    from alpha_tui.analysis.reductions import parse_reduction
    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.capture.pipeline import run_pipeline
    from alpha_tui.export.alpha_values import export_alpha_values

    fmt = args.format or ("csv" if args.out.suffix.lower() == ".csv" else "npz")
    parse_reduction(args.reduction)
    if args.out.exists() and not args.force:
        raise UserError(f"{args.out} exists; pass --force to overwrite or choose another --out")
    session = AnalysisSession(run_pipeline(run_options(args), tty_progress))
    path = export_alpha_values(
        session, args.out, fmt=fmt, reduction=args.reduction, fusion=args.fusion, force=args.force
    )
    print(f"wrote {path}")
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
    }
    make_parser, handler = parsers[command]
    args = make_parser().parse_args(argv[1:] if command else argv)
    debug = bool(getattr(args, "debug", False)) or os.environ.get("ALPHA_TUI_DEBUG") == "1"
    try:
        return handler(args)
    except UserError as exc:
        if debug:
            raise
        print(f"alpha-tui: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("alpha-tui: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
