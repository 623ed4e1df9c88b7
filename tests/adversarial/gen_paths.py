"""Paths the OS rejects: too long, read-only or pseudo file systems, folders for files."""

from __future__ import annotations

from pathlib import Path

from adversarial.base import Case, run_args, write_checkpoint, write_dataset, write_embeddings

LONG = "n" * 300  # one path component longer than NAME_MAX (255)
DEEP = "/".join(["d" * 200] * 25)  # longer than PATH_MAX (4096)


def _case(name: str, build) -> Case:
    return Case("paths", name, build)


def _swap(option: str, value) -> callable:
    """The base run with one option's value replaced (value may depend on the folder)."""

    def build(folder: Path) -> list[str]:
        argv = run_args(folder)
        new = str(value(folder) if callable(value) else value)
        if option == "CKPT":
            argv[1] = new
        elif option in argv:
            argv[argv.index(option) + 1] = new
        else:
            argv += [option, new]
        return argv

    return build


def _export(out, *, force: bool = False, prepare=None):
    def build(folder: Path) -> list[str]:
        if prepare is not None:
            prepare(folder)
        target = out(folder) if callable(out) else out
        argv = run_args(folder, command="export") + ["--out", str(target)]
        return argv + (["--force"] if force else [])

    return build


def generate(seed: int) -> list[Case]:
    del seed
    cases = {
        "ckpt-long-name": _swap("CKPT", lambda f: f / f"{LONG}.pt"),
        "ckpt-deep-path": _swap("CKPT", lambda f: f / DEEP / "m.pt"),
        "ckpt-proc-file": _swap("CKPT", "/proc/self/status"),
        "ckpt-proc-dir": _swap("CKPT", "/proc/self"),
        "ckpt-dev-null": _swap("CKPT", "/dev/null"),
        "ckpt-dev-zero": _swap("CKPT", "/dev/zero"),
        "ckpt-sys-file": _swap("CKPT", "/sys/kernel/mm/transparent_hugepage/enabled"),
        "ckpt-dir": _swap("CKPT", lambda f: f),
        "ckpt-nul-in-name": _swap("CKPT", lambda f: f"{f}/a\x00b.pt"),
        "data-long-name": _swap("--data", lambda f: f / LONG),
        "data-deep": _swap("--data", lambda f: f / DEEP),
        "data-proc": _swap("--data", "/proc/self"),
        "data-proc-file": _swap("--data", "/proc/self/status"),
        "data-dev-null": _swap("--data", "/dev/null"),
        "emb-long-name": _swap("--text-embeddings", lambda f: f / f"{LONG}.npz"),
        "emb-proc": _swap("--text-embeddings", "/proc/self/status"),
        "emb-dir": _swap("--text-embeddings", lambda f: f),
        "emb-dev-zero-npz": _swap("--text-embeddings", "/dev/zero"),
        "cache-proc": _swap("--cache-dir", "/proc/self/alpha-cache"),
        "cache-sys": _swap("--cache-dir", "/sys/alpha-cache"),
        "cache-is-file": _swap("--cache-dir", lambda f: write_embeddings(f / "c.npz")),
        "cache-long": _swap("--cache-dir", lambda f: f / LONG),
        "cache-deep": _swap("--cache-dir", lambda f: f / DEEP),
        "weights-long": _swap("--reduction", lambda f: f"weighted:{f / LONG}.npy"),
        "weights-proc": _swap("--reduction", "weighted:/proc/self/status"),
        "export-ok": _export(lambda f: f / "alpha.npz"),
        "export-csv-ok": _export(lambda f: f / "alpha.csv"),
        "export-existing-folder": _export(lambda f: _mkdir(f / "out")),
        "export-existing-folder-force": _export(lambda f: _mkdir(f / "out"), force=True),
        "export-existing-file": _export(lambda f: _touch(f / "alpha.npz")),
        "export-long-name": _export(lambda f: f / f"{LONG}.npz"),
        "export-deep": _export(lambda f: f / DEEP / "a.npz"),
        "export-missing-parent": _export(lambda f: f / "no" / "such" / "a.npz"),
        "export-proc": _export("/proc/self/alpha.npz"),
        "export-sys": _export("/sys/alpha.csv"),
        "export-proc-force": _export("/proc/self/status", force=True),
        "export-dev-full": _export("/dev/full", force=True),
        "export-root-dir": _export("/", force=True),
        "export-parent-is-file": _export(lambda f: _touch(f / "file") / "a.npz"),
    }
    out = [_case(name, build) for name, build in cases.items()]
    out.append(_case("config-json-dir", _config_json_dir))
    return out


def _config_json_dir(folder: Path) -> list[str]:
    ckpt = write_checkpoint(folder / "m" / "model.pt", None) if _mkdir(folder / "m") else None
    (folder / "m" / "config.json").mkdir()
    return run_args(folder, ckpt, data=write_dataset(folder / "data"))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"old")
    return path
