"""Data lifecycle: erasure of users and teams (export and retention build on it)."""
