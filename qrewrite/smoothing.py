"""Activation smoothing before int8 conversion (SmoothQuant: Xiao et al. 2023, arXiv:2211.10438).

CTranslate2's int8 keeps one scale per weight row and quantizes each token's activations with one scale per
token at run time, so a few input channels with large activations cost all the others their precision.
Dividing such a channel by s and multiplying the weight columns that read it by s leaves the float model's
output unchanged and moves the difficulty into the weights, whose rows are quantized one by one. The division
folds into a weight that comes before: the RMSNorm before the attention's q/k/v and before the MLP's
gate/up, the rows of up_proj before down_proj (down reads silu(gate) * up), and the final norm before the
output layer, which is untied from the embedding for it (the embedding must stay as it was).

The scale of channel j is max|x_j| ** alpha / max|w_j| ** (1 - alpha), from activations recorded on a few
hundred training examples. ALPHA and the choice of layers were set by measuring how many greedy outputs
stay identical to fp32's (docs/results.md).
"""
import torch

ALPHA = 0.5
# Architectures whose norms are weight * normalized(x) and whose layers are named as below (Gemma's norm adds 1
# to its weight, so folding a division into it would be wrong: such models are converted as they are).
SMOOTHABLE = {"llama", "qwen2", "mistral"}


def channel_maxima(model, examples):
    """{linear layer: max |x| of each input channel} over the token id lists in `examples`."""
    maxima, hooks = {}, []

    def record(module, inputs):
        seen = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).abs().amax(0)
        maxima[module] = torch.maximum(maxima[module], seen) if module in maxima else seen

    readers = [model.lm_head]
    for layer in model.model.layers:
        readers += [layer.self_attn.q_proj, layer.mlp.gate_proj, layer.mlp.down_proj]
    hooks = [module.register_forward_pre_hook(record) for module in readers]
    try:
        with torch.no_grad():
            for ids in examples:
                model(torch.tensor([ids]))
    finally:
        for hook in hooks:
            hook.remove()
    return maxima


def channel_scales(activation_max, linears, alpha):
    weight_max = torch.cat([linear.weight.abs() for linear in linears]).amax(0)
    scales = activation_max.clamp(min=1e-5) ** alpha / weight_max.clamp(min=1e-5) ** (1 - alpha)
    return scales.clamp(1e-2, 1e2)


def fold(scales, divided, linears):
    """x -> x / scales where `divided` (a norm weight, or a linear's output rows) makes x; linears read x * scales."""
    if isinstance(divided, torch.nn.Linear):
        divided.weight.div_(scales[:, None])
        if divided.bias is not None:
            divided.bias.div_(scales)
    else:
        divided.div_(scales)
    for linear in linears:
        linear.weight.mul_(scales)


def untie_output_layer(model):
    """Gives the output layer weights of its own, so that smoothing it leaves the embedding alone."""
    if model.config.tie_word_embeddings or model.lm_head.weight is model.model.embed_tokens.weight:
        model.lm_head.weight = torch.nn.Parameter(model.model.embed_tokens.weight.detach().clone())
    model.config.tie_word_embeddings = False


def smooth(model, examples, alpha=ALPHA):
    """Smooths `model` (fp32, in place) on the calibration token id lists; False if its architecture is not
    one this knows (the model is then left as it was)."""
    if model.config.model_type not in SMOOTHABLE:
        return False
    maxima = channel_maxima(model, examples)
    with torch.no_grad():
        for layer in model.model.layers:
            attention, mlp = layer.self_attn, layer.mlp
            qkv = [attention.q_proj, attention.k_proj, attention.v_proj]
            fold(channel_scales(maxima[attention.q_proj], qkv, alpha), layer.input_layernorm.weight, qkv)
            gate_up = [mlp.gate_proj, mlp.up_proj]
            fold(channel_scales(maxima[mlp.gate_proj], gate_up, alpha), layer.post_attention_layernorm.weight,
                 gate_up)
            fold(channel_scales(maxima[mlp.down_proj], [mlp.down_proj], alpha), mlp.up_proj, [mlp.down_proj])
        untie_output_layer(model)
        fold(channel_scales(maxima[model.lm_head], [model.lm_head], alpha), model.model.norm.weight,
             [model.lm_head])
    return True
