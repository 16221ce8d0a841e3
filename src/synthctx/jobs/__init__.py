"""The job layer: one module per rule file, writing outputs atomically with provenance."""
