"""The model: preparing and loading it, fine-tuning it."""
