"""The users' text preprocessing: BERT normalizer per line + vocab mappings, and its wiring."""

from __future__ import annotations

import string
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from alpha_tui.data import text_embeddings as te
from alpha_tui.data import text_normalize as tn
from alpha_tui.data.dataset import read_dataset
from alpha_tui.errors import UserError

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "sample_checkpoints" / "sample_data" / "bandgap"


def _ascii_mappings(extra: dict[str, str] | None = None) -> tn.VocabMappings:
    """A hand-made table: printable ASCII maps to itself, plus ``extra``."""
    lines = [f"{c} {c}" for c in string.ascii_letters + string.digits + string.punctuation]
    lines.insert(0, "x x")  # the first line is stripped by the reader: keep it non-blank
    lines.append("   ")  # ' ' -> ' '
    lines += [f"{k} {v}" for k, v in (extra or {}).items()]
    return tn.parse_vocab_mappings("\n".join(lines) + "\n", "fixture")


# --- BERT normalizer, against hand-written expectations -------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("All Ga–As bond lengths are 2.45 Å.", "All Ga–As bond lengths are 2.45 A."),
        ("\u212b", "A"),  # ANGSTROM SIGN decomposes to A + ring
        ("café naïve Ångström", "cafe naive Angstrom"),
        ("NaCl KBr", "NaCl KBr"),  # lowercase=False keeps case
        ("a\x00b\x07c\u200bd\ufffde\x7ff", "abcdef"),  # NUL, BEL, ZWSP, U+FFFD, DEL dropped
        ("a\tb\u00a0c\u3000d", "a b c d"),  # tab, NBSP, ideographic space -> ' '
        ("氧化物ABC", " 氧  化  物 ABC"),  # CJK ideographs padded with spaces
        ("ｶﾀ", "ｶﾀ"),  # halfwidth katakana is not a Chinese character
        ("x\u0301\u0327", "x"),  # combining marks alone are dropped
    ],
)
def test_bert_normalize_by_hand(raw: str, expected: str) -> None:
    assert tn.bert_normalize(raw) == expected


def test_bert_normalize_agrees_with_tokenizers_on_common_blocks() -> None:
    tokenizers = pytest.importorskip("tokenizers.normalizers")
    ref = tokenizers.BertNormalizer(
        lowercase=False, strip_accents=True, clean_text=True, handle_chinese_chars=True
    )
    blocks = [(0, 0x700), (0x1E00, 0x33FF), (0x4E00, 0x9FFF), (0xF900, 0xFFFD)]
    cps = [cp for lo, hi in blocks for cp in range(lo, hi) if not 0xD800 <= cp <= 0xDFFF]
    differ = [
        cp for cp in cps if ref.normalize_str(f"a{chr(cp)}b") != tn.bert_normalize(f"a{chr(cp)}b")
    ]
    # Only characters added to Unicode after the tables inside tokenizers may differ.
    assert len(differ) < 0.002 * len(cps), [hex(c) for c in differ[:10]]
    assert all(unicodedata.category(chr(c)) in ("Mn", "Mc", "Cf", "Lo") for c in differ)


# --- vocab mappings --------------------------------------------------------------------


def test_parse_vocab_mappings_first_char_to_rest() -> None:
    m = tn.parse_vocab_mappings("ɛ ∈\nc \nΩ Ohm\n\n– -\n", "t")
    assert m.table == {"ɛ": "∈", "c": "", "Ω": "Ohm", "–": "-"}
    assert len(m.sha256) == 64


def test_sage_normalize_maps_each_character_and_keeps_lines() -> None:
    m = _ascii_mappings({"–": "-", "∈": "in"})
    raw = "Ga–As 2.45 Å\nx ∈ S, y ∉ S ⊂ T\n\t氧"
    # line 1: Å -> A by BERT, – through the table; line 2: ∉ decomposes to ∈ + a
    # combining overlay, which is stripped (their model reads "not in" as "in"), and ⊂
    # is not in the table -> ' '; line 3: tab -> ' ', 氧 padded, not in table -> ' '.
    assert tn.sage_normalize(raw, m) == "Ga-As 2.45 A\nx in S, y in S   T\n    "


def test_choose_preprocessing_defaults(tmp_path: Path) -> None:
    ckpt_dir, data_dir = tmp_path / "ckpt", tmp_path / "data"
    ckpt_dir.mkdir()
    data_dir.mkdir()
    none = tn.choose_preprocessing(None, None, [ckpt_dir, data_dir])
    assert none.mode == "none" and "no vocab_mappings.txt" in none.describe()
    (data_dir / tn.MAPPINGS_NAME).write_text("a a\nb b\n", encoding="utf-8")
    found = tn.choose_preprocessing(None, None, [ckpt_dir, data_dir])
    assert found.mode == "sage" and found.mappings is not None
    assert found.mappings.table == {"a": "a", "b": "b"}
    assert str(data_dir / tn.MAPPINGS_NAME) in found.describe()
    assert tn.choose_preprocessing("none", None, [data_dir]).mode == "none"
    assert tn.choose_preprocessing("bert", None, [data_dir]).apply("Å\nb") == "A\nb"
    with pytest.raises(UserError, match="needs the vocab mappings"):
        tn.choose_preprocessing("sage", None, [ckpt_dir])
    with pytest.raises(UserError, match="cannot read vocab mappings"):
        tn.choose_preprocessing(None, tmp_path / "missing.txt", [])


def test_cache_key_includes_mode_and_mapping_hash() -> None:
    ident = "e" * 64
    a = tn.TextPreprocessing("sage", tn.parse_vocab_mappings("a a\n"))
    b = tn.TextPreprocessing("sage", tn.parse_vocab_mappings("a b\n"))
    keys = {
        te.cache_key(ident, tn.TextPreprocessing("none")),
        te.cache_key(ident, tn.TextPreprocessing("bert")),
        te.cache_key(ident, a),
        te.cache_key(ident, b),
        te.cache_key(ident, a, kind="tokens"),
    }
    assert len(keys) == 5
    assert te.cache_key(ident, tn.TextPreprocessing("none")) == ident  # old caches stay valid


# --- the encode path reads normalized text ---------------------------------------------


def test_encoder_receives_normalized_text_and_caches_per_normalization(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 3}')
    seen: list[list[str]] = []

    def fake_encode(texts: list[str], encoder_dir: Path, **_: object) -> np.ndarray:
        seen.append(list(texts))
        return np.array([[len(t), t.count("A"), t.count(" ")] for t in texts], np.float32)

    monkeypatch.setattr(te, "encode_texts", fake_encode)
    sage = tn.TextPreprocessing("sage", _ascii_mappings({"–": "-"}))
    kwargs = {"encoder_dir": folder, "expected_width": 3, "cache_dir": tmp_path / "c"}
    texts = ["Ga–As 2.45 Å", "Ω"]
    out, _ = te.text_embeddings_for(["p", "q"], texts, preprocessing=sage, **kwargs)
    assert seen == [["Ga-As 2.45 A", " "]]
    np.testing.assert_array_equal(out, [[12, 2, 2], [1, 0, 1]])
    te.text_embeddings_for(["p", "q"], texts, preprocessing=sage, **kwargs)
    assert len(seen) == 1  # same normalization: served from the cache
    raw, _ = te.text_embeddings_for(["p", "q"], texts, **kwargs)
    assert seen[1] == texts  # raw text is a different cache entry
    np.testing.assert_array_equal(raw[0], [12, 1, 2])


@pytest.mark.skipif(not SAMPLE_DATA.is_dir(), reason="bundled sample not present")
def test_every_bundled_description_changes_under_the_users_normalization() -> None:
    dataset = read_dataset(SAMPLE_DATA, max_atoms=400)
    texts = [r.text for r in dataset.records]
    m = _ascii_mappings()
    changed = sum(tn.sage_normalize(t, m) != t for t in texts)
    # Independent expectation: with an ASCII table a text changes iff it holds a
    # character outside printable ASCII (Å, – in every robocrystallographer text).
    printable = set(string.printable) - set("\t\x0b\x0c\r")
    expected = sum(any(c not in printable for c in t) for t in texts)
    assert len(texts) == 455
    assert changed == expected == 455
    assert all("Å" in t for t in texts) and all("Å" not in tn.sage_normalize(t, m) for t in texts)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
