"""Files shipped inside installed Python packages (the offline Wikipedia text, GGUF model weights), found
without importing the packages; torch-free, so data stages that only read text never import it."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (some ship heavy __init__s)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"Python package {package!r} is not installed; see README (make setup)")
    return Path(list(spec.submodule_search_locations)[0])
