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

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from jarvis.core.atoms import Atoms

BOND_TOL = 0.15  # jarvis get_all_neighbors default
MAX_CUTOFF = 1.0e4  # a cutoff this long means a degenerate cell, not a sparse crystal
_DENSE_PAIRS = 30_000  # image x atom x site candidates below which all pairs are screened
_CHUNK_ELEMENTS = 3_000_000  # float64 elements per dense screening block (~24 MB)
_SHIFT_CHECK_ROWS = 6
_ROUNDING_MARGIN = 1e-6  # in units of the 5th decimal jarvis rounds to


def knn_neighbours(
    atoms: Atoms, cutoff: float, max_neighbors: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(site, neighbour, image) of every kept neighbour, jarvis ``nearest_neighbor_edges``."""
    n = int(atoms.num_atoms)
    points = _image_points(atoms, cutoff)
    shell = _nearest_shell(points, cutoff, max_neighbors)
    if shell is not None:
        return shell
    longest = max(atoms.lattice.abc)
    while True:
        site, nbr, dist, image = _neighbours_within(points, cutoff)
        if np.bincount(site, minlength=n).min() >= max_neighbors:
            break
        if cutoff > MAX_CUTOFF:
            raise ValueError(
                f"fewer than {max_neighbors} neighbours within {cutoff:.0f} Å: degenerate cell"
            )
        cutoff = longest if cutoff < longest else 2 * cutoff
        points = _image_points(atoms, cutoff)
    return _keep_k_nearest(site, nbr, dist, image, n, max_neighbors)


def all_neighbours(
    atoms: Atoms, r: float, bond_tol: float = BOND_TOL
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(site, neighbour, distance, image) as ``Atoms.get_all_neighbors(r, bond_tol)`` lists them.

    Order is not jarvis' (the callers only use these as sets).
    """
    return _neighbours_within(_image_points(atoms, r, bond_tol), r, bond_tol)


def _neighbours_within(
    points: _ImagePoints, r: float, bond_tol: float = BOND_TOL
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = points.cart.shape[0]
    if points.images.shape[0] * n * n <= _DENSE_PAIRS:
        m, j, i = _dense_candidates(points.shifts, points.cart, _screen(r))
    else:
        m, j, i = _tree_candidates(points.shifts, points.cart, _screen(r))
    return _exact(points, m, j, i, r, bond_tol)


@dataclass(frozen=True)
class _ImagePoints:
    """The periodic images jarvis searches for one radius, and the sites."""

    images: np.ndarray  # [M, 3] float, integer-valued, in itertools.product order
    shifts: np.ndarray  # [M, 3] Cartesian shift of each image, as np.dot(image, lattice_mat)
    cart: np.ndarray  # [n, 3] Cartesian site coordinates


def _image_points(atoms: Atoms, r: float, bond_tol: float = BOND_TOL) -> _ImagePoints:
    """jarvis' image range for radius ``r``: every image a neighbour within r can lie in."""
    frac = np.atleast_2d(np.asarray(atoms.frac_coords))
    cart = np.atleast_2d(np.asarray(atoms.cart_coords))
    maxr = np.ceil((r + bond_tol) * reciprocal_lengths(atoms.lattice) / (2 * math.pi))
    nmin = np.floor(np.min(frac, axis=0)) - maxr
    nmax = np.ceil(np.max(frac, axis=0)) + maxr
    images = image_grid(nmin, nmax)
    return _ImagePoints(images, image_shifts(images, atoms.lattice_mat), cart)


def _screen(r: float) -> float:
    """A radius generous enough that a screen rounding differently still finds every pair."""
    return r * (1.0 + 1e-9) + 1e-9


def _exact(
    points: _ImagePoints, m: np.ndarray, j: np.ndarray, i: np.ndarray, r: float, bond_tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidates (image m of atom j, site i) that are neighbours, by jarvis' own arithmetic."""
    # coords = np.dot(image, matrix) + cart; z = (coords - site) ** 2; sum(z, -1) ** 0.5
    z = ((points.shifts[m] + points.cart[j]) - points.cart[i]) ** 2
    dist = np.sum(z, axis=-1) ** 0.5
    within = (dist <= r) & (dist > 1e-8) & (dist > bond_tol)
    return (
        i[within].astype(np.int64),
        j[within].astype(np.int64),
        dist[within],
        np.rint(points.images[m[within]]).astype(np.int64),
    )


def _keep_k_nearest(
    site: np.ndarray, nbr: np.ndarray, dist: np.ndarray, image: np.ndarray, n: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every neighbour no farther than its site's k-th nearest (ties kept), as jarvis."""
    order = np.lexsort((dist, site))
    first = np.searchsorted(site[order], np.arange(n))
    kth = dist[order][first + k - 1]
    keep = dist <= kth[site]
    return site[keep], nbr[keep], image[keep]


def _nearest_shell(
    points: _ImagePoints, cutoff: float, k: int, bond_tol: float = BOND_TOL
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``knn_neighbours`` for large cells, or None when its shortcut does not apply.

    Listing every neighbour within the cutoff (~200 a site at 8 Å) to keep ~12 is most
    of the work. A k-d tree gives each site's k-th distance (rounded its own way), the
    exact distances of everything within a hair beyond it decide, and the result is
    jarvis' as long as every site has k neighbours within the cutoff (else jarvis
    enlarges the cutoff: None, the caller takes the long way) and no image sits closer
    than ``bond_tol`` (jarvis skips those; None).
    """
    n = points.cart.shape[0]
    if points.images.shape[0] * n * n <= _DENSE_PAIRS:
        return None
    from scipy.spatial import cKDTree

    kept = _near_sites(points, _screen(cutoff))
    if kept.shape[0] < k + 1:
        return None
    tree = cKDTree(_flat_points(points)[kept])
    nearest, _ = tree.query(points.cart, k=k + 1)  # column 0: the site itself
    reach = nearest[:, k] * (1.0 + 1e-9) + 1e-9
    if (
        np.any(nearest[:, 0] > 1e-8)
        or np.any(nearest[:, 1] <= bond_tol + 1e-6)
        or not np.all(reach <= cutoff)
    ):
        return None
    found = tree.query_ball_point(points.cart, reach, return_sorted=False)
    counts = np.fromiter(map(len, found), dtype=np.int64, count=n)
    flat = np.fromiter(itertools.chain.from_iterable(found), dtype=np.int64, count=counts.sum())
    point = kept[flat]
    site, nbr, dist, image = _exact(
        points, point // n, point % n, np.repeat(np.arange(n), counts), cutoff, bond_tol
    )
    if np.bincount(site, minlength=n).min() < k:
        return None
    return _keep_k_nearest(site, nbr, dist, image, n, k)


def _flat_points(points: _ImagePoints) -> np.ndarray:
    """[M * n, 3] image points; row m * n + j is atom j in image m (jarvis' coords)."""
    return (points.shifts[:, None, :] + points.cart[None, :, :]).reshape(-1, 3)


def _near_sites(points: _ImagePoints, screen: float) -> np.ndarray:
    """Rows of ``_flat_points`` inside the sites' bounding box grown by ``screen``."""
    lo = points.cart.min(axis=0) - screen
    hi = points.cart.max(axis=0) + screen
    flat = _flat_points(points)
    return np.flatnonzero(np.all((flat >= lo) & (flat <= hi), axis=1))


def reciprocal_lengths(lattice: object) -> np.ndarray:
    """jarvis' ``np.array(lattice.reciprocal_lattice().abc)``, without its LAPACK inverse.

    jarvis builds ``Lattice(2π inv(L).T)``, which rounds the matrix to 5 decimals, and
    takes its row lengths. Row k of 2π inv(L).T is 2π (a_{k+1} x a_{k+2}) / det L; that
    closed form differs from LAPACK's by a few ulps, which the rounding erases unless an
    element sits within ``_ROUNDING_MARGIN`` of a rounding boundary: then jarvis' own
    call decides.
    """
    from jarvis.core.lattice import Lattice

    a, b, c = np.asarray(lattice.matrix, dtype=np.float64).tolist()  # type: ignore[attr-defined]
    crosses = [_cross(b, c), _cross(c, a), _cross(a, b)]
    det = a[0] * crosses[0][0] + a[1] * crosses[0][1] + a[2] * crosses[0][2]
    scale = 2 * math.pi / det if det else math.inf
    recp = [[scale * x for x in row] for row in crosses]
    for value in itertools.chain.from_iterable(recp):
        scaled = value * 1e5
        if not math.isfinite(scaled) or abs(scaled - math.floor(scaled) - 0.5) < _ROUNDING_MARGIN:
            return np.array(lattice.reciprocal_lattice().abc)  # type: ignore[attr-defined]
    return np.array(Lattice(np.array(recp)).abc)


def _cross(u: list[float], v: list[float]) -> tuple[float, float, float]:
    return (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])


def image_grid(nmin: np.ndarray, nmax: np.ndarray) -> np.ndarray:
    """``itertools.product`` of the per-axis ``np.arange(lo, hi)`` ranges, as float rows."""
    sizes = [max(0, int(hi - lo)) for lo, hi in zip(nmin.tolist(), nmax.tolist(), strict=True)]
    offsets = np.indices(sizes, dtype=np.float64).reshape(3, -1).T
    return offsets + np.asarray(nmin, dtype=np.float64)


def image_shifts(images: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """jarvis' ``np.dot(image, matrix)`` for every image row, bit for bit."""
    matrix = np.asarray(matrix)
    shifts = (images @ matrix).reshape(-1, 3)
    count = images.shape[0]
    rows = sorted({(count - 1) * i // (_SHIFT_CHECK_ROWS - 1) for i in range(_SHIFT_CHECK_ROWS)})
    expected = [np.dot(tuple(images[row]), matrix) for row in rows if count]
    if count and not np.array_equal(np.array(expected), shifts[rows]):
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

    points = _ImagePoints(np.empty((shifts.shape[0], 3)), shifts, cart)
    kept = _near_sites(points, screen)
    pairs = cKDTree(cart).sparse_distance_matrix(
        cKDTree(_flat_points(points)[kept]), screen, output_type="ndarray"
    )
    n = cart.shape[0]
    point = kept[pairs["j"]]
    return point // n, point % n, pairs["i"].astype(np.int64)
