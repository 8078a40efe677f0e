"""Gene-set libraries (GMT) for over-representation analysis."""
