"""The reproducibility package: RO-Crate, checksums, verification."""
