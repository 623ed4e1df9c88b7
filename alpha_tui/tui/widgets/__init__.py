"""Reusable widgets and screens of the explorer, one per file."""
