"""Writing data files for other tools: never overwriting by accident, always atomic."""
