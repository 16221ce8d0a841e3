"""Data and tasks: the task registry and each task's folder, the real splits and the synthetic variants, one
record schema for all, and the text and hub sources they are built from."""
