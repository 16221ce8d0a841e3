"""Models and adapters are loaded from safetensors only: a pickle can run code when it is loaded."""

from __future__ import annotations

import shutil

import pytest

from synthctx.models.model_io import load_model


def test_a_model_folder_with_pickled_weights_is_refused(tmp_path, tiny_model_dir):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match=r"model: the model holds pickle files \(pytorch_model.bin\)"):
        load_model(folder, "float32")
    for f in folder.glob("*.safetensors"):
        f.unlink()
    (folder / "pytorch_model.bin").unlink()
    with pytest.raises(ValueError, match=r"holds no .safetensors weights"):
        load_model(folder, "float32")


def test_a_pickled_adapter_is_refused(tmp_path, tiny_model_dir):
    adapter = tmp_path / "weights"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match=r"weights: the adapter holds pickle files \(adapter_model.bin\)"):
        load_model(tiny_model_dir, "float32", adapter)


def test_the_model_is_placed_on_the_inference_device(tiny_model_dir, monkeypatch):
    """On a GPU node every inference stage must compute on the GPU, not on the CPU that loaded the weights.
    No GPU here: the `meta` device stands in, and is where every parameter must end up."""
    import torch

    from synthctx.models import model_io

    monkeypatch.setattr(model_io, "inference_device", lambda: torch.device("meta"))
    model = load_model(tiny_model_dir, "float32")
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert model.device.type == "meta"
