"""Single-cell count matrices for landmark discovery: readers (h5ad, 10x Matrix Market) and the seed's QC."""
