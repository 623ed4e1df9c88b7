"""Robocrystallographer-style text measured on the crystal itself.

The users' models read paragraphs written by robocrystallographer for each crystal.
The sample set needs the same kind of text, but robocrys (and pymatgen) are not
dependencies, so this module writes the same sentence shapes from spglib symmetry and
a nearest-neighbour shell search. Every number in the text is measured on the given
structure, so a strained or rattled copy of a compound reads differently from its parent
in exactly the places a real robocrys description would.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import spglib
from jarvis.core.atoms import Atoms
from jarvis.core.specie import Specie

from alpha_tui.samples.prototypes import PROTOTYPES, quiet_spglib

SYMPREC = 0.01  # robocrys' default
SHELL_SEARCH = 1.35  # candidates up to this multiple of the nearest distance
SHELL_GAP = 1.12  # a jump by this ratio between consecutive distances ends the shell ...
SHELL_GAP_MIN = 0.25  # ... if it is also this wide (Angstrom), so rattling does not split it
SHELL_NO_GAP = 1.25  # without such a jump, keep everything within this multiple

_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()

_SYSTEMS = (
    (2, "triclinic"),
    (15, "monoclinic"),
    (74, "orthorhombic"),
    (142, "tetragonal"),
    (167, "trigonal"),
    (194, "hexagonal"),
    (230, "cubic"),
)


@dataclass(frozen=True)
class Neighbor:
    """Site ``index`` in the periodic image ``image`` of the cell, at ``distance`` Angstrom."""

    index: int
    image: tuple[int, int, int]
    distance: float
    vector: tuple[float, float, float]


def number_word(n: int) -> str:
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def crystal_system(space_group: int) -> str:
    for last, name in _SYSTEMS:
        if space_group <= last:
            return name
    raise ValueError(f"space group {space_group} out of range")


def reduced_formula(elements: Sequence[str]) -> str:
    """Formula with species in order of first appearance (the prototype's cation-first order)."""
    counts = Counter(elements)
    order = list(dict.fromkeys(elements))
    divisor = math.gcd(*counts.values())
    parts = []
    for el in order:
        n = counts[el] // divisor
        parts.append(el if n == 1 else f"{el}{n}")
    return "".join(parts)


def _images(lattice: np.ndarray, radius: float) -> np.ndarray:
    inv = np.linalg.inv(lattice)
    reach = np.ceil(radius * np.linalg.norm(inv, axis=0)).astype(int) + 1
    axes = [np.arange(-r, r + 1) for r in reach]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def _shell(distances: np.ndarray) -> int:
    """How many of the sorted candidate distances form the first coordination shell.

    Scanning outward, the shell ends at the first clear jump between consecutive
    distances (the first distance beyond the search window included, so a clean shell is
    cut at its outer edge); without such a jump everything close to the nearest distance
    is kept.
    """
    d = distances
    n_within = int(np.count_nonzero(d <= d[0] * SHELL_SEARCH))
    window = d[: n_within + 1]
    if len(window) > 1:
        ratio = window[1:] / window[:-1]
        width = window[1:] - window[:-1]
        jumps = np.flatnonzero((ratio > SHELL_GAP) & (width > SHELL_GAP_MIN))
        if jumps.size:
            return int(jumps[0]) + 1
    return int(np.count_nonzero(d <= d[0] * SHELL_NO_GAP))


def _bond_candidates(dist: np.ndarray, same_element: np.ndarray) -> np.ndarray:
    """Homonuclear contacts only count when they are shorter than the first heteronuclear one.

    That keeps the S-S dimer of pyrite but not the F-F or Cs-Cs contacts of fluorite and
    CsCl, which robocrystallographer does not call bonds either.
    """
    mask = np.broadcast_to(same_element, dist.shape)
    hetero = dist[~mask]
    if hetero.size == 0 or not np.isfinite(hetero.min()):
        return dist
    return np.where(mask & (dist > hetero.min()), np.inf, dist)


def neighbor_shells(atoms: Atoms) -> list[list[Neighbor]]:
    """First coordination shell of every site (periodic images included), nearest first."""
    lattice = np.asarray(atoms.lattice_mat, dtype=float)
    frac = np.asarray(atoms.frac_coords, dtype=float)
    elements = np.array(atoms.elements)
    same = elements[:, None] == elements[None, :]
    radius = 6.0
    while True:
        images = _images(lattice, radius)
        shells: list[list[Neighbor]] = []
        too_small = False
        for i in range(len(frac)):
            delta = frac[None, :, :] + images[:, None, :] - frac[i]
            vec = delta @ lattice
            dist = np.linalg.norm(vec, axis=-1)
            dist[np.all(images == 0, axis=1), i] = np.inf
            dist = np.round(_bond_candidates(dist, same[i][None, :]), 6)
            flat = np.argsort(dist, axis=None, kind="stable")
            sorted_d = dist.reshape(-1)[flat]
            keep = sorted_d <= radius
            if not keep.any() or sorted_d[0] * SHELL_SEARCH > radius:
                too_small = True
                break
            n = _shell(sorted_d[keep])
            shell = []
            for pos in flat[:n]:
                m, j = divmod(int(pos), len(frac))
                shell.append(
                    Neighbor(
                        j,
                        (int(images[m, 0]), int(images[m, 1]), int(images[m, 2])),
                        float(dist[m, j]),
                        (float(vec[m, j, 0]), float(vec[m, j, 1]), float(vec[m, j, 2])),
                    )
                )
            shells.append(shell)
        if not too_small:
            return shells
        radius *= 2.0


def _angles(shell: Sequence[Neighbor]) -> list[float]:
    vecs = np.array([nb.vector for nb in shell])
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    cos = np.clip(unit @ unit.T, -1.0, 1.0)
    iu = np.triu_indices(len(shell), k=1)
    return list(np.degrees(np.arccos(cos[iu])))


def _geometry(shell: Sequence[Neighbor]) -> tuple[str, str | None]:
    """(geometry phrase, polyhedron plural or None for a non-polyhedral environment)."""
    cn = len(shell)
    angles = _angles(shell) if cn > 1 else []
    if cn == 2:
        angle = angles[0]
        return ("linear" if angle >= 170.0 else f"bent {angle:.0f} degrees", None)
    if cn == 3:
        planar = sum(angles) >= 355.0
        return ("trigonal planar" if planar else "trigonal non-coplanar", None)
    if cn == 4:
        if sum(a > 160.0 for a in angles) >= 2:
            return ("square co-planar", None)
        return ("tetrahedral", "tetrahedra")
    if cn == 6:
        if sum(a > 150.0 for a in angles) >= 3:
            return ("octahedral", "octahedra")
        return ("trigonal prismatic", "trigonal prisms")
    if cn == 8:
        cube = all(min(abs(a - t) for t in (70.53, 109.47, 180.0)) < 8.0 for a in angles)
        return ("body-centered cubic" if cube else "8-coordinate", None)
    if cn == 12:
        return ("cuboctahedral", "cuboctahedra")
    return (f"{cn}-coordinate", None)


@dataclass(frozen=True)
class _Group:
    label: str  # "Ga(1)" for a symmetry class, "Ga" when grouping by element
    element: str
    sites: tuple[int, ...]
    by_symmetry: bool


def _groups(atoms: Atoms) -> tuple[list[_Group], int, str]:
    numbers = [Specie(el).Z for el in atoms.elements]
    cell = (np.asarray(atoms.lattice_mat), np.asarray(atoms.frac_coords), numbers)
    with quiet_spglib():
        data = spglib.get_symmetry_dataset(cell, symprec=SYMPREC)
    n_species = len(set(atoms.elements))
    if data is None:
        equivalent = list(range(len(numbers)))
        number, symbol = 1, "P1"
    else:
        equivalent = [int(e) for e in data.equivalent_atoms]
        number, symbol = int(data.number), str(data.international)
    species = list(dict.fromkeys(atoms.elements))
    classes = list(dict.fromkeys(equivalent))
    if len(classes) > max(4, 2 * n_species):
        # A rattled supercell: every site is its own class; describe per element instead.
        groups = [
            _Group(el, el, tuple(i for i, e in enumerate(atoms.elements) if e == el), False)
            for el in species
        ]
        return groups, number, symbol
    classes.sort(key=lambda c: (species.index(atoms.elements[c]), c))
    seen: Counter[str] = Counter()
    groups = []
    for c in classes:
        el = atoms.elements[c]
        seen[el] += 1
        members = tuple(i for i, e in enumerate(equivalent) if e == c)
        groups.append(_Group(f"{el}({seen[el]})", el, members, True))
    return groups, number, symbol


def _sharing(
    center: int, shells: Sequence[Sequence[Neighbor]], same_group: Sequence[int]
) -> set[str]:
    """Corner/edge/face sharing between this polyhedron and others of the same group."""
    owners: dict[int, list[tuple[int, tuple[int, int, int]]]] = {}
    for m in same_group:
        for nb in shells[m]:
            owners.setdefault(nb.index, []).append((m, nb.image))
    shared: Counter[tuple[int, tuple[int, int, int]]] = Counter()
    for nb in shells[center]:
        for m, img in owners.get(nb.index, []):
            t = (nb.image[0] - img[0], nb.image[1] - img[1], nb.image[2] - img[2])
            if m == center and t == (0, 0, 0):
                continue
            shared[(m, t)] += 1
    kinds = set()
    for count in shared.values():
        kinds.add("corner" if count == 1 else "edge" if count == 2 else "face")
    return kinds


def _sharing_phrase(kinds: set[str]) -> str:
    ordered = [k for k in ("face", "edge", "corner") if k in kinds]
    if not ordered:
        return ""
    if len(ordered) == 1:
        return f"{ordered[0]}-sharing "
    if len(ordered) == 2:
        return f"a mixture of {ordered[0]} and {ordered[1]}-sharing "
    return f"a mixture of {ordered[0]}, {ordered[1]}, and {ordered[2]}-sharing "


def _neighbor_phrase(counts: dict[str, int], equivalent: bool) -> str:
    parts = []
    for label, n in counts.items():
        eq = "equivalent " if equivalent and n > 1 else ""
        parts.append(f"{number_word(n)} {eq}{label}")
    noun = "atom" if list(counts.values())[-1] == 1 else "atoms"
    if len(parts) == 1:
        return f"{parts[0]} {noun}"
    return f"{', '.join(parts[:-1])} and {parts[-1]} {noun}"


def _poly_name(center: str, shell_elements: Sequence[str], species: Sequence[str]) -> str:
    counts = Counter(shell_elements)
    ordered = sorted(counts, key=species.index)
    return center + "".join(el if counts[el] == 1 else f"{el}{counts[el]}" for el in ordered)


def bond_sentence(a: str, b: str, distances: Sequence[float]) -> str:
    """Robocrys wording for one element pair; lengths rounded to 0.01 Angstrom."""
    rounded = sorted(f"{d:.2f}" for d in distances)
    unique = sorted(set(rounded), key=float)
    pair = f"{a}–{b}"
    if len(unique) == 1:
        if len(rounded) == 1:
            return f"The {pair} bond length is {unique[0]} Å."
        return f"All {pair} bond lengths are {unique[0]} Å."
    if len(unique) == 2:
        n_short = rounded.count(unique[0])
        n_long = rounded.count(unique[1])
        verb = "is" if n_short == 1 else "are"
        return (
            f"There {verb} {number_word(n_short)} shorter ({unique[0]} Å) and "
            f"{number_word(n_long)} longer ({unique[1]} Å) {pair} bond lengths."
        )
    return f"There are a spread of {pair} bond distances ranging from {unique[0]}–{unique[-1]} Å."


def _dimensionality(shells: Sequence[Sequence[Neighbor]]) -> tuple[int, list[list[int]]]:
    """Periodic dimensionality of the bonded network (rank of its cycle translations)."""
    n = len(shells)
    edges: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n)]
    for i, shell in enumerate(shells):
        for nb in shell:
            img = np.array(nb.image)
            edges[i].append((nb.index, img))
            edges[nb.index].append((i, -img))
    offset: dict[int, np.ndarray] = {}
    components: list[list[int]] = []
    dims = []
    for start in range(n):
        if start in offset:
            continue
        offset[start] = np.zeros(3, dtype=int)
        stack, members, cycles = [start], [start], []
        while stack:
            u = stack.pop()
            for v, img in edges[u]:
                target = offset[u] + img
                if v not in offset:
                    offset[v] = target
                    stack.append(v)
                    members.append(v)
                elif np.any(target != offset[v]):
                    cycles.append(target - offset[v])
        rank = int(np.linalg.matrix_rank(np.array(cycles))) if cycles else 0
        components.append(sorted(members))
        dims.append(rank)
    return max(dims), components


def _dimension_sentence(atoms: Atoms, shells: Sequence[Sequence[Neighbor]]) -> str:
    dim, components = _dimensionality(shells)
    words = {0: "zero", 1: "one", 2: "two", 3: "three"}
    if dim == 3:
        return "The structure is three-dimensional."
    unit = {0: "cluster", 1: "ribbon", 2: "sheet"}[dim]
    formulas = Counter(reduced_formula([atoms.elements[i] for i in c]) for c in components)
    parts = [f"{number_word(k)} {f} {unit}{'s' if k > 1 else ''}" for f, k in formulas.items()]
    return f"The structure is {words[dim]}-dimensional and consists of {' and '.join(parts)}."


def _group_sentences(
    atoms: Atoms,
    group: _Group,
    label_of: Sequence[str],
    shells: Sequence[Sequence[Neighbor]],
) -> tuple[str, dict[str, list[float]]]:
    """Coordination sentence for one group, and its bond lengths per neighbour element."""
    el = group.element
    species = list(dict.fromkeys(atoms.elements))
    rep = group.sites[0]
    sites = group.sites if not group.by_symmetry else (rep,)
    bonds: dict[str, list[float]] = {}
    for i in sites:
        for nb in shells[i]:
            bonds.setdefault(atoms.elements[nb.index], []).append(nb.distance)
    if group.by_symmetry:
        shell = shells[rep]
        counts = Counter(label_of[nb.index] for nb in shell)
        ordered = sorted(counts, key=lambda lab: (species.index(lab.split("(")[0]), lab))
        nbrs = _neighbor_phrase({lab: counts[lab] for lab in ordered}, equivalent=True)
        subject = group.label
    else:
        cns = {len(shells[i]) for i in sites}
        if len(cns) > 1:
            neighbours = sorted({atoms.elements[nb.index] for i in sites for nb in shells[i]})
            text = (
                f"{el} sites have {min(cns)}–{max(cns)} nearest neighbours "
                f"({', '.join(neighbours)})."
            )
            return text, bonds
        shell = shells[rep]
        per_site = Counter(atoms.elements[nb.index] for nb in shell)
        uniform = all(
            Counter(atoms.elements[nb.index] for nb in shells[i]) == per_site for i in sites
        )
        if not uniform:
            text = f"Each {el} site has {number_word(len(shell))} nearest neighbours."
            return text, bonds
        nbrs = _neighbor_phrase(
            {e: per_site[e] for e in sorted(per_site, key=species.index)}, equivalent=False
        )
        subject = f"Each {el} site"
    geometry, polyhedra = _geometry(shell)
    if polyhedra is None:
        return f"{subject} is bonded in a {geometry} geometry to {nbrs}.", bonds
    same = [i for i in range(len(atoms.elements)) if label_of[i] == label_of[rep]]
    sharing = _sharing_phrase(_sharing(rep, shells, same))
    name = _poly_name(el, [atoms.elements[nb.index] for nb in shell], species)
    return f"{subject} is bonded to {nbrs} to form {sharing}{name} {polyhedra}.", bonds


def describe(atoms: Atoms, prototype_name: str) -> str:
    """Paragraph in robocrystallographer's style for ``atoms``.

    ``prototype_name`` is a key of ``PROTOTYPES`` (its display name is used, with
    "-like" when the crystal no longer has the prototype's space group) or free text.
    """
    proto = PROTOTYPES.get(prototype_name)
    groups, number, symbol = _groups(atoms)
    if proto is not None:
        name = proto.display_name + ("" if number == proto.space_group else "-like")
    else:
        name = prototype_name
    formula = reduced_formula(list(atoms.elements))
    shells = neighbor_shells(atoms)
    label_of = [""] * len(atoms.elements)
    for g in groups:
        for i in g.sites:
            label_of[i] = g.label
    sentences = [
        f"{formula} is {name} structured and crystallizes in the "
        f"{crystal_system(number)} {symbol} space group.",
        _dimension_sentence(atoms, shells),
    ]
    reported: set[tuple[frozenset[str], tuple[str, ...]]] = set()
    for g in groups:
        text, bonds = _group_sentences(atoms, g, label_of, shells)
        sentences.append(text)
        for other, distances in bonds.items():
            key = (frozenset((g.element, other)), tuple(sorted({f"{d:.2f}" for d in distances})))
            if key in reported:
                continue
            reported.add(key)
            sentences.append(bond_sentence(g.element, other, distances))
    return " ".join(sentences)
