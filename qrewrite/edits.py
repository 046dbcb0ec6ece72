"""What a rewrite changed, where, and of what kind: typed edits with character offsets into the input.

    edits("hey so um waht is teh capital?", "What is the capital?")
    -> [{"start": 0, "end": 14, "before": "hey so um waht", "after": "What", "type": "reworded"}, ...]

Each edit replaces input[start:end] (offsets count Python characters of the input as given) with `after`;
applying every edit of a record to its input gives the rewrite exactly (apply_edits). The two texts are
cut into words, single punctuation marks and runs of white space, and difflib aligns the two sequences;
each stretch that differs is one edit. Chosen over ERRANT, the standard tool for edits in grammatical
error correction, because ERRANT needs a spaCy English pipeline, which PyPI carries only as third-party
uploads, and its edit types are grammatical (noun number, verb tense) rather than the kinds a rewrite makes.

The types: "spelling" (one word for one close word: "teh" -> "the", "frnace" -> "France", chat-speak
spelled out), "casing", "punctuation", "spacing", "removed" (filler, greetings, remarks), "added" (words a
question needs: "How do I"), "reordered" (words removed in one place and added in another), "reworded"
(anything else).
"""
import re
from difflib import SequenceMatcher

from qrewrite.faithfulness import is_shouted
from qrewrite.text import is_typo_of, is_unknown_word, one_edit_apart, plain
from qrewrite.wordlists import CHAT_SPEAK

PIECE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|\s+|[\W_]")
PIECE_IS_WORD = re.compile(r"[^\W_]")
SPELLING_SIMILARITY = 0.6  # difflib ratio from which one word is a respelling of the other ("waht" ~ "what")
PRONOUN_I = {"i", "i'm", "i've", "i'll", "i'd", "im", "ive"}
SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)$")


def pieces(text):
    """[(start, end)] of the words, single punctuation marks and runs of white space of `text`, in order."""
    return [m.span() for m in PIECE.finditer(text)]


def edits(source, target):
    """The typed edits that turn `source` into `target` (see the module docstring)."""
    source_spans, target_spans = pieces(source), pieces(target)
    source_pieces = [source[a:b] for a, b in source_spans]
    target_pieces = [target[a:b] for a, b in target_spans]
    keys = alignment_keys(source_pieces, target_pieces)
    matcher = SequenceMatcher(None, keys, [alignment_key(p) for p in target_pieces], autojunk=False)
    found = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":  # one edit for the whole stretch
            found.append(edit_between(source, source_spans, i1, i2, "".join(target_pieces[j1:j2])))
            continue
        for i, j in zip(range(i1, i2), range(j1, j2)):  # aligned pieces: an edit where the text differs
            if source_pieces[i] != target_pieces[j]:
                found.append(edit_between(source, source_spans, i, i + 1, target_pieces[j]))
    return mark_reordered(found)


def alignment_key(piece):
    """What aligns two pieces: the word in lower case, any white space alike."""
    return " " if piece.isspace() else piece.lower()


def alignment_keys(source_pieces, target_pieces):
    """The source pieces' keys, a misspelt word taking the key of the target word it is a respelling of
    ("waht" aligns with "What"), so that the edits stay one word wide."""
    target_words = {alignment_key(p) for p in target_pieces if PIECE_IS_WORD.match(p)}
    keys = []
    for piece in source_pieces:
        key = alignment_key(piece)
        if key not in target_words and PIECE_IS_WORD.match(piece):
            close = [w for w in target_words if is_respelling(plain(piece), plain(w))]
            key = max(close, key=lambda w: SequenceMatcher(None, key, w).ratio()) if close else key
        keys.append(key)
    return keys


def edit_between(source, spans, i1, i2, after):
    """The edit that replaces source pieces i1..i2 (an insertion where i1 == i2) with `after`."""
    start = spans[i1][0] if i1 < len(spans) else len(source)
    end = spans[i2 - 1][1] if i2 > i1 else start
    before = source[start:end]
    return {"start": start, "end": end, "before": before, "after": after, "type": edit_type(before, after)}


def content(text):
    """The words of a text, lower case, without punctuation and white space."""
    return [plain(w) for w in re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text)]


def edit_type(before, after):
    """The kind of one edit (see the module docstring)."""
    old, new = content(before), content(after)
    if not old and not new:
        return "spacing" if not before.strip() and not after.strip() else "punctuation"
    if not old or not new:
        return "added" if not old else "removed"
    if before.lower() == after.lower():
        return "casing"
    if old == new:
        return "punctuation" if re.sub(r"\s", "", before.lower()) != re.sub(r"\s", "", after.lower()) else "spacing"
    if len(old) == 1 and len(new) == 1 and is_respelling(old[0], new[0]):
        return "spelling"
    return "reworded"


def is_respelling(old, new):
    """Whether `new` is `old` spelled right: one typo apart, close by difflib, or chat-speak spelled out."""
    return (one_edit_apart(old, new) or new in CHAT_SPEAK.get(old, "").replace("'", "").split()
            or SequenceMatcher(None, old, new).ratio() >= SPELLING_SIMILARITY)


def mark_reordered(found):
    """A stretch removed in one place and the same words added in another is one move: both become "reordered"."""
    removed = [e for e in found if e["type"] == "removed"]
    for added in (e for e in found if e["type"] == "added"):
        for moved in removed:
            if moved["type"] == "removed" and content(moved["before"]) == content(added["after"]) != []:
                moved["type"] = added["type"] = "reordered"
                break
    return found


def edit_counts(found_per_text):
    """{type: number of edits} over many texts' edits, most common first."""
    counts = {}
    for found in found_per_text:
        for edit in found:
            counts[edit["type"]] = counts.get(edit["type"], 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def edit_scores(inputs, predictions, references, beta=0.5):
    """Edit-level precision, recall and F0.5 of the predictions against the references' own edits, as text
    correction work reports them: a predicted edit is right when a reference edit has the same span and text."""
    right = predicted = wanted = 0
    for source, prediction, reference in zip(inputs, predictions, references):
        got = {(e["start"], e["end"], e["after"]) for e in edits(source, prediction)}
        gold = {(e["start"], e["end"], e["after"]) for e in edits(source, reference)}
        right, predicted, wanted = right + len(got & gold), predicted + len(got), wanted + len(gold)
    precision = right / predicted if predicted else 1.0
    recall = right / wanted if wanted else 1.0
    f = (1 + beta**2) * precision * recall / (beta**2 * precision + recall) if precision + recall else 0.0
    return {"edit_precision": round(precision, 4), "edit_recall": round(recall, 4), "edit_f0.5": round(f, 4),
            "edits_predicted": predicted, "edits_in_references": wanted}


RED, GREEN, DIM, RESET = "\033[31;9m", "\033[32m", "\033[2m", "\033[0m"


def render(source, found, colour=False):
    """The input with its edits marked, as wdiff marks them: [-removed-]{+added+}; with colour, struck-through red
    and green instead (for a terminal)."""
    out, last = [], 0
    for edit in found:
        out.append(source[last:edit["start"]])
        if edit["before"]:
            out.append(f"{RED}{edit['before']}{RESET}" if colour else f"[-{edit['before']}-]")
        if edit["after"]:
            out.append(f"{GREEN}{edit['after']}{RESET}" if colour else f"{{+{edit['after']}+}}")
        last = edit["end"]
    return "".join(out) + source[last:]


def explain(record, colour=False):
    """A record for a person at a terminal: the rewrite, the input with its edits marked, the edits by type, and
    why the model's rewrite was not used, if it was not (the input then came back as typed, or with its safe
    fixes only)."""
    counts = ", ".join(f"{kind} {n}" for kind, n in edit_counts([record["edits"]]).items()) or "no edit"
    kept = "kept as typed" if not record["edits"] else f"kept as typed but for safe fixes ({counts})"
    note = f"{kept}: {record['fallback']}" if record.get("fallback") else counts
    dim = (lambda text: f"{DIM}{text}{RESET}") if colour else (lambda text: text)
    return f"{record['rewrite']}\n  {render(record['input'], record['edits'], colour)}\n  {dim(note)}"


def apply_edits(source, found):
    """The text the edits make of `source`: each input[start:end] replaced by its `after`."""
    out, last = [], 0
    for edit in sorted(found, key=lambda e: (e["start"], e["end"])):
        out += [source[last:edit["start"]], edit["after"]]
        last = edit["end"]
    return "".join(out) + source[last:]


def starts_a_sentence(text, word):
    """Whether every place `word` stands in `text` (as a whole word) starts a sentence there."""
    places = [m.start() for m in re.finditer(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", text)]
    return all(SENTENCE_START.search(text[:start]) for start in places)


def safe_edits(question, output):
    """The edits from `question` to a refused `output` that are safe on their own: a word respelt as a word one
    typo away and far more common ("budet" -> "budget"), "i" -> "I", a known word capitalised where
    the output does not start a sentence with it ("earth" -> "Earth"), the question's first letter, spaces.
    None for a shouted question, whose capitals say nothing."""
    if is_shouted(question):
        return []
    kept = []
    for edit in edits(question, output):
        before, after = edit["before"], edit["after"]
        if edit["type"] == "spacing":
            kept.append(edit)
        elif edit["type"] == "casing" and (
                before.lower() in PRONOUN_I or edit["start"] == 0
                or (not is_unknown_word(plain(before)) and not starts_a_sentence(output, after))):
            kept.append(edit)
        elif edit["type"] == "spelling" and after.isalpha() and is_typo_of(plain(before), plain(after)):
            keep_case = before.islower() and edit["start"] > 0 and starts_a_sentence(output, after)
            kept.append({**edit, "after": after.lower() if keep_case else after})
    return kept
