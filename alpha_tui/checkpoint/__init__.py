"""Loading users' checkpoints safely and recovering the model configuration."""
