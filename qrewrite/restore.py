"""A rewrite whose only fault is changed words ("pharjacy" -> "phone") keeps the rest of its clean-up, with those
stretches put back as the question wrote them: a typo left in is better than a wrong correction."""
from difflib import SequenceMatcher

from qrewrite.faithfulness import changed_words, is_shouted
from qrewrite.skip import holds_question
from qrewrite.text import SENTENCE_END, WORD, one_edit_apart, plain
from qrewrite.wordlists import FUNCTION_WORDS

SIGN_OFFS = {"help", "thanks", "thank", "please", "appreciate", "appreciated", "advance", "cheers"}


def is_filler(word):
    """A word that a stretch put back leaves out at its ends: a function word, a greeting or a sign-off, typo or
    not ("thx", "hslp")."""
    bare = plain(word)
    return (bare in FUNCTION_WORDS or not holds_question(word)
            or any(bare == s or one_edit_apart(bare, s) for s in SIGN_OFFS))


MAX_RESTORED_SPAN = 4  # words on each side of a changed stretch that restore_changed puts back; longer: give up


def restore_changed(source, output):
    """`output` with each stretch of changed words put back as the question wrote it ("Is there a phone open ...?"
    -> "Is there a pharjacy open ...?"), the rest of the rewrite kept: a typo left in is better than a wrong
    correction. Words the rewrite added with nothing in the question against them are taken out. Returns
    (text, the stretches of the question put back), or None when the stretches do not line up."""
    changed = {plain(w) for w in changed_words(source, output)}
    out_spans, src_spans = list(WORD.finditer(output)), list(WORD.finditer(source))
    matcher = SequenceMatcher(None, [plain(m.group()) for m in out_spans], [plain(m.group()) for m in src_spans],
                              autojunk=False)
    text, restored, end, edits = "", [], 0, 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or not any(plain(m.group()) in changed for m in out_spans[i1:i2]):
            continue
        if i2 - i1 > MAX_RESTORED_SPAN or j2 - j1 > MAX_RESTORED_SPAN:
            return None
        while j1 < j2 and is_filler(src_spans[j1].group()):
            j1 += 1
        while j2 > j1 and is_filler(src_spans[j2 - 1].group()):
            j2 -= 1
        start = out_spans[i1].start()
        put_back = source[src_spans[j1].start():src_spans[j2 - 1].end()] if j2 > j1 else ""
        if SENTENCE_END.search(put_back):
            return None
        if is_shouted(source):
            put_back = put_back.lower()
        stop = out_spans[i2 - 1].end()
        if not put_back:  # take the added words out, and the space before them
            start = len(output[:start].rstrip()) if output[:start].strip() else start
        text += output[end:start] + put_back
        restored += [put_back] if put_back else []
        end, edits = stop, edits + 1
    return (text + output[end:], restored) if edits else None
