"""The prompt: one function builds the chat messages for training and for inference.

The system line is ours and short: without one, SmolLM2's template inserts a 20-token default,
and every prompt token costs time in each training step on a CPU.
"""
SYSTEM_PROMPT = "Rewrite the question cleanly."


def build_messages(question):
    """The conversation the model sees for one question (the rewrite is the assistant's reply)."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": question},
    ]


def training_example(record):
    """A conversational prompt-completion record for TRL: loss falls on the completion only."""
    return {
        "prompt": build_messages(record["input"]),
        "completion": [{"role": "assistant", "content": record["output"]}],
    }


def generation_prompt(tokenizer, question):
    """The prompt text for inference: the same messages, plus the assistant header to answer after."""
    return tokenizer.apply_chat_template(build_messages(question), tokenize=False, add_generation_prompt=True)
