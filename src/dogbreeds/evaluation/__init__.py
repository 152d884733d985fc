"""Measuring models without torch: evaluate, error analysis, near-duplicates, the comparison report."""
