"""Bundled sample data: real compounds from literature lattice constants and band gaps."""
