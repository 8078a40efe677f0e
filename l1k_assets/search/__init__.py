"""Signature search at LINCS scale: a gene-major rank index built once per release, queried in seconds."""
