"""jarvis' periodic neighbour search (``Atoms.get_all_neighbors``) without its Python loops.

Which neighbours survive the k-nearest cut is decided by exact float comparisons, and
high-symmetry cells put many neighbours at mathematically equal distances, so every
number that reaches a comparison is computed with jarvis' own operations: the image
shift ``np.dot(image, lattice_mat)``, ``coords - site``, squared, summed over xyz, to
the power 0.5. Everything else is free to be fast, as long as it can only *add*
candidates: a cheap screen (all pairs for small cells, a k-d tree for large ones)
picks candidate pairs with a slightly generous radius, and the exact distance then
decides. Two further shortcuts are checked rather than assumed:

- the reciprocal lengths that size the image range come from a closed form (cross
  products) instead of jarvis' ``np.linalg.inv``, which wakes OpenBLAS' threads and
  costs ~1 ms per call on a busy machine; jarvis rounds them to 6 decimals, so the
  closed form is used only when it is far from a rounding boundary;
- the image shifts come from one matrix product instead of one ``np.dot`` per image;
  it is bitwise equal on the BLAS builds seen, and a sample of rows is compared with
  jarvis' per-image call every time (any mismatch: per-image for all).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from jarvis.core.atoms import Atoms

BOND_TOL = 0.15  # jarvis get_all_neighbors default
MAX_CUTOFF = 1.0e4  # a cutoff this long means a degenerate cell, not a sparse crystal
_DENSE_PAIRS = 300_000  # image x atom x site candidates below which all pairs are screened
_CHUNK_ELEMENTS = 3_000_000  # float64 elements per dense screening block (~24 MB)
_SHIFT_CHECK_ROWS = 16
_ROUNDING_MARGIN = 1e-6  # in units of jarvis' 6th decimal


def knn_neighbours(
    atoms: Atoms, cutoff: float, max_neighbors: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(site, neighbour, image) of every kept neighbour, jarvis ``nearest_neighbor_edges``."""
    n = int(atoms.num_atoms)
    lattice = atoms.lattice
    longest = max(lattice.a, lattice.b, lattice.c)
    while True:
        site, nbr, dist, image = all_neighbours(atoms, cutoff)
        if np.bincount(site, minlength=n).min() >= max_neighbors:
            break
        if cutoff > MAX_CUTOFF:
            raise ValueError(
                f"fewer than {max_neighbors} neighbours within {cutoff:.0f} Å: degenerate cell"
            )
        cutoff = longest if cutoff < longest else 2 * cutoff

    order = np.lexsort((dist, site))
    first = np.searchsorted(site[order], np.arange(n))
    kth = dist[order][first + max_neighbors - 1]
    keep = dist <= kth[site]
    return site[keep], nbr[keep], image[keep]


def all_neighbours(
    atoms: Atoms, r: float, bond_tol: float = BOND_TOL
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(site, neighbour, distance, image) as ``Atoms.get_all_neighbors(r, bond_tol)`` lists them.

    Order is not jarvis' (the callers only use these as sets).
    """
    frac = np.atleast_2d(np.asarray(atoms.frac_coords))
    cart = np.atleast_2d(np.asarray(atoms.cart_coords))
    maxr = np.ceil((r + bond_tol) * reciprocal_lengths(atoms.lattice) / (2 * math.pi))
    nmin = np.floor(np.min(frac, axis=0)) - maxr
    nmax = np.ceil(np.max(frac, axis=0)) + maxr
    images = image_grid(nmin, nmax)
    shifts = image_shifts(images, atoms.lattice_mat)

    n = cart.shape[0]
    # generous: the screen's distances may round differently from the exact ones below
    screen = r * (1.0 + 1e-9) + 1e-9
    if images.shape[0] * n * n <= _DENSE_PAIRS:
        m, j, i = _dense_candidates(shifts, cart, screen)
    else:
        m, j, i = _tree_candidates(shifts, cart, screen)
    # the exact distance of the candidates, evaluated as jarvis does: sum(z, -1) ** 0.5
    z = ((shifts[m] + cart[j]) - cart[i]) ** 2
    dist = np.sum(z, axis=-1) ** 0.5
    within = (dist <= r) & (dist > 1e-8) & (dist > bond_tol)
    return (
        i[within].astype(np.int64),
        j[within].astype(np.int64),
        dist[within],
        np.rint(images[m[within]]).astype(np.int64),
    )


def reciprocal_lengths(lattice: object) -> np.ndarray:
    """jarvis' ``np.array(lattice.reciprocal_lattice().abc)``: lengths rounded to 6 decimals.

    Closed form: row k of 2π inv(L).T is 2π (a_{k+1} x a_{k+2}) / det L. Differs from the
    LAPACK inverse by a few ulps, so it is exact after rounding unless a length sits
    within ``_ROUNDING_MARGIN`` of a rounding boundary; then jarvis' own call decides.
    """
    lat = np.asarray(lattice.matrix, dtype=np.float64)  # type: ignore[attr-defined]
    cross = np.cross(lat[[1, 2, 0]], lat[[2, 0, 1]])
    with np.errstate(all="ignore"):
        recp = 2 * np.pi * cross / np.dot(lat[0], cross[0])
        lengths = np.sqrt(np.sum(recp**2, axis=1))
        micro = lengths * 1e6
        near_boundary = np.abs(micro - np.floor(micro) - 0.5) < _ROUNDING_MARGIN
    if not np.all(np.isfinite(lengths)) or np.any(near_boundary):
        return np.array(lattice.reciprocal_lattice().abc)  # type: ignore[attr-defined]
    return np.array([round(x, 6) for x in lengths.tolist()])


def image_grid(nmin: np.ndarray, nmax: np.ndarray) -> np.ndarray:
    """``itertools.product`` of the per-axis ``np.arange(lo, hi)`` ranges, as float rows."""
    ranges = [np.arange(lo, hi) for lo, hi in zip(nmin, nmax, strict=True)]
    grid = np.meshgrid(*ranges, indexing="ij")
    return np.stack(grid, axis=-1).reshape(-1, 3).astype(np.float64)


def image_shifts(images: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """jarvis' ``np.dot(image, matrix)`` for every image row, bit for bit."""
    matrix = np.asarray(matrix)
    shifts = (images @ matrix).reshape(-1, 3)
    rows = np.unique(np.linspace(0, images.shape[0] - 1, _SHIFT_CHECK_ROWS).astype(np.int64))
    for row in rows.tolist():
        if not np.array_equal(np.dot(tuple(images[row]), matrix), shifts[row]):
            # this BLAS rounds a batched product differently: one call per image, as jarvis
            return np.array([np.dot(tuple(im), matrix) for im in images]).reshape(-1, 3)
    return shifts


def _dense_candidates(
    shifts: np.ndarray, cart: np.ndarray, screen: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, atom, site) of every pair within ``screen``, checking all pairs (small cells)."""
    n = cart.shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // (3 * n * n))
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    limit = screen * screen
    for start in range(0, shifts.shape[0], chunk):
        coords = shifts[start : start + chunk, None, :] + cart[None, :, :]  # [m, j, 3]
        sq = np.zeros((coords.shape[0], n, n))
        for k in range(3):
            diff = coords[:, :, None, k] - cart[None, None, :, k]  # [m, j, i]
            sq += diff * diff
        m, j, i = np.nonzero(sq <= limit)
        found.append((m + start, j, i))
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]


def _tree_candidates(
    shifts: np.ndarray, cart: np.ndarray, screen: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same pairs as ``_dense_candidates`` through a k-d tree (large cells)."""
    from scipy.spatial import cKDTree

    n = cart.shape[0]
    points = (shifts[:, None, :] + cart[None, :, :]).reshape(-1, 3)
    # a point outside the sites' box grown by the radius is near no site
    lo, hi = cart.min(axis=0) - screen, cart.max(axis=0) + screen
    kept = np.flatnonzero(np.all((points >= lo) & (points <= hi), axis=1))
    pairs = cKDTree(cart).sparse_distance_matrix(
        cKDTree(points[kept]), screen, output_type="ndarray"
    )
    point = kept[pairs["j"]]
    return point // n, point % n, pairs["i"].astype(np.int64)
