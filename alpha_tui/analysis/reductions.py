"""Ways to turn the full gate [A, H] into one alpha per atom.

The users' scripts stored ``gate.mean(dim=1)``: averaging H roughly independent
sigmoid outputs shrinks the spread by about sqrt(H) (central limit theorem), so every
atom looked the same. Offering several reductions side by side lets a user see
whether a narrow alpha distribution is the model or the averaging.

Everything here is pure numpy and works on row chunks so that a [100k, 256] gate is
never copied whole into float64. Chunks run on WORKERS threads (numpy releases the GIL
in its loops, so two cores read a memory-mapped gigabyte twice as fast); each chunk
writes its own rows and partial sums are added in chunk order, so the result is the
same bits whatever the number of threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from alpha_tui.analysis.weights import load_weights as load_weights  # re-exported
from alpha_tui.errors import UserError, shown

#: Rows per float64 work chunk: 8192 x 256 x 8 B = 16 MB, small next to the gates.
CHUNK_ROWS = 8192
#: Threads of a chunked pass: bounded memory (WORKERS chunks in flight), both cores busy.
WORKERS = 2
#: Version of the reduction definitions below; bump it when any of PRECOMPUTED changes
#: what it computes, so reductions precomputed into older stores are not served.
DEFINITIONS = 1

SIMPLE_KINDS: tuple[str, ...] = (
    "mean",
    "max",
    "min",
    "median",
    "std",
    "open-fraction",
    "pc1",
    "injection",
)
PARAMETRISED: tuple[str, ...] = ("dim", "quantile", "topk-mean", "weighted")
KINDS: tuple[str, ...] = SIMPLE_KINDS + PARAMETRISED

DEFAULT_CYCLE: tuple[str, ...] = (
    "mean",
    "max",
    "min",
    "median",
    "std",
    "dim:0",
    "quantile:0.9",
    "open-fraction",
    "topk-mean:16",
    "pc1",
    "injection",
)

#: Reductions a store writes precomputed: the whole default cycle (every one is a
#: fixed function of the stored arrays; weighted:FILE depends on a file and is not).
PRECOMPUTED: tuple[str, ...] = DEFAULT_CYCLE

#: Reductions whose values always lie in [0, 1] because they are built from gate
#: entries (sigmoid outputs) or shares of them; histograms use the fixed (0, 1) range.
UNIT_INTERVAL_KINDS: frozenset[str] = frozenset(
    {"mean", "max", "min", "median", "dim", "quantile", "open-fraction", "topk-mean"}
)

_ALIASES = {
    "avg": "mean",
    "average": "mean",
    "open_fraction": "open-fraction",
    "openfraction": "open-fraction",
    "open": "open-fraction",
    "topk_mean": "topk-mean",
    "topk": "topk-mean",
    "top-k-mean": "topk-mean",
    "q": "quantile",
    "percentile": "quantile",
    "dimension": "dim",
    "pca": "pc1",
    "weights": "weighted",
}

_USAGE = (
    "mean, max, min, median, std, dim:K, quantile:Q, open-fraction, topk-mean:K, pc1, "
    "injection, weighted:FILE"
)


@dataclass(frozen=True)
class ReductionSpec:
    """A parsed reduction; ``name`` is canonical so it can key a memo."""

    kind: str
    param: float | int | str | None = None

    @property
    def name(self) -> str:
        if self.param is None:
            return self.kind
        if self.kind == "quantile":
            # short form when it is exact; else every digit, so two quantiles never
            # share a name (the name keys the session's memo)
            q = float(self.param)
            short = f"{q:g}"
            return f"quantile:{short if float(short) == q else repr(q)}"
        return f"{self.kind}:{self.param}"

    def __str__(self) -> str:
        return self.name


def parse_reduction(text: str | ReductionSpec) -> ReductionSpec:
    """Parse "kind" or "kind:param"; bad input is a one-line UserError."""
    if isinstance(text, ReductionSpec):
        return text
    raw = str(text).strip()
    if not raw:
        raise UserError(f"empty reduction: choose one of {_USAGE}")
    head, sep, tail = raw.partition(":")
    kind = head.strip().lower()
    kind = _ALIASES.get(kind, kind)
    param_text = tail.strip() if sep else None
    if kind not in KINDS:
        raise UserError(f"unknown reduction '{shown(raw)}': choose one of {_USAGE}")
    if kind in SIMPLE_KINDS:
        if param_text:
            raise UserError(
                f"reduction '{kind}' takes no parameter (got '{shown(raw)}'); use '{kind}'"
            )
        return ReductionSpec(kind)
    if not param_text:
        example = {
            "dim": "dim:0",
            "quantile": "quantile:0.9",
            "topk-mean": "topk-mean:16",
            "weighted": "weighted:weights.npy",
        }
        raise UserError(f"reduction '{kind}' needs a parameter, e.g. '{example[kind]}'")
    if kind == "weighted":
        return ReductionSpec(kind, param_text)
    if kind == "quantile":
        try:
            q = float(param_text)
        except ValueError:
            raise UserError(
                f"quantile needs a number in [0, 1], got '{shown(param_text)}'; "
                "e.g. 'quantile:0.9'"
            ) from None
        if not (0.0 <= q <= 1.0):
            raise UserError(
                f"quantile must be in [0, 1], got {shown(param_text)}; "
                "e.g. 'quantile:0.9' for the 90th percentile"
            )
        return ReductionSpec(kind, q)
    try:
        k = int(param_text)
    except ValueError:
        raise UserError(
            f"reduction '{kind}' needs an integer, got '{shown(param_text)}'; e.g. '{kind}:4'"
        ) from None
    if kind == "dim" and k < 0:
        raise UserError(f"dim index must be >= 0, got {k}; e.g. 'dim:0'")
    if kind == "topk-mean" and k < 1:
        raise UserError(f"topk-mean needs K >= 1, got {k}; e.g. 'topk-mean:16'")
    return ReductionSpec(kind, k)


def validate_reduction(spec: str | ReductionSpec, hidden: int) -> ReductionSpec:
    """The reduction, checked against a gate of ``hidden`` dims; else a one-line UserError.

    The one rule for every way a reduction arrives (picker, ``--reduction``, the
    engine): the parser only knows the syntax, this knows the gate. ``weighted:FILE``
    reads the file here (bounded, header first), so a wrong length is caught before
    any reduction runs.
    """
    s = parse_reduction(spec)
    h = int(hidden)
    if h < 1:
        raise UserError(f"the gate has {h} dims: there is nothing to reduce")
    if s.kind == "dim":
        k = int(s.param)  # type: ignore[arg-type]
        if not 0 <= k < h:
            raise UserError(f"dim:{k} is out of range: the gate has {h} dims (use 0..{h - 1})")
    elif s.kind == "topk-mean":
        k = int(s.param)  # type: ignore[arg-type]
        if not 1 <= k <= h:
            raise UserError(f"topk-mean:{k} is out of range: the gate has {h} dims (use 1..{h})")
    elif s.kind == "quantile":
        q = float(s.param)  # type: ignore[arg-type]
        if not 0.0 <= q <= 1.0:  # a hand-built spec can skip the parser
            raise UserError(f"quantile must be in [0, 1], got {q:g}; e.g. 'quantile:0.9'")
    elif s.kind == "weighted":
        load_weights(str(s.param), expected=h)
    return s


def in_unit_interval(spec: str | ReductionSpec) -> bool:
    """True when the reduction's values always lie in [0, 1] (fixed histogram range)."""
    return parse_reduction(spec).kind in UNIT_INTERVAL_KINDS


def describe(spec: str | ReductionSpec) -> str:
    """One line for the UI/help: what the reduction shows and why one would pick it."""
    s = parse_reduction(spec)
    p = s.param
    if s.kind == "dim":
        return f"gate dim {p} alone: one channel, no averaging"
    if s.kind == "quantile":
        return f"{float(p):g} quantile of the gate dims per atom (linear interpolation)"
    if s.kind == "topk-mean":
        return f"mean of the {p} largest gate dims per atom: the open channels only"
    if s.kind == "weighted":
        return f"sum(gate * w) with the weight vector from {p} (used as is, not normalised)"
    return _SIMPLE_TEXT[s.kind]


_SIMPLE_TEXT = {
    "mean": "mean over the H gate dims (what the users' scripts stored); "
    "averaging shrinks the spread ~sqrt(H)",
    "max": "largest gate dim per atom: how far the most open channel lets text in",
    "min": "smallest gate dim per atom: how closed the most closed channel is",
    "median": "median gate dim per atom: a typical channel, robust to a few extreme dims",
    "std": "spread of the gate across dims per atom: how selective the gate is",
    "open-fraction": "share of gate dims above 0.5: how many channels lean open",
    "pc1": "score on the first principal component of the centered gates, signed to "
    "rise with the mean: the main direction atoms differ in",
    "injection": "||alpha * text|| / ||x||: size of the injected text relative to "
    "the node features it is added to",
}


# ---------------------------------------------------------------------------- helpers
def iter_chunks(n_rows: int, chunk: int | None = None) -> Iterator[slice]:
    """Row slices keep float64 work arrays small; CHUNK_ROWS is read per call so tests can
    shrink it and exercise the chunk seams."""
    step = chunk or CHUNK_ROWS
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def map_chunks(n_rows: int, fn: Callable[[slice], np.ndarray]) -> list[np.ndarray]:
    """``fn`` of every row chunk, in chunk order, WORKERS chunks at a time."""
    chunks = list(iter_chunks(n_rows))
    if len(chunks) < 2 or WORKERS < 2:
        return [fn(sl) for sl in chunks]
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="reduce") as pool:
        return list(pool.map(fn, chunks))


def _per_row(n_rows: int, fn: Callable[[slice], np.ndarray]) -> np.ndarray:
    out = np.empty(n_rows, dtype=np.float64)

    def fill(sl: slice) -> np.ndarray:
        out[sl] = fn(sl)
        return out[:0]

    map_chunks(n_rows, fill)
    return out


def _rowwise(
    gates: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], cast: bool = True
) -> np.ndarray:
    """``cast=False`` hands fn the float32 rows: for max/min/comparisons the float64
    copy changes no bit of the result, only costs a pass."""
    dtype = np.float64 if cast else None
    return _per_row(gates.shape[0], lambda sl: fn(np.asarray(gates[sl], dtype=dtype)))


def _row_quantile(x: np.ndarray, q: float) -> np.ndarray:
    """np.quantile(x, q, axis=1, method="linear"), from one sort of the (float32) rows.

    numpy partitions row by row, ~80x slower on [8192, 256] chunks; a sort gives the
    same order statistics and numpy's interpolation below gives the same bits (a test
    compares with np.quantile and np.median). A row holding NaN is NaN, as in numpy.
    """
    s = np.sort(x, axis=1)
    n = s.shape[1]
    virtual = (n - 1) * np.asarray(q, dtype=np.float64)
    previous = np.floor(virtual)
    last = virtual >= n - 1
    below = -1 if last else int(previous)
    above = -1 if last else int(previous) + 1
    gamma = virtual - (-1.0 if last else previous)
    a = s[:, below].astype(np.float64)
    b = s[:, above].astype(np.float64)
    diff = b - a
    out = a + diff * gamma
    if gamma >= 0.5:
        out = b - diff * (1 - gamma)
    out[np.isnan(s[:, -1])] = np.nan  # NaN sorts last
    return out


def _row_median(x: np.ndarray) -> np.ndarray:
    """np.median(x, axis=1): the middle value, or the mean of the middle pair."""
    s = np.sort(x, axis=1)
    n = s.shape[1]
    if n % 2:
        out = s[:, n // 2].astype(np.float64)
    else:
        out = (s[:, n // 2 - 1].astype(np.float64) + s[:, n // 2]) / 2
    out[np.isnan(s[:, -1])] = np.nan
    return out


def _ordered_sum(parts: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    total = np.zeros(shape, dtype=np.float64)
    for part in parts:  # chunk order: the same bits as one sequential pass
        total += part
    return total


def _pc1(gates: np.ndarray) -> np.ndarray:
    """First-PC scores via the H x H covariance (cheap for any A, deterministic sign)."""
    n, h = gates.shape
    if n < 2:
        return np.zeros(n, dtype=np.float64)

    def rows(sl: slice) -> np.ndarray:
        return np.asarray(gates[sl], dtype=np.float64)

    mu = _ordered_sum(map_chunks(n, lambda sl: rows(sl).sum(axis=0)), (h,))
    mu /= n

    def scatter(sl: slice) -> np.ndarray:
        c = rows(sl) - mu
        return c.T @ c

    # one chunk at a time: the matmul is BLAS's, already on every core (two threads of
    # BLAS threads oversubscribe a 2-core machine ~10x)
    cov = _ordered_sum([scatter(sl) for sl in iter_chunks(n)], (h, h))
    cov /= n
    if not np.all(np.isfinite(cov)):
        # non-finite gates (NaN weights) have no principal axis; LAPACK would not converge
        return np.full(n, np.nan)
    evals, evecs = np.linalg.eigh(cov)
    v = evecs[:, -1]
    if evals[-1] <= 0:
        return np.zeros(n, dtype=np.float64)
    # cov(score, mean reduction) = lambda * sum(v) / H, so the sign of sum(v) decides
    # the correlation with the mean; fall back to the largest component when ~0.
    total = v.sum()
    if abs(total) > 1e-9:
        sign = np.sign(total)
    else:
        sign = np.sign(v[np.argmax(np.abs(v))])
    v = v * sign
    return _per_row(n, lambda sl: (rows(sl) - mu) @ v)


def _injection(
    gates: np.ndarray,
    node_norm: np.ndarray | None,
    text_per_crystal: np.ndarray | None,
    atom_crystal: np.ndarray | None,
) -> np.ndarray:
    if node_norm is None or text_per_crystal is None or atom_crystal is None:
        raise ValueError("injection needs node_norm, text_per_crystal and atom_crystal")
    n = gates.shape[0]
    norms = np.asarray(node_norm, dtype=np.float64).reshape(-1)
    if norms.shape[0] != n:
        raise ValueError(f"node_norm has {norms.shape[0]} entries for {n} atoms")
    text = np.asarray(text_per_crystal, dtype=np.float64)
    owner = np.asarray(atom_crystal)

    def injected(sl: slice) -> np.ndarray:
        g = np.asarray(gates[sl], dtype=np.float64)
        t = text[owner[sl]]
        return np.sqrt(np.einsum("ij,ij->i", g * t, g * t))

    num = _per_row(n, injected)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / norms
    # ||x|| == 0 (or non-finite) gives no meaningful ratio: NaN, counted by the statistics.
    out[~np.isfinite(out) | (norms == 0)] = np.nan
    return out


def reduce_gates(
    spec: str | ReductionSpec,
    gates: np.ndarray,
    *,
    node_norm: np.ndarray | None = None,
    text_per_crystal: np.ndarray | None = None,
    atom_crystal: np.ndarray | None = None,
) -> np.ndarray:
    """Reduce the gate [A, H] to one float64 value per atom.

    ``injection`` needs ``node_norm`` and the text per crystal with ``atom_crystal``:
    the text is gathered chunk by chunk so no [A, H] broadcast is ever materialised.
    """
    s = parse_reduction(spec)
    g = np.asarray(gates)
    if g.ndim != 2:
        raise ValueError(f"gates must be [A, H], got shape {g.shape}")
    h = g.shape[1]
    if s.kind != "weighted":  # weighted is checked once, where its file is read
        validate_reduction(s, h)
    kind, p = s.kind, s.param
    if kind == "mean":
        return _rowwise(g, lambda x: x.mean(axis=1))
    if kind == "max":
        return _rowwise(g, lambda x: x.max(axis=1), cast=False)
    if kind == "min":
        return _rowwise(g, lambda x: x.min(axis=1), cast=False)
    if kind == "median":
        return _rowwise(g, _row_median, cast=False)
    if kind == "std":
        return _rowwise(g, lambda x: x.std(axis=1))
    if kind == "open-fraction":
        return _rowwise(g, lambda x: (x > 0.5).mean(axis=1), cast=False)
    if kind == "dim":
        return np.asarray(g[:, int(p)], dtype=np.float64)  # type: ignore[arg-type]
    if kind == "quantile":
        q = float(p)  # type: ignore[arg-type]
        return _rowwise(g, lambda x: _row_quantile(x, q), cast=False)
    if kind == "topk-mean":
        k = int(p)  # type: ignore[arg-type]
        return _rowwise(g, lambda x: np.partition(x, h - k, axis=1)[:, h - k :].mean(axis=1))
    if kind == "pc1":
        return _pc1(g)
    if kind == "weighted":
        w = load_weights(str(p), expected=h)
        return _rowwise(g, lambda x: x @ w)
    if kind == "injection":
        return _injection(g, node_norm, text_per_crystal, atom_crystal)
    raise AssertionError(kind)  # parse_reduction only yields known kinds
