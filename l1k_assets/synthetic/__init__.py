"""The embedded default: a seeded generator that writes a small LINCS/GEO/GDSC universe
in the real file formats and server layout, with known truth planted in it."""
