"""The text preprocessing the users' forward pass applies before tokenizing.

Their model normalizes each description line by line with a BERT normalizer (clean
control characters, space out CJK ideographs, strip accents, keep case), then passes
every character through ``vocab_mappings.txt``; a character missing from the table
becomes a space. Encoding the raw text instead gives different tokens (``Å`` and
``–`` are in nearly every robocrystallographer description), hence different vectors
and predictions, silently. This module is pure Python so the normalization can be
checked character by character; it never imports torch or tokenizers.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from alpha_tui.errors import UserError

MODES = ("none", "bert", "sage")
MAPPINGS_NAME = "vocab_mappings.txt"

# Code point blocks the BERT normalizer treats as Chinese characters (CJK ideographs).
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_cjk(code: int) -> bool:
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def _is_control(char: str) -> bool:
    """Tab, newline and carriage return are whitespace to BERT, not control characters."""
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs")


def bert_normalize(text: str) -> str:
    """BertNormalizer(lowercase=False, strip_accents=True, clean_text=True, chinese=True).

    Same steps in the same order as the ``tokenizers`` implementation: drop NUL, U+FFFD
    and control characters and turn whitespace into a space; pad CJK ideographs with
    spaces; decompose (NFD) and drop non-spacing marks. No recomposition afterwards.
    """
    cleaned = []
    for char in text:
        if char in "\x00\ufffd" or _is_control(char):
            continue
        cleaned.append(" " if char.isspace() else char)
    spaced = []
    for char in cleaned:
        spaced.append(f" {char} " if _is_cjk(ord(char)) else char)
    decomposed = unicodedata.normalize("NFD", "".join(spaced))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


@dataclass(frozen=True)
class VocabMappings:
    """Character table of ``vocab_mappings.txt``: first character -> text from the third on."""

    table: dict[str, str]
    sha256: str
    source: str

    @property
    def short_id(self) -> str:
        return self.sha256[:12]


def parse_vocab_mappings(text: str, source: str = "<text>") -> VocabMappings:
    """Read the table exactly as the users' code does (whole text stripped, split on \\n).

    Empty lines, which would crash their reader, are skipped.
    """
    table: dict[str, str] = {}
    for line in text.strip().split("\n"):
        if line:
            table[line[0]] = line[2:]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return VocabMappings(table=table, sha256=digest, source=source)


def load_vocab_mappings(path: Path | str) -> VocabMappings:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot read vocab mappings {path}: {exc}; pass the vocab_mappings.txt your "
            "model was trained with to --vocab-mappings"
        ) from exc
    mappings = parse_vocab_mappings(text, str(path))
    if not mappings.table:
        raise UserError(f"{path} holds no mappings; expected lines 'c replacement'")
    return mappings


def apply_mappings(text: str, mappings: VocabMappings) -> str:
    table = mappings.table
    return "".join(table.get(c, " ") for c in text)


def sage_normalize(text: str, mappings: VocabMappings) -> str:
    """The users' ``normalize``: BERT-normalize each line, map each character, rejoin."""
    return "\n".join(apply_mappings(bert_normalize(line), mappings) for line in text.split("\n"))


@dataclass(frozen=True)
class TextPreprocessing:
    """Which normalization produced the text fed to the encoder, and why it was chosen."""

    mode: str  # one of MODES
    mappings: VocabMappings | None = None
    reason: str = ""

    def apply(self, text: str) -> str:
        if self.mode == "none":
            return text
        if self.mode == "bert":
            return "\n".join(bert_normalize(line) for line in text.split("\n"))
        if self.mappings is None:
            raise ValueError("sage normalization needs vocab mappings")
        return sage_normalize(text, self.mappings)

    @property
    def key(self) -> str:
        """Part of the text cache key: the mode and, for sage, the mapping file's hash."""
        if self.mode == "sage" and self.mappings is not None:
            return f"sage:{self.mappings.sha256}"
        return self.mode

    def describe(self) -> str:
        """One line for the Overview and the report."""
        if self.mode == "none":
            text = "raw text (no normalization)"
        elif self.mode == "bert":
            text = "BERT normalizer per line (strip accents, keep case), no vocab mapping"
        else:
            assert self.mappings is not None
            text = (
                "users' normalization: BERT normalizer per line + vocab mappings "
                f"{self.mappings.source} (sha256 {self.mappings.short_id})"
            )
        return f"{text}; {self.reason}" if self.reason else text


def find_mappings(candidates: list[Path]) -> Path | None:
    """The first ``vocab_mappings.txt`` in the given folders (beside checkpoint, data root)."""
    for folder in candidates:
        path = Path(folder) / MAPPINGS_NAME
        if path.is_file():
            return path
    return None


def choose_preprocessing(
    mode: str | None, mappings_file: Path | None, search: list[Path]
) -> TextPreprocessing:
    """Resolve --text-normalize / --vocab-mappings into one preprocessing, reason included.

    Default (mode None): the users' normalization when a mappings file is given or found
    beside the checkpoint or in the data root, otherwise raw text, said so in the reason.
    """
    if mode is not None and mode not in MODES:
        raise UserError(f"--text-normalize must be one of {', '.join(MODES)}, not {mode!r}")
    found = mappings_file
    how = "given with --vocab-mappings"
    if found is None:
        found = find_mappings(search)
        how = f"found {found}" if found is not None else ""
    if mode is None:
        if found is None:
            return TextPreprocessing(
                "none",
                reason=f"default: no {MAPPINGS_NAME} given or found beside the checkpoint or "
                "in the data root; pass --vocab-mappings to match the users' training",
            )
        return TextPreprocessing("sage", load_vocab_mappings(found), f"default: {how}")
    if mode == "sage":
        if found is None:
            raise UserError(
                f"--text-normalize sage needs the vocab mappings: pass --vocab-mappings FILE "
                f"or put {MAPPINGS_NAME} beside the checkpoint"
            )
        mappings = load_vocab_mappings(found)
        return TextPreprocessing("sage", mappings, f"--text-normalize sage; {how}")
    return TextPreprocessing(mode, reason=f"--text-normalize {mode}")
