"""The prompt: the whole format the model sees, for training and for inference alike.

The messages (build_messages), the template fallback (CHATML_TEMPLATE, for tokenizers without one), the stop
tokens (stop_token_ids) and the tokenization of a question all live here.

User text is data, never instructions or control tokens: a question (or, in training, a rewrite) that spells
a control token such as "<|im_end|>" is tokenized as ordinary text (split_special_tokens), so it can never end
the user's turn or start a system turn. Only the template's own tokens are special.

The system line is ours and short: without one, SmolLM2's template inserts a 20-token default,
and every prompt token costs time in each training step on a CPU.
"""
SYSTEM_PROMPT = "Rewrite the question cleanly."
MAX_INPUT_TOKENS = 256  # longer questions are cut to this many tokens (the Rewriter warns; serve.py refuses them)
# Used when a tokenizer has no chat template of its own (some base models): plain ChatML.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Private-use characters that mark where the user's text goes when the template is rendered.
QUESTION_SLOT, REWRITE_SLOT = "\ue000", "\ue001"


def build_messages(question):
    """The conversation the model sees for one question (the rewrite is the assistant's reply)."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": question},
    ]


def plain_token_ids(tokenizer, text):
    """Token ids of user text as plain text: control tokens it spells become ordinary tokens."""
    return tokenizer(text, add_special_tokens=False, split_special_tokens=True).input_ids


def template_token_ids(tokenizer, text):
    """Token ids of the template's own text, whose control tokens are real."""
    return tokenizer(text, add_special_tokens=False).input_ids if text else []


def template_pieces(tokenizer):
    """The rendered template cut at the slots: (before question, between question and rewrite, after rewrite)."""
    with_rewrite = build_messages(QUESTION_SLOT) + [{"role": "assistant", "content": REWRITE_SLOT}]
    conversation = tokenizer.apply_chat_template(with_rewrite, tokenize=False)
    prompt = tokenizer.apply_chat_template(build_messages(QUESTION_SLOT), tokenize=False, add_generation_prompt=True)
    before, rest = conversation.split(QUESTION_SLOT)
    between, after = rest.split(REWRITE_SLOT)
    if prompt != before + QUESTION_SLOT + between:
        raise ValueError("the chat template renders the prompt differently with and without the reply; "
                         "the training and inference prompts would differ")
    return before, between, after


def prompt_token_ids(tokenizer, question_ids):
    """The inference prompt around a question's (plain) token ids, ending with the assistant header."""
    before, between, _ = template_pieces(tokenizer)
    return template_token_ids(tokenizer, before) + list(question_ids) + template_token_ids(tokenizer, between)


def prompt_prefix_ids(tokenizer):
    """The token ids every inference prompt starts with (the system turn and the user header): an engine may
    compute them once and reuse them (CTranslate2's static prompt)."""
    return template_token_ids(tokenizer, template_pieces(tokenizer)[0])


def training_example(tokenizer, record):
    """Token ids of prompt + rewrite, and the loss mask: 1 on the rewrite and its end of turn, 0 on the prompt."""
    before, between, after = template_pieces(tokenizer)
    prompt = prompt_token_ids(tokenizer, plain_token_ids(tokenizer, record["input"]))
    completion = plain_token_ids(tokenizer, record["output"]) + template_token_ids(tokenizer, after)
    return {"input_ids": prompt + completion, "completion_mask": [0] * len(prompt) + [1] * len(completion)}


def stop_token_ids(tokenizer):
    """Tokens that end a rewrite: the end of the assistant's turn and the tokenizer's end of text."""
    candidates = (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>"))
    return sorted({i for i in candidates if isinstance(i, int) and i != tokenizer.unk_token_id})


def max_new_tokens_for(n_input_tokens):
    """A rewrite is about as long as its input; the bound stops runaway generation early."""
    return min(2 * n_input_tokens + 16, 2 * MAX_INPUT_TOKENS)
