"""Analysis: aggregation, correlation, prediction, claims, figures."""
