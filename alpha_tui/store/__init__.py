"""The activation store: an ActivationCache on disk, captured once and reopened anywhere.

Layout and checksums (``layout``), the generic field codec (``codec``), crash-safe
writing (``writer``), checked memory-mapped reading (``reader``), Parquet tables
(``tables``) and the automatic store cache (``index``). Nothing here imports torch
or jarvis: a login node without either opens a store.
"""
