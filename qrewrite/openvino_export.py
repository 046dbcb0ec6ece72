"""quantize.py --openvino: an fp32 model folder -> an OpenVINO IR folder (int8 weights) for OpenVINO GenAI's
ContinuousBatchingPipeline (qrewrite/openvino_engine.py), with the openvino and nncf packages (the `openvino`
extra) and no optimum-intel (it pins an older transformers than the project's).

The model is traced with the KV cache as explicit inputs and outputs (past_key_values.N.key/value ->
present.N.key/value), then made stateful the way the pipeline expects: each cache a variable read (from zeros
of length 0) and assigned inside the model, reordered by a `beam_idx` input. The pipeline then turns the model's
attention into paged attention when it loads it. Weights are compressed to int8 (asymmetric, per output
channel) by nncf; activations stay in float.
"""
import warnings
from pathlib import Path

import numpy as np
import torch

from qrewrite.errors import ModelError
from qrewrite.modeling import load_model

MODEL_XML, MODEL_BIN = "openvino_model.xml", "openvino_model.bin"


class FlatCache(torch.nn.Module):
    """The model's forward with its KV cache as flat tensors, so that it can be traced."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers.cache_utils import DynamicCache

        cache = DynamicCache(config=self.model.config)
        for layer, entry in enumerate(cache.layers):
            # set as already filled: DynamicLayer's lazy start concatenates an empty 1-D tensor, which cannot convert
            entry.dtype, entry.device, entry.is_initialized = past[0].dtype, past[0].device, True
            entry.keys, entry.values = past[2 * layer], past[2 * layer + 1]
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True)
        return (out.logits, *(t for entry in out.past_key_values.layers for t in (entry.keys, entry.values)))


def cache_names(layers):
    return [(f"past_key_values.{n}.{kind}", f"present.{n}.{kind}") for n in range(layers) for kind in ("key", "value")]


def trace(model):
    """The OpenVINO model of `model`'s forward with explicit cache inputs and outputs, named as the pipeline wants."""
    import openvino as ov

    with torch.no_grad():  # the cache's shape [batch, kv heads, length, head dim], read from one real step
        sample = model(input_ids=torch.ones(1, 2, dtype=torch.long), use_cache=True).past_key_values.layers
    layers, (_, heads, _, head_dim) = len(sample), sample[0].keys.shape
    batch, cached, new = 2, 3, 4
    example = (torch.ones(batch, new, dtype=torch.long), torch.ones(batch, cached + new, dtype=torch.long),
               torch.arange(cached, cached + new).repeat(batch, 1),
               *(torch.zeros(batch, heads, cached, head_dim) for _ in range(2 * layers)))
    shapes = [[-1, -1]] * 3 + [[-1, heads, -1, head_dim]] * (2 * layers)
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer warns of the mask's shape tests; the pipeline replaces that attention (and its mask) on load
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        converted = ov.convert_model(FlatCache(model), example_input=example,
                                     input=[ov.PartialShape(shape) for shape in shapes])
    names = cache_names(layers)
    for port, name in zip(converted.inputs, ["input_ids", "attention_mask", "position_ids"] + [p for p, _ in names]):
        port.get_tensor().set_names({name})
    for port, name in zip(converted.outputs, ["logits"] + [p for _, p in names]):
        port.get_tensor().set_names({name})
    return converted, layers, heads, head_dim


def make_stateful(converted, layers, heads, head_dim):
    """Each cache input/output pair becomes a variable, read (zeros of length 0 at the start of a sequence) and
    gathered by beam_idx where the input was, assigned where the output was."""
    import openvino as ov
    import openvino.opset6 as ops6
    import openvino.opset13 as ops
    from openvino.op.util import Variable, VariableInfo

    inputs = {port.get_any_name(): port for port in converted.inputs}
    outputs = {port.get_any_name(): port for port in converted.outputs}
    beam_idx = ops.parameter([-1], ov.Type.i32, name="beam_idx")
    beam_idx.output(0).get_tensor().set_names({"beam_idx"})
    zero = ops.constant(np.int64(0))
    batch = ops.gather(ops.shape_of(inputs["input_ids"]), ops.constant(np.array([0])), zero)
    empty_shape = ops.concat([batch, ops.constant(np.array([heads, 0, head_dim]))], 0)
    assigns = []
    for past_name, present_name in cache_names(layers):
        past, present = inputs[past_name].get_node(), outputs[present_name].get_node()
        info = VariableInfo()
        info.variable_id, info.data_type = past_name + present_name, ov.Type.f32
        info.data_shape = ov.PartialShape([-1, heads, -1, head_dim])
        variable = Variable(info)
        read = ops6.read_value(ops.broadcast(ops.constant(np.float32(0)), empty_shape), variable)
        reordered = ops.gather(read, beam_idx, zero)
        for consumer in list(past.output(0).get_target_inputs()):
            consumer.replace_source_output(reordered.output(0))
        assigns.append(ops6.assign(present.input_value(0).get_node(), variable))
        converted.remove_result(present)
        converted.remove_parameter(past)
    converted.add_sinks(assigns)
    converted.add_parameters([beam_idx])
    converted.validate_nodes_and_infer_types()
    return converted


def export_openvino(model_dir, staged):
    """Writes into `staged` (a new folder): the int8 OpenVINO model, config.json and generation_config.json (which
    the pipeline reads), and the tokenizer files (the Rewriter's tokenizer)."""
    import nncf
    import openvino as ov

    if not Path(model_dir).is_dir():
        raise ModelError(f"--openvino: {model_dir} is not a local model folder; pass finetune.py's best/ folder")
    model, tokenizer = load_model(model_dir, device="cpu", dtype=torch.float32)
    try:
        converted = make_stateful(*trace(model))
    except Exception as err:  # noqa: BLE001 (the converter raises bare exceptions of its own types)
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelError(f"--openvino: OpenVINO cannot convert {model_dir} ({first_line[:200]})") from None
    compressed = nncf.compress_weights(converted, mode=nncf.CompressWeightsMode.INT8_ASYM)
    ov.save_model(compressed, Path(staged) / MODEL_XML, compress_to_fp16=False)
    model.config.save_pretrained(staged)
    model.generation_config.save_pretrained(staged)
    tokenizer.save_pretrained(staged)
