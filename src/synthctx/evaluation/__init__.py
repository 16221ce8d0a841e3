"""Evaluation on the real task: greedy answers, metrics, summaries."""
