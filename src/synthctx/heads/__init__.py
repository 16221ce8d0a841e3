"""Attention heads: capturing each head's attention argmax, retrieval and insight scores, head sets and recall."""
