"""qrewrite: rewrite messy questions into clean ones with a small fine-tuned model, faithfully.

    from qrewrite import Rewriter
    rewriter = Rewriter("weights/full/int8")             # loads once: int8 (CTranslate2) or any fp32 folder
    rewriter.rewrite(["hey so um waht is teh capital of frnace? thx"])   # -> ["What is the capital of France?"]
    rewriter.rewrite_records([...])                      # one record a question: rewrite, fallback, ...

The Rewriter (and torch behind it) loads on first use, so the light modules (qrewrite.data, qrewrite.cli,
qrewrite.faithfulness) import without it.
"""
__version__ = "0.4.0"
__all__ = ["Rewriter", "rewrite", "__version__"]


def __getattr__(name):
    if name in ("Rewriter", "rewrite"):
        from qrewrite import rewriter

        return getattr(rewriter, name)
    raise AttributeError(f"module 'qrewrite' has no attribute '{name}'")
