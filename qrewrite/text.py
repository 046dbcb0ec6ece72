"""Words of a text as the guard reads them: splitting into words and sentences, plain forms, and when two
words are the same word (a typo fixed, another ending, a name matched closely). Shared by the guard
(faithfulness.py, asides.py), the edits (edits.py) and the restorer (restore.py)."""
import re
from difflib import SequenceMatcher

from qrewrite.wordlists import CHAT_SPEAK, NAME_MATCH, NT_FORMS

WORD = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*")
SENTENCE_END = re.compile(r"[.!?:;\n]")
POSSESSIVE = re.compile(r"['’]s$")
TYPO_RARER = 2.0  # a typo fix is safe when the typed word is this much rarer (Zipf scale: 100 times) than the fix


def words(text):
    return WORD.findall(text)


def close_match(word, candidates):
    word = word.lower()
    return any(word == c or (min(len(word), len(c)) >= 4 and SequenceMatcher(None, word, c).ratio() >= NAME_MATCH)
               for c in candidates)


def one_edit_apart(a, b):
    """Whether two words of 3 letters or more differ by one typo: a letter added, dropped, changed or swapped."""
    if min(len(a), len(b)) < 3 or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) <= 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return any(longer[:i] + longer[i + 1:] == shorter for i in range(len(longer)))


def name_forms(text):
    """The lowercase words of a text, and each possessive without its 's ("Joe's" -> "joe's", "joe"): what a
    name is matched against."""
    found = []
    for word in words(text.lower()):
        found += [word, POSSESSIVE.sub("", word)] if POSSESSIVE.search(word) else [word]
    return found


def plain(word):
    return word.lower().replace("’", "'").replace("'", "")


def spelled_out(text):
    """The plain words of a text, with the words its chat-speak stands for."""
    found = set()
    for word in words(text):
        found |= {plain(word), *CHAT_SPEAK.get(word.lower(), "").replace("'", "").split()}
    return found


def stem(word):
    """The word without one common ending: "moving" and "move" -> "mov", "running" -> "run", "optimization" ->
    "optim"."""
    for ending in ("ization", "ation", "ing", "ed", "es", "s", "e"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            root = word[:-len(ending)]
            return root[:-1] if ending in ("ing", "ed") and root[-1] == root[-2] and root[-1] not in "aeiou" else root
    return word


def holds_word(word, held):
    """Whether `word` (plain) is one of the `held` words, as written, with a typo fixed, or with another ending,
    or a typo of it with an ending ("tkaes" holds "take": "why does it take")."""
    if word in held or close_match(word, held):
        return True
    root, inflected = stem(word), (word + "s", word + "es")
    for other in held:
        other_root = stem(other)
        if one_edit_apart(word, other) or root == other_root or any(one_edit_apart(f, other) for f in inflected) or (
                min(len(root), len(other_root)) >= 4 and (
                one_edit_apart(root, other_root) or root.startswith(other_root) or other_root.startswith(root))):
            return True
    return False


def is_unknown_word(word):
    """Whether no English text wordfreq counted holds `word` (plain): "mombetasa" and "frnace" are unknown,
    "mombasa" and "france" are not."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") == 0


def sentence_ids(text):
    """For each word of the text, the number of the sentence it stands in."""
    ids, sentence, last = [], 0, 0
    for match in WORD.finditer(text):
        sentence += bool(SENTENCE_END.search(text[last:match.start()]))
        ids.append(sentence)
        last = match.end()
    return ids


def is_typo_of(typed, word):
    """Whether `typed` is `word` with one typo, and far rarer in English text than it ("teh" -> "the", "budet" ->
    "budget"; not "form" -> "from", where both are words people mean)."""
    from wordfreq import zipf_frequency

    if typed in CHAT_SPEAK or typed in NT_FORMS:  # "whats" is "what's", not "what" mistyped
        return False
    return one_edit_apart(typed, word) and zipf_frequency(word, "en") - zipf_frequency(typed, "en") >= TYPO_RARER
