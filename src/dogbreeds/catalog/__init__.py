"""The photo library's database and the commands on it: classify, export, sort, review."""
