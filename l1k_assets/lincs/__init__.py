"""LINCS L1000: GCT/GCTX matrix I/O, CMap level 4/5 computation, metadata tables and their assets."""
