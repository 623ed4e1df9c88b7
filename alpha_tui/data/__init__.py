"""Structures, graphs, text embeddings and the dataset reader, with their disk caches."""
