"""The reference network of the model family and its graph backends."""
