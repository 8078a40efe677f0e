"""Tumor–normal reversal (method 1): deltas, cancer-type classifier, enrichment, compound scores."""
