"""build_graph against the reference it replaces: jarvis' DGL graph builder.

Runs in the DGL lane only (jarvis.core.graphs imports dgl at module level). Edge
order differs between the two builders (jarvis' comes from Python set iteration), so
graphs are compared as multisets: bonds by (src, dst, r), line-graph edges by the
bonds they join plus their angle cosine.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.dgl

dgl = pytest.importorskip("dgl")
torch = pytest.importorskip("torch")
jarvis_graphs = pytest.importorskip("jarvis.core.graphs")

import crystal_factory  # noqa: E402

from alpha_tui.data.graphs import CrystalGraph, build_graph, to_dgl  # noqa: E402

CRYSTALS = crystal_factory.all_crystals()


def _reference(atoms, use_canonize: bool = True):
    return jarvis_graphs.Graph.atom_dgl_multigraph(
        atoms,
        cutoff=8.0,
        max_neighbors=12,
        atom_features="cgcnn",
        use_canonize=use_canonize,
        compute_line_graph=True,
    )


def _canonical(src: np.ndarray, dst: np.ndarray, r: np.ndarray):
    """Sort order of the bonds and a content id per bond (equal bonds share an id)."""
    key = np.round(r.astype(np.float64), 3)
    order = np.lexsort((key[:, 2], key[:, 1], key[:, 0], dst, src))
    rows = np.column_stack([src, dst, key])[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = np.any(rows[1:] != rows[:-1], axis=1)
    content = np.empty(len(order), dtype=np.int64)
    content[order] = np.cumsum(new_group) - 1
    return order, content


def _line_multiset(content: np.ndarray, lg_src: np.ndarray, lg_dst: np.ndarray, cos: np.ndarray):
    a, b = content[lg_src], content[lg_dst]
    order = np.lexsort((np.round(cos, 4), b, a))
    return np.column_stack([a, b])[order], cos[order]


@pytest.mark.parametrize("canonize", [True, False], ids=["canonize", "as-found"])
@pytest.mark.parametrize("name", list(CRYSTALS))
def test_graph_equals_jarvis_dgl_graph(name: str, canonize: bool) -> None:
    atoms = CRYSTALS[name]
    g_ref, lg_ref = _reference(atoms, use_canonize=canonize)
    ours = build_graph(atoms, cutoff=8.0, max_neighbors=12, canonize=canonize)

    ref_src, ref_dst = (x.numpy().astype(np.int64) for x in g_ref.edges())
    ref_r = g_ref.edata["r"].numpy()
    assert g_ref.num_nodes() == ours.num_nodes == atoms.num_atoms
    assert ours.num_edges == ref_src.shape[0]

    np.testing.assert_array_equal(ours.atom_features, g_ref.ndata["atom_features"].numpy())
    assert ours.atomic_numbers.tolist() == list(atoms.atomic_numbers)

    ref_order, ref_content = _canonical(ref_src, ref_dst, ref_r)
    our_order, our_content = _canonical(ours.src, ours.dst, ours.r)
    np.testing.assert_array_equal(ours.src[our_order], ref_src[ref_order])
    np.testing.assert_array_equal(ours.dst[our_order], ref_dst[ref_order])
    np.testing.assert_allclose(ours.r[our_order], ref_r[ref_order], atol=2e-5, rtol=0)

    ref_lg_src, ref_lg_dst = (x.numpy().astype(np.int64) for x in lg_ref.edges())
    assert ours.num_line_edges == ref_lg_src.shape[0]
    ref_pairs, ref_cos = _line_multiset(
        ref_content, ref_lg_src, ref_lg_dst, lg_ref.edata["h"].numpy()
    )
    our_pairs, our_cos = _line_multiset(our_content, ours.lg_src, ours.lg_dst, ours.angle_cos)
    np.testing.assert_array_equal(our_pairs, ref_pairs)
    np.testing.assert_allclose(our_cos, ref_cos, atol=2e-5, rtol=0)


@pytest.mark.parametrize("name", ["sc_Po", "wurtzite_ZnO", "triclinic"])
def test_to_dgl_line_graph_is_dgls_own(name: str) -> None:
    """Our line graph and cosines are what DGL and alignn compute on our atom graph."""
    ours = build_graph(CRYSTALS[name])
    g, lg = to_dgl(ours)
    assert g.num_nodes() == ours.num_nodes and lg.num_nodes() == ours.num_edges
    np.testing.assert_array_equal(g.ndata["atom_features"].numpy(), ours.atom_features)

    dgl_lg = g.line_graph(shared=True)
    dgl_lg.apply_edges(jarvis_graphs.compute_bond_cosines)
    expected = sorted(zip(*(x.tolist() for x in dgl_lg.edges()), strict=True))
    got = sorted(zip(*(x.tolist() for x in lg.edges()), strict=True))
    assert got == expected

    a, b = (x.numpy() for x in dgl_lg.edges())
    ref = dict(
        zip(
            zip(a.tolist(), b.tolist(), strict=True),
            dgl_lg.edata["h"].numpy().tolist(),
            strict=True,
        )
    )
    ours_cos = np.array(
        [ref[(x, y)] for x, y in zip(ours.lg_src.tolist(), ours.lg_dst.tolist(), strict=True)]
    )
    np.testing.assert_allclose(lg.edata["h"].numpy(), ours_cos, atol=2e-6, rtol=0)


def test_round_trip_arrays_keeps_graph() -> None:
    ours = build_graph(CRYSTALS["rutile_TiO2"])
    again = CrystalGraph.from_arrays(ours.arrays())
    for key, value in ours.arrays().items():
        np.testing.assert_array_equal(getattr(again, key), value)


def test_use_canonize_changes_the_graph() -> None:
    """The two settings are different graphs (so the flag is worth having), per jarvis."""
    changed = []
    for name, atoms in CRYSTALS.items():
        on = build_graph(atoms, canonize=True)
        off = build_graph(atoms, canonize=False)
        ref_on, _ = _reference(atoms, use_canonize=True)
        ref_off, _ = _reference(atoms, use_canonize=False)
        assert (on.num_edges, off.num_edges) == (ref_on.num_edges(), ref_off.num_edges())
        if on.num_edges != off.num_edges:
            changed.append(name)
    assert changed, "use_canonize made no difference on any test crystal"
