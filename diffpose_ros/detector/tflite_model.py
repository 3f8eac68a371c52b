"""A thin wrapper around a LiteRT (TFLite) interpreter with named outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .model_files import ModelFileError


class TFLiteModel:
    """Load a ``.tflite`` file once; ``run(x)`` returns ``{output_name: array}``."""

    def __init__(self, path: "str | Path", threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._it = Interpreter(model_path=str(path), num_threads=max(1, int(threads)))
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelFileError(f"cannot load {path}: {e}") from e
        inp = self._it.get_input_details()[0]
        self.input_index = inp["index"]
        self.input_shape = tuple(int(s) for s in inp["shape"])
        self.input_dtype = np.dtype(inp["dtype"])
        self._outputs = {d["name"]: d["index"] for d in self._it.get_output_details()}
        self._shapes = {d["name"]: tuple(int(s) for s in d["shape"]) for d in self._it.get_output_details()}

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def output_shape(self, name: str) -> tuple[int, ...]:
        return self._shapes[name]

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=self.input_dtype).reshape(self.input_shape)
        self._it.set_tensor(self.input_index, x)
        self._it.invoke()
        return {name: self._it.get_tensor(i) for name, i in self._outputs.items()}
