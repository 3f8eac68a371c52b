"""Convert a TF.js graph model (model.json + .bin shards) to a .tflite file.

Runs in a throwaway venv that has only ``tensorflow-cpu`` (scripts/setup.sh makes one); it needs no
``tensorflowjs``. The TF.js topology is a GraphDef in JSON: the weights from the manifest (float16-quantised
ones are widened to float32) become Const values, the TF.js-only fused ops (``_FusedConv2D``,
``FusedDepthwiseConv2dNative``) are split back into conv + BiasAdd + activation, the input gets the fixed
shape given on the command line, and the TFLite converter writes the model.

    python scripts/tfjs_to_tflite.py model.json out.tflite --input-shape 1,416,416,3 --outputs a:0,b:0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import json_format

DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


def load_weights(model_dir: Path, manifest: list[dict]) -> dict[str, np.ndarray]:
    """Decode every weight of the manifest (plain, float16 or uint8-quantised)."""
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q is None:
                dt = np.dtype(DTYPES[w["dtype"]])
                arr = np.frombuffer(data, dt, n, offset)
            elif q["dtype"] == "float16":
                dt = np.dtype(np.float16)
                arr = np.frombuffer(data, dt, n, offset).astype(np.float32)
            elif q["dtype"] == "uint8":
                dt = np.dtype(np.uint8)
                arr = np.frombuffer(data, dt, n, offset).astype(np.float32) * q["scale"] + q["min"]
            else:
                raise ValueError(f"unsupported quantisation {q}")
            offset += n * dt.itemsize
            out[w["name"]] = arr.reshape(shape).astype(DTYPES[w["dtype"]])
        if offset != len(data):
            raise ValueError(f"weight group {group['paths']}: used {offset} of {len(data)} bytes")
    return out


def unfuse(graph: tf.compat.v1.GraphDef) -> tf.compat.v1.GraphDef:
    """Split TF.js fused conv ops into Conv2D / DepthwiseConv2dNative + BiasAdd + activation."""
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph.versions)
    for node in graph.node:
        if node.op not in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            out.node.append(node)
            continue
        ops = [s.decode() for s in node.attr["fused_ops"].list.s]
        conv = out.node.add()
        conv.name = node.name + "/unfused_conv"
        conv.op = "Conv2D" if node.op == "_FusedConv2D" else "DepthwiseConv2dNative"
        conv.input.extend(node.input[:2])
        conv.device = node.device
        for key in ("T", "strides", "padding", "data_format", "dilations", "explicit_paddings"):
            if key in node.attr and not (key == "explicit_paddings" and conv.op != "Conv2D"):
                conv.attr[key].CopyFrom(node.attr[key])
        last = conv.name
        extra = list(node.input[2:])
        for i, op in enumerate(ops):
            n = out.node.add()
            n.name = node.name if i == len(ops) - 1 else f"{node.name}/unfused_{op}"
            n.attr["T"].CopyFrom(node.attr["T"])
            if op == "BiasAdd":
                n.op = "BiasAdd"
                n.input.extend([last, extra.pop(0)])
            elif op in ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh"):
                n.op = op
                n.input.append(last)
            elif op == "LeakyRelu":
                n.op = op
                n.input.append(last)
                n.attr["alpha"].CopyFrom(node.attr["leakyrelu_alpha"])
            elif op == "Prelu":  # max(x, 0) + alpha * min(x, 0)
                raise ValueError(f"{node.name}: Prelu fusion not supported")
            else:
                raise ValueError(f"{node.name}: unsupported fused op {op}")
            last = n.name
    return out


def build_graph(model_json: Path, input_shape: list[int]) -> tuple[tf.compat.v1.GraphDef, str, str]:
    model = json.loads(model_json.read_text())
    topology = dict(model["modelTopology"])
    topology.pop("library", None)
    graph = json_format.ParseDict(topology, tf.compat.v1.GraphDef(), ignore_unknown_fields=True)
    weights = load_weights(model_json.parent, model["weightsManifest"])
    inputs = [n for n in graph.node if n.op == "Placeholder"]
    if len(inputs) != 1:
        raise ValueError(f"expected one input, found {[n.name for n in inputs]}")
    placeholder = inputs[0]
    placeholder.attr["shape"].shape.CopyFrom(tf.TensorShape(input_shape).as_proto())
    for node in graph.node:
        if node.op == "Const" and node.name in weights:
            # TF.js stores int64 constants as int32: keep the dtype the graph declares
            dtype = tf.dtypes.as_dtype(node.attr["dtype"].type).as_numpy_dtype
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights.pop(node.name).astype(dtype)))
    if weights:
        raise ValueError(f"weights without a Const node: {sorted(weights)[:5]}")
    dtype = tf.dtypes.as_dtype(placeholder.attr["dtype"].type)
    return unfuse(graph), placeholder.name, dtype.name


def convert(model_json: Path, out: Path, input_shape: list[int], outputs: list[str]) -> None:
    graph, input_name, input_dtype = build_graph(model_json, input_shape)

    def imported(x):
        return tf.compat.v1.import_graph_def(graph, input_map={input_name + ":0": x}, return_elements=outputs,
                                             name="")

    spec = tf.TensorSpec(input_shape, tf.dtypes.as_dtype(input_dtype), name="input")
    fn = tf.compat.v1.wrap_function(imported, [spec])
    pruned = fn.prune(fn.inputs[0], [fn.graph.get_tensor_by_name(o) for o in outputs])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([pruned], fn)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    out.write_bytes(converter.convert())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_json", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--input-shape", required=True, help="e.g. 1,416,416,3")
    ap.add_argument("--outputs", required=True, help="comma-separated tensor names, e.g. Identity:0,Identity_1:0")
    args = ap.parse_args(argv)
    convert(args.model_json, args.out, [int(s) for s in args.input_shape.split(",")], args.outputs.split(","))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
