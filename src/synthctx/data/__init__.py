"""Training and test data: the real task split and the synthetic variants, one record schema for all."""
