"""Generators of files in the official releases' formats (code, no copied data), for the loaders' tests."""
