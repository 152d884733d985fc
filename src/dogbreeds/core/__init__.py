"""What every stage shares, torch-free: breeds, model cards, transforms, metrics, verdicts, threads, progress."""
