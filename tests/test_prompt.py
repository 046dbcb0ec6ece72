"""The one prompt function, and the loss mask that keeps the loss on the rewrite tokens."""
from qrewrite.prompt import SYSTEM_PROMPT, build_messages, generation_prompt, training_example


def test_training_and_inference_share_the_prompt(tokenizer):
    record = {"input": "hi waht is teh capital of frnace", "output": "What is the capital of France?"}
    example = training_example(record)
    assert example["prompt"] == build_messages(record["input"])
    assert example["completion"] == [{"role": "assistant", "content": record["output"]}]
    text = generation_prompt(tokenizer, record["input"])
    assert text.endswith("<|im_start|>assistant\n")
    assert SYSTEM_PROMPT in text and record["input"] in text
    # Our short system line replaces SmolLM2's 20-token default.
    assert "SmolLM" not in text


def test_loss_mask_covers_only_the_rewrite(tiny_model_dir, tokenizer, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    record = {"input": "um how do i reset my pasword pls", "output": "How do I reset my password?"}
    dataset = Dataset.from_list([training_example(record)] * 2)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = SFTConfig(output_dir=str(tmp_path), completion_only_loss=True, report_to="none", max_length=128, bf16=False)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)

    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    trained = [t for t, label in zip(ids, labels) if label != -100]
    masked = [t for t, label in zip(ids, labels) if label == -100]
    assert tokenizer.decode(trained).startswith(record["output"] + "<|im_end|>")
    assert tokenizer.decode(masked) == generation_prompt(tokenizer, record["input"])
