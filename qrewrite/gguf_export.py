"""quantize.py --gguf: a Llama-architecture model with SmolLM2's tokenizer -> one GGUF Q8_0 file for llama.cpp and
Ollama, written with the gguf package (the `gguf` extra), the tokenizer copied from the embedded default's GGUF."""
import numpy as np

from qrewrite.errors import ModelError
from qrewrite.modeling import embedded_gguf_path

GGUF_NAME = "model-q8_0.gguf"


def rope_permute(weight, n_heads):
    """HF stores each head's rotary halves apart; llama.cpp expects them interleaved."""
    rows, cols = weight.shape
    return weight.reshape(n_heads, 2, rows // n_heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def export_gguf_q8_0(model, tokenizer, path):
    """Writes a Llama model as GGUF: 2-D weights in Q8_0, norms in fp32, tokenizer from the embedded GGUF."""
    import gguf

    config = model.config
    if config.model_type != "llama":
        raise ModelError(f"GGUF export supports Llama-architecture models, not '{config.model_type}'; "
                         "use llama.cpp's convert_hf_to_gguf.py --outtype q8_0")
    source = gguf.GGUFReader(embedded_gguf_path())
    vocab = source.fields["tokenizer.ggml.tokens"].contents()
    if tokenizer.convert_ids_to_tokens(list(range(len(vocab)))) != vocab or config.vocab_size != len(vocab):
        raise ModelError("the model's tokenizer differs from SmolLM2's; use llama.cpp's convert_hf_to_gguf.py")

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("question-rewrite")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    for key, field in source.fields.items():
        if key.startswith("tokenizer."):
            sub_type = field.types[1] if len(field.types) > 1 else None
            writer.add_key_value(key, field.contents(), field.types[0], sub_type=sub_type)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue  # tied: llama.cpp reuses token_embd as the output layer
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ModelError(f"no GGUF name for tensor {hf_name}")
        data = tensor.detach().float().cpu().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = rope_permute(data, config.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            data = rope_permute(data, config.num_key_value_heads)
        if data.ndim == 2 and data.shape[1] % 32 == 0:
            writer.add_tensor(name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, data.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
