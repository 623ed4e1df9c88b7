"""The fast neighbour search against jarvis' own loop-based calls, number for number.

``jarvis.core.atoms`` needs no DGL, so its ``get_all_neighbors`` and reciprocal lattice
are the expectation here in both lanes. Each shortcut of alpha_tui.data.neighbours
(closed-form reciprocal lengths, one matrix product for the image shifts, the k-d tree
screen, the k-nearest shell, packed-key unique) is compared with the computation it
replaces, including the inputs that send it down its fallback.
"""

from __future__ import annotations

import crystal_factory as cf
import numpy as np
import pytest

from alpha_tui.data import neighbours as nb
from alpha_tui.data.graphs import build_graph, unique_rows

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

SMALL = {
    "sc_Po": lambda: cf.simple_cubic(4.0, "Po"),
    "fcc_primitive": cf.fcc_primitive,
    "wurtzite": cf.wurtzite,
    "triclinic": cf.triclinic,
    "outside_unit_cell": cf.outside_unit_cell,
    "skewed_1atom": cf.skewed_triclinic_one_atom,
    "diamond_x3": lambda: cf.supercell(cf.diamond(), (3, 3, 2)),  # 36 atoms, exact ties
}


def _random_lattices(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        np.diag(rng.uniform(2, 15, 3)) + rng.normal(scale=1.5, size=(3, 3)) for _ in range(count)
    ]


def _as_set(site, nbr, dist, image) -> set[tuple]:
    return {
        (int(i), int(j), float(d), tuple(int(x) for x in img))
        for i, j, d, img in zip(site, nbr, dist, image, strict=True)
    }


def _jarvis_neighbours(atoms, r: float) -> set[tuple]:
    out = set()
    for per_site in atoms.get_all_neighbors(r=r, bond_tol=nb.BOND_TOL):
        for i, j, d, image in per_site:
            out.add((int(i), int(j), float(d), tuple(int(x) for x in image)))
    return out


@pytest.mark.parametrize("name", list(SMALL))
def test_all_neighbours_equal_jarvis_get_all_neighbors_to_the_bit(name: str) -> None:
    atoms = SMALL[name]()
    found = nb.all_neighbours(atoms, 6.0)
    ours = _as_set(*found)
    assert len(ours) == found[0].shape[0]  # no duplicates
    assert ours == _jarvis_neighbours(atoms, 6.0)  # distances compared exactly


@pytest.mark.parametrize("name", ["wurtzite", "diamond_x3", "outside_unit_cell"])
def test_tree_screen_finds_the_dense_screens_pairs(name: str, monkeypatch) -> None:
    atoms = SMALL[name]()
    monkeypatch.setattr(nb, "_DENSE_PAIRS", 10**12)
    dense = _as_set(*nb.all_neighbours(atoms, 8.0))
    monkeypatch.setattr(nb, "_DENSE_PAIRS", 0)
    tree = _as_set(*nb.all_neighbours(atoms, 8.0))
    assert tree == dense and len(dense) > 100


def _knn_set(atoms) -> set[tuple]:
    site, nbr, image = nb.knn_neighbours(atoms, 8.0, 12)
    rows = zip(site.tolist(), nbr.tolist(), image.tolist(), strict=True)
    return {(i, j, tuple(m)) for i, j, m in rows}


@pytest.mark.parametrize(
    "make",
    [cf.large_supercell, cf.large_rattled_supercell, SMALL["diamond_x3"], cf.molecule_in_box],
    ids=["diamond_128", "rocksalt_128_rattled", "diamond_36", "N2_in_box"],
)
def test_nearest_shell_equals_the_full_search(make, monkeypatch) -> None:
    atoms = make()
    monkeypatch.setattr(nb, "_DENSE_PAIRS", 0)
    calls: list[bool] = []
    shell = nb._nearest_shell

    def spy(*args, **kwargs):
        out = shell(*args, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(nb, "_nearest_shell", spy)
    fast = _knn_set(atoms)
    monkeypatch.setattr(nb, "_nearest_shell", lambda *a, **k: None)
    assert fast == _knn_set(atoms)
    # the molecule has < 12 neighbours in 8 Å (jarvis enlarges the cutoff): no shortcut
    assert calls == [make is not cf.molecule_in_box]


def test_nearest_shell_steps_aside_for_images_closer_than_bond_tol(monkeypatch) -> None:
    # two atoms 0.12 Å apart: jarvis skips the pair (<= bond_tol), so must the shortcut
    # in a 3 Å box, so that every site has 12 neighbours well within the cutoff
    atoms = cf._cell(np.eye(3) * 3.0, ["H", "H"], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.04]])
    points = nb._image_points(atoms, 8.0)
    monkeypatch.setattr(nb, "_DENSE_PAIRS", 0)
    assert nb._nearest_shell(points, 8.0, 12) is None


def test_reciprocal_lengths_equal_jarvis_reciprocal_lattice() -> None:
    from jarvis.core.lattice import Lattice

    lattices = _random_lattices(300) + [np.asarray(a.lattice_mat) for a in SMALL_ATOMS()]
    for mat in lattices:
        lattice = Lattice(mat)
        expected = np.array(lattice.reciprocal_lattice().abc)
        np.testing.assert_array_equal(nb.reciprocal_lengths(lattice), expected)


def SMALL_ATOMS() -> list:  # noqa: N802 - reads like the constant it stands for
    return [make() for make in SMALL.values()]


def test_reciprocal_lengths_near_a_rounding_boundary_ask_jarvis() -> None:
    from jarvis.core.lattice import Lattice

    # a = 19.46494 Å (5 decimals, as jarvis keeps lattices): 2π / a = 0.322794999994, 6e-12
    # from half-way at the 5th decimal jarvis rounds to: the closed form must not decide
    lattice = Lattice(np.eye(3) * 19.46494)
    asked = []

    class Spy:
        matrix = lattice.matrix

        def reciprocal_lattice(self):
            asked.append(True)
            return lattice.reciprocal_lattice()

    got = nb.reciprocal_lengths(Spy())
    assert asked, "closed form used at a rounding boundary"
    np.testing.assert_array_equal(got, np.array(lattice.reciprocal_lattice().abc))


def test_image_shifts_equal_one_np_dot_per_image() -> None:
    images = nb.image_grid(np.array([-4.0, -3.0, -5.0]), np.array([5.0, 4.0, 6.0]))
    assert images.shape == (9 * 7 * 11, 3)
    for mat in _random_lattices(50, seed=1):
        expected = np.array([np.dot(tuple(im), mat) for im in images])
        np.testing.assert_array_equal(nb.image_shifts(images, mat), expected)


def test_image_grid_is_itertools_product_order() -> None:
    import itertools

    lo, hi = np.array([-1.0, 0.0, 2.0]), np.array([1.0, 3.0, 4.0])
    ranges = [np.arange(a, b) for a, b in zip(lo, hi, strict=True)]
    expected = np.array(list(itertools.product(*ranges)))
    np.testing.assert_array_equal(nb.image_grid(lo, hi), expected)


@pytest.mark.parametrize("span", [5, 10**7], ids=["packed", "too-wide-to-pack"])
def test_unique_rows_equals_numpy_unique_axis0(span: int) -> None:
    rng = np.random.default_rng(span)
    keys = rng.integers(-span, span, size=(4000, 5), dtype=np.int64)
    keys[1::2] = keys[::2]  # every row twice
    np.testing.assert_array_equal(unique_rows(keys), np.unique(keys, axis=0))
    assert unique_rows(keys[:0]).shape == (0, 5)


def test_shortcuts_change_no_graph(monkeypatch) -> None:
    """build_graph through the dense path and through the tree + shell path: same arrays."""
    for make in (cf.large_rattled_supercell, SMALL["triclinic"], SMALL["outside_unit_cell"]):
        atoms = make()
        monkeypatch.setattr(nb, "_DENSE_PAIRS", 10**12)
        dense = build_graph(atoms)
        monkeypatch.setattr(nb, "_DENSE_PAIRS", 0)
        tree = build_graph(atoms)
        for key, value in dense.arrays().items():
            np.testing.assert_array_equal(getattr(tree, key), value)
