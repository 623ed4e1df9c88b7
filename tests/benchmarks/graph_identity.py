"""Is alpha-tui's CrystalGraph the graph jarvis builds? A difference, named, or None.

The two builders order edges differently (jarvis' order comes from Python set
iteration), so graphs are compared as multisets: bonds by (src, dst, periodic image
of dst), the image recovered from each edge vector; edge vectors within ``TOL`` of
each other; line-graph edges by the pair of bond classes they join, with their angle
cosines within ``TOL``. Used by fig_graphs.py on every crystal it times, and by
tests/test_graph_identity.py, which also checks that it does see differences.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOL = 1e-5


def reference_graph(atoms: Any, canonize: bool = True) -> tuple[Any, Any]:
    """(g, lg) exactly as the users' data code asks jarvis for them."""
    from jarvis.core.graphs import Graph

    return Graph.atom_dgl_multigraph(
        atoms,
        cutoff=8.0,
        max_neighbors=12,
        atom_features="cgcnn",
        use_canonize=canonize,
        compute_line_graph=True,
    )


def edge_images(atoms: Any, src: np.ndarray, dst: np.ndarray, r: np.ndarray) -> np.ndarray:
    """[E, 3] integer image of each edge's destination, from its Cartesian vector."""
    lat = np.asarray(atoms.lattice.matrix, dtype=np.float64)
    frac = np.atleast_2d(np.asarray(atoms.frac_coords, dtype=np.float64))
    img = r.astype(np.float64) @ np.linalg.inv(lat) - frac[dst] + frac[src]
    rounded = np.rint(img)
    worst = float(np.abs(img - rounded).max()) if img.size else 0.0
    if worst > 1e-3:
        raise AssertionError(f"an edge vector is not a lattice-image displacement ({worst:.2e})")
    return rounded.astype(np.int64)


def graph_difference(atoms: Any, ours: Any, g: Any, lg: Any) -> str | None:
    """First way ``ours`` (a CrystalGraph) differs from jarvis' ``(g, lg)``, or None."""
    if g.num_nodes() != ours.num_nodes:
        return f"{ours.num_nodes} atoms, jarvis {g.num_nodes()}"
    if not np.array_equal(ours.atom_features, g.ndata["atom_features"].numpy()):
        return "atom features differ"
    ref_src, ref_dst = (x.numpy().astype(np.int64) for x in g.edges())
    ref_r = g.edata["r"].numpy()
    if ref_src.shape[0] != ours.num_edges:
        return f"{ours.num_edges} edges, jarvis {ref_src.shape[0]}"

    our_keys = _bond_keys(atoms, ours.src, ours.dst, ours.r)
    ref_keys = _bond_keys(atoms, ref_src, ref_dst, ref_r)
    our_order, ref_order = _row_order(our_keys), _row_order(ref_keys)
    if not np.array_equal(our_keys[our_order], ref_keys[ref_order]):
        return "edge multisets (src, dst, image) differ"
    gap = _max_gap(ours.r[our_order], ref_r[ref_order])
    if gap > TOL:
        return f"edge vectors differ by {gap:.2e} Å"

    classes, our_class = np.unique(our_keys, axis=0, return_inverse=True)
    ref_class = _class_of(ref_keys, classes)
    ref_lg_src, ref_lg_dst = (x.numpy().astype(np.int64) for x in lg.edges())
    if lg.num_nodes() != ours.num_edges:
        return f"line graph has {lg.num_nodes()} nodes for {ours.num_edges} bonds"
    if ref_lg_src.shape[0] != ours.num_line_edges:
        return f"{ours.num_line_edges} triplets, jarvis {ref_lg_src.shape[0]}"
    ours_t, ours_cos = _triplets(our_class.reshape(-1), ours.lg_src, ours.lg_dst, ours.angle_cos)
    ref_t, ref_cos = _triplets(ref_class, ref_lg_src, ref_lg_dst, lg.edata["h"].numpy())
    if not np.array_equal(ours_t, ref_t):
        return "line-graph triplets (bond pairs) differ"
    gap = _max_gap(ours_cos, ref_cos)
    if gap > TOL:
        return f"angle cosines differ by {gap:.2e}"
    return None


def _bond_keys(atoms: Any, src: np.ndarray, dst: np.ndarray, r: np.ndarray) -> np.ndarray:
    img = edge_images(atoms, src, dst, r)
    return np.column_stack([src, dst, img]).astype(np.int64)


def _row_order(rows: np.ndarray) -> np.ndarray:
    return np.lexsort(rows.T[::-1])


def _class_of(keys: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Index in ``classes`` (unique rows) of each row of ``keys`` (all present)."""
    both = np.concatenate([classes, keys])
    _, inverse = np.unique(both, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return inverse[classes.shape[0] :]  # classes map to 0..k-1 in order, so ids agree


def _triplets(
    bond_class: np.ndarray, lg_src: np.ndarray, lg_dst: np.ndarray, cos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    a, b = bond_class[lg_src], bond_class[lg_dst]
    cos = np.asarray(cos, dtype=np.float64)
    order = np.lexsort((cos, b, a))
    return np.column_stack([a, b])[order], cos[order]


def _max_gap(x: np.ndarray, y: np.ndarray) -> float:
    if x.size == 0:
        return 0.0
    return float(np.abs(x.astype(np.float64) - y.astype(np.float64)).max())
