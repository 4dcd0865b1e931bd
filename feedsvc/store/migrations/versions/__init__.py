"""Migration scripts, one per schema version: 0001, 0002, ..."""
