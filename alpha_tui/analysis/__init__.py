"""Pure-numpy analysis of an activation cache. Imports neither torch nor textual."""
