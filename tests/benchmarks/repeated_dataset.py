"""A dataset folder of N crystals made by cycling the bundled sample's rows, for scale figures.

Row k is row ``k % U`` of the U sample rows used, under the id ``<id>~<k // U>``, with
the same CIF bytes and text vector; the real reader reads it like any users' folder.
Identical CIF bytes share one graph-cache entry, so after the unique rows have been
parsed once no run pays CIF parsing again and the time measured is the extract itself.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_checkpoints" / "sample_data" / "bandgap"
EMBEDDINGS = SAMPLE / "text_embeddings_minilm.npz"


def sample_rows() -> tuple[list[str], list[list[str]]]:
    with open(SAMPLE / "description.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_repeated_dataset(out: Path, n: int, unique: int | None = None) -> tuple[Path, Path]:
    """(data folder, embeddings npz) of ``n`` crystals cycled from the sample.

    ``unique`` rows spread evenly over the sample are cycled (all 455 by default), so a
    small and a large dataset built with the same ``unique`` hold the same mix of
    crystal sizes: the largest batch, which sets the peak, is then alike in both.
    """
    header, rows = sample_rows()
    if unique is not None:
        rows = rows[:: max(1, len(rows) // unique)][:unique]
    with np.load(EMBEDDINGS, allow_pickle=False) as saved:
        vectors = dict(zip(saved["ids"].tolist(), saved["embeddings"], strict=True))
    shutil.rmtree(out, ignore_errors=True)
    (out / "cif").mkdir(parents=True)
    cif_bytes = {row[0]: (SAMPLE / "cif" / f"{row[0]}.cif").read_bytes() for row in rows}
    ids, table = [], []
    for k in range(n):
        row = rows[k % len(rows)]
        new_id = f"{row[0]}~{k // len(rows)}"
        (out / "cif" / f"{new_id}.cif").write_bytes(cif_bytes[row[0]])
        table.append([new_id, *row[1:]])
        ids.append((new_id, row[0]))
    with open(out / "description.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(table)
    embeddings = out / "text_embeddings.npz"
    np.savez(
        embeddings,
        ids=np.array([new for new, _ in ids]),
        embeddings=np.stack([vectors[old] for _, old in ids]).astype(np.float32),
    )
    return out, embeddings
