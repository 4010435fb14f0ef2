"""Features: canonical events -> dense weekly panel -> leak-free features at a cutoff."""
