"""build_graph and collate against closed forms and a brute-force neighbour reference.

The DGL lane compares with jarvis itself; here (no DGL) the expectations come from
geometry: neighbour shells of cubic lattices with a = 4 Å (every coordinate and
squared distance is exact in binary, so shell ties are exact), a brute-force
k-nearest search with a tolerance on tie-free (rattled) crystals, and the law of
cosines for bond angles.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import crystal_factory as cf
import numpy as np
import pytest
import torch

from alpha_tui.data.batching import collate
from alpha_tui.data.graphs import CrystalGraph, build_graph

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

A = 4.0


def _images(graph: CrystalGraph, atoms) -> np.ndarray:
    """Integer lattice image of each edge's destination, recovered from r."""
    lat = np.asarray(atoms.lattice.matrix, dtype=np.float64)
    frac = np.asarray(atoms.frac_coords, dtype=np.float64)
    img = graph.r.astype(np.float64) @ np.linalg.inv(lat) - frac[graph.dst] + frac[graph.src]
    rounded = np.rint(img)
    assert np.abs(img - rounded).max() < 1e-4, "r is not a lattice-image displacement"
    return rounded.astype(int)


def _edge_counter(graph: CrystalGraph, atoms) -> Counter:
    img = _images(graph, atoms)
    return Counter(
        (int(s), int(d), tuple(i)) for s, d, i in zip(graph.src, graph.dst, img, strict=True)
    )


def _shell_counts(graph: CrystalGraph) -> dict[float, int]:
    lengths = np.round(np.linalg.norm(graph.r.astype(np.float64), axis=1), 4)
    return dict(sorted(Counter(lengths.tolist()).items()))


# --- closed forms -------------------------------------------------------------------


def test_simple_cubic_keeps_every_tie_of_the_12th_neighbour() -> None:
    # 6 neighbours at a, 12 at a*sqrt(2): the 12th distance is a*sqrt(2), so all 18 stay.
    # One atom: each self-image bond is stored for +image and -image, each both ways.
    graph = build_graph(cf.simple_cubic(A, "Po"))
    assert graph.num_nodes == 1
    assert graph.num_edges == 18 * 2
    assert _shell_counts(graph) == {round(A, 4): 12, round(A * np.sqrt(2), 4): 24}
    expected = Counter()
    for n in itertools.product((-1, 0, 1), repeat=3):
        if sum(abs(x) for x in n) in (1, 2):
            expected[tuple(A * np.array(n, dtype=float))] += 2
    got = Counter(tuple(v) for v in graph.r.astype(np.float64).tolist())
    assert got == expected


@pytest.mark.parametrize(
    ("atoms", "shells"),
    [
        # bcc (1-atom primitive): 8 at a*sqrt(3)/2 and 6 at a -> 14 >= 12, cut at a
        (cf.bcc_primitive(A, "Fe"), {A * np.sqrt(3) / 2: 8 * 2, A: 6 * 2}),
        # bcc conventional: 8 bonds to the other atom (2 directions, merged from both ends)
        # plus 6 self images per atom, each listed 2x2 times
        (cf.bcc_conventional(A, "W"), {A * np.sqrt(3) / 2: 8 * 2, A: 6 * 2 * 2}),
        # fcc: exactly 12 at a/sqrt(2)
        (cf.fcc_primitive(A, "Cu"), {A / np.sqrt(2): 12 * 2}),
        # fcc conventional: 4 atoms x 12 neighbours, all between distinct atoms
        (cf.fcc_conventional(A, "Al"), {A / np.sqrt(2): 4 * 12}),
        # diamond: 4 at a*sqrt(3)/4 (other atom), then 12 at a/sqrt(2) (same sublattice)
        (cf.diamond(A, "Si"), {A * np.sqrt(3) / 4: 4 * 2, A / np.sqrt(2): 2 * 12 * 2}),
        # rocksalt: 6 at a/2 (other species), 12 at a/sqrt(2) (same species)
        (cf.rocksalt(A, "Na", "Cl"), {A / 2: 6 * 2, A / np.sqrt(2): 2 * 12 * 2}),
        # CsCl: 8 at a*sqrt(3)/2, 6 at a -> 14
        (cf.cesium_chloride(A), {A * np.sqrt(3) / 2: 8 * 2, A: 6 * 2 * 2}),
    ],
    ids=["bcc_prim", "bcc_conv", "fcc_prim", "fcc_conv", "diamond", "rocksalt", "CsCl"],
)
def test_cubic_neighbour_shells(atoms, shells: dict[float, int]) -> None:
    graph = build_graph(atoms)
    assert _shell_counts(graph) == {round(k, 4): v for k, v in shells.items()}


def test_r_points_from_source_to_destination_image() -> None:
    atoms = cf.rocksalt(A, "Na", "Cl")  # Na at 0, Cl at (a/2)(1,1,1)/... in the fcc cell
    graph = build_graph(atoms)
    cart = np.asarray(atoms.cart_coords, dtype=np.float64)
    na_to_cl = (graph.src == 0) & (graph.dst == 1)
    # every Na->Cl bond ends on a Cl image: cart[Na] + r == cart[Cl] + lattice vector
    ends = cart[0] + graph.r[na_to_cl].astype(np.float64)
    lat_inv = np.linalg.inv(np.asarray(atoms.lattice.matrix, dtype=np.float64))
    shift = (ends - cart[1]) @ lat_inv
    np.testing.assert_allclose(shift, np.rint(shift), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(graph.r[na_to_cl], axis=1), A / 2, rtol=1e-6)


def test_cgcnn_features_are_jarvis_table_rows() -> None:
    import jarvis.core.specie as specie

    table = json.loads(Path(specie.cgcnn_feature_json).read_text())
    atoms = cf.perovskite()
    graph = build_graph(atoms)
    assert graph.atomic_numbers.tolist() == [38, 22, 8, 8, 8]
    expected = np.array([table[str(z)] for z in (38, 22, 8, 8, 8)], dtype=np.float32)
    np.testing.assert_array_equal(graph.atom_features, expected)
    assert graph.atom_features.dtype == np.float32 and graph.atom_features.shape == (5, 92)


# --- brute-force reference ----------------------------------------------------------


def _reference_edges(atoms, k: int = 12, tol: float = 1e-6) -> Counter:
    """k-NN (ties within tol kept), symmetrised; self-image bonds counted twice."""
    lat = np.asarray(atoms.lattice_mat, dtype=np.float64)
    cart = np.asarray(atoms.cart_coords, dtype=np.float64)
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(lat), axis=0)  # interplanar distances
    radius = 6.0
    while True:
        reach = np.ceil(radius / spacing).astype(int) + 2
        images = np.array(list(itertools.product(*(range(-m, m + 1) for m in reach))))
        shifts = images @ lat
        found = set()
        d12_max = 0.0
        for i in range(len(cart)):
            vec = cart[None, :, :] + shifts[:, None, :] - cart[i]
            dist = np.linalg.norm(vec, axis=2)  # [image, j]
            ok = dist > 0.15
            d12 = np.sort(dist[ok])[k - 1]
            d12_max = max(d12_max, d12)
            for m, j in zip(*np.nonzero(ok & (dist <= d12 + tol)), strict=True):
                found.add((i, int(j), tuple(int(x) for x in images[m])))
        if d12_max < radius:
            break
        radius *= 2
    sym = found | {(j, i, tuple(-x for x in img)) for i, j, img in found}
    return Counter({e: (2 if e[0] == e[1] else 1) for e in sym})


TIE_FREE = {
    "rattled_perovskite": lambda: cf.rattled(cf.perovskite(), seed=3),
    "rattled_wurtzite": lambda: cf.rattled(cf.wurtzite(), seed=4),
    "triclinic": cf.triclinic,
    "monoclinic": cf.monoclinic,
    "skewed_triclinic_1atom": cf.skewed_triclinic_one_atom,
    "outside_unit_cell": cf.outside_unit_cell,
    # too few neighbours within 8 Å: the cutoff-enlargement path
    "rattled_MoS2_slab": lambda: cf.rattled(cf.mos2_monolayer(), seed=8, amplitude=0.03),
    "rattled_N2_box": lambda: cf.rattled(cf.molecule_in_box(), seed=9, amplitude=0.03),
    "rattled_128_atoms": cf.large_rattled_supercell,
}


@pytest.mark.parametrize("name", list(TIE_FREE))
def test_edges_match_brute_force_knn(name: str) -> None:
    atoms = TIE_FREE[name]()
    graph = build_graph(atoms, cutoff=8.0, max_neighbors=12)
    assert _edge_counter(graph, atoms) == _reference_edges(atoms)


def test_fewer_neighbours_requested_gives_smaller_graph() -> None:
    atoms = cf.rattled(cf.perovskite(), seed=3)
    small = build_graph(atoms, max_neighbors=4)
    assert _edge_counter(small, atoms) == _reference_edges(atoms, k=4)


# --- structure of the graph and line graph --------------------------------------------


@pytest.mark.parametrize(
    "atoms",
    [cf.simple_cubic(A), cf.wurtzite(), cf.triclinic(), cf.molecule_in_box()],
    ids=["sc", "wurtzite", "triclinic", "N2_box"],
)
def test_graph_is_undirected(atoms) -> None:
    graph = build_graph(atoms)
    r = np.round(graph.r.astype(np.float64), 4) + 0.0  # + 0.0 folds -0.0 into 0.0
    src, dst = graph.src.tolist(), graph.dst.tolist()
    forward = Counter(zip(src, dst, map(tuple, r.tolist()), strict=True))
    backward = Counter(zip(dst, src, map(tuple, (-r).tolist()), strict=True))
    assert forward == backward


@pytest.mark.parametrize(
    "atoms",
    [cf.simple_cubic(A), cf.bcc_conventional(A), cf.wurtzite(), cf.triclinic()],
    ids=["sc", "bcc_conv", "wurtzite", "triclinic"],
)
def test_line_graph_is_every_consecutive_bond_pair(atoms) -> None:
    graph = build_graph(atoms)
    a, b = graph.lg_src, graph.lg_dst
    assert np.all(graph.dst[a] == graph.src[b])
    assert np.all(a != b)
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    assert len(pairs) == graph.num_line_edges  # no duplicates
    out_degree = np.bincount(graph.src, minlength=graph.num_nodes)
    self_loops = int(
        np.sum(graph.src == graph.dst)
    )  # the only bonds that could pair with themselves
    assert graph.num_line_edges == int(out_degree[graph.dst].sum()) - self_loops


def test_angle_cosines_follow_law_of_cosines() -> None:
    graph = build_graph(cf.monoclinic())
    r = graph.r.astype(np.float64)
    ra, rb = r[graph.lg_src], r[graph.lg_dst]
    la, lb = np.linalg.norm(ra, axis=1), np.linalg.norm(rb, axis=1)
    # the angle at the shared atom between the two far atoms at -r_a and r_b
    far = np.linalg.norm(-ra - rb, axis=1)
    expected = (la**2 + lb**2 - far**2) / (2 * la * lb)
    np.testing.assert_allclose(graph.angle_cos, expected, atol=1e-5)
    assert graph.angle_cos.dtype == np.float32
    assert np.all(np.abs(graph.angle_cos) <= 1.0)


def test_simple_cubic_angle_counts() -> None:
    # each bond vector appears twice: its reverse (backtracking, cos = +1) twice and its
    # duplicate (straight on, cos = -1) once
    graph = build_graph(cf.simple_cubic(A))
    assert graph.num_line_edges == 36 * 35
    assert int(np.sum(np.isclose(graph.angle_cos, 1.0))) == 36 * 2
    assert int(np.sum(np.isclose(graph.angle_cos, -1.0))) == 36
    # 90 degrees between two nearest-neighbour bonds along different axes: 6 x 4 x 2 x 2
    nn = np.isclose(np.linalg.norm(graph.r, axis=1), A)
    both_nn = nn[graph.lg_src] & nn[graph.lg_dst]
    assert int(np.sum(both_nn & np.isclose(graph.angle_cos, 0.0, atol=1e-6))) == 6 * 4 * 2 * 2


def test_from_arrays_rejects_inconsistent_graph() -> None:
    graph = build_graph(cf.cesium_chloride(A))
    arrays = graph.arrays()
    np.testing.assert_array_equal(CrystalGraph.from_arrays(arrays).r, graph.r)
    broken = dict(arrays, lg_dst=arrays["lg_dst"][::-1].copy())
    with pytest.raises(ValueError, match="share an atom"):
        CrystalGraph.from_arrays(broken)
    with pytest.raises(ValueError, match="int64"):
        CrystalGraph.from_arrays(dict(arrays, src=arrays["src"].astype(np.int32)))


# --- collate --------------------------------------------------------------------------


def test_collate_offsets_nodes_and_bonds_per_crystal() -> None:
    graphs = [build_graph(cf.simple_cubic(A)), build_graph(cf.wurtzite()), build_graph(cf.rutile())]
    text = np.arange(3 * 5, dtype=np.float32).reshape(3, 5)
    batch = collate(graphs, text)

    nodes = [g.num_nodes for g in graphs]
    edges = [g.num_edges for g in graphs]
    assert batch.batch_num_nodes.tolist() == nodes == [1, 4, 6]
    assert batch.batch_num_edges.tolist() == edges
    assert batch.num_nodes == 11 and batch.num_crystals == 3
    node_off, edge_off = [0, 1, 5], [0, edges[0], edges[0] + edges[1]]
    e0, t0 = 0, 0
    for g, no, eo in zip(graphs, node_off, edge_off, strict=True):
        e1, t1 = e0 + g.num_edges, t0 + g.num_line_edges
        assert batch.src[e0:e1].tolist() == (g.src + no).tolist()
        assert batch.dst[e0:e1].tolist() == (g.dst + no).tolist()
        assert batch.lg_src[t0:t1].tolist() == (g.lg_src + eo).tolist()
        assert batch.lg_dst[t0:t1].tolist() == (g.lg_dst + eo).tolist()
        e0, t0 = e1, t1
    assert torch.equal(batch.dst[batch.lg_src], batch.src[batch.lg_dst])
    np.testing.assert_array_equal(
        batch.atom_features.numpy(), np.concatenate([g.atom_features for g in graphs])
    )
    np.testing.assert_array_equal(batch.bond_r.numpy(), np.concatenate([g.r for g in graphs]))
    np.testing.assert_array_equal(batch.text.numpy(), text)
    assert batch.src.dtype == torch.int64 and batch.angle_cos.dtype == torch.float32


def test_collate_rejects_text_rows_not_matching_crystals() -> None:
    graphs = [build_graph(cf.simple_cubic(A))]
    with pytest.raises(ValueError, match="text must be"):
        collate(graphs, np.zeros((2, 8), dtype=np.float32))
