"""Protected terms: the words a caller knows must not change (product names, SKUs, code identifiers). Each term
the question holds must stand in the rewrite exactly as written, case included, or the rewrite is refused
("changed: <term>"); see Rewriter.rewrite_records."""
import re


def holds_term(text, term):
    """Whether `text` holds `term` exactly as written (case included), not as part of a longer word."""
    before = r"(?<![^\W_])" if term[:1].isalnum() else ""
    after = r"(?![^\W_])" if term[-1:].isalnum() else ""
    return re.search(before + re.escape(term) + after, text) is not None


def protected_changes(source, output, protected):
    """The caller's protected terms that `source` holds and `output` does not hold exactly as written."""
    return [term for term in protected if term.strip() and holds_term(source, term) and not holds_term(output, term)]
