"""Causal interventions on attention heads: knockout and activation patching."""
