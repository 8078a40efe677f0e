"""GEO ingestion: series matrices, SOFT files, platform tables, tumor-normal pairing."""
