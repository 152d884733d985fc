"""Training recipes (PyTorch): the flat loop, the feature-head recipe, fine-tuning, search, tracking, bench."""
