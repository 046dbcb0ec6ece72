"""What a rewrite must keep: the numbers, names, negations and choices of the question, with no word changed and
nothing invented.

Used twice: by the Rewriter's guard (an output that drops or invents one of these is not passed on) and by
score.py's faithfulness metrics. What the guard does with changed words is in qrewrite/restore.py; the
checks that leave an input alone before any generation are in qrewrite/skip.py.

Definitions (all compared case-insensitively):
- number: digits in a word ("4417", "$2,000" -> 2000, "5th" -> 5), or a number word from two to twenty;
  chat-speak such as "b4" or "gr8" is not a number.
- aside: a remark about the asker the question does not depend on ("im 12", "nothing i try works"; the list is in
  qrewrite/asides.py): a number, negation or time word in it may go when the rewrite drops the aside whole.
- name: a word with a digit and letters ("401k"), a mixed-case word ("iPhone"), an acronym ("NASA", unless the
  whole text is shouted), or a capitalised word that does not start a sentence ("Chase", "Sonoma").
- negation: not, no, never, without, ... and every n't form (typed with or without the apostrophe). One in a
  remark about the asker ("no idea", "my kid asked and i didn't know") may go with its remark, and the "or not"
  that ends a yes/no question may go; any other must stay.
- choice: an "or" between two options ("should I contact them or the airline"), kept as "or", "vs" or "between".
- cut content: a content word the rewrite cut from between two words it keeps together, or from right after the
  word it ends on ("a bleach spray bottle" -> "a bleach bottle"); words said around a question ("thanks") may go.
- time: a word that says when or how often ("yesterday", "tmrw", "on friday", "in march", "last night", "a week"),
  kept where the words around it are kept; a remark dropped whole may take its time word with it.
A name counts as kept when a word of the other text matches it closely (a fixed typo, "Barak" -> "Barack").
- changed word: a content word of the rewrite that stands for no word of the question, not even as a fixed typo:
  a misspelling "corrected" into another word ("pharjacy" -> "phone", "moohs" -> "moles") or a word swapped
  ("afternoon" -> "evening"), or one word of the question written twice ("a ba or a bs" -> "a battery or a battery");
  and a word the rewrite spells as no language knows it and the question does not ("mombasa" -> "Mombetasa"):
  a fixed typo becomes a known word, a name typed in lowercase comes back recased, never respelt.
  Function words and spelled-out chat-speak ("tmrw" -> "tomorrow") are not changes.
"""
import re
from collections import Counter
from difflib import SequenceMatcher
from functools import lru_cache

from qrewrite.asides import dropped_aside_positions
from qrewrite.text import (
    POSSESSIVE,
    SENTENCE_END,
    WORD,
    close_match,
    holds_word,
    is_unknown_word,
    name_forms,
    one_edit_apart,
    plain,
    sentence_ids,
    spelled_out,
    words,
)
from qrewrite.wordlists import (
    ASIDE_WORDS,
    ASKER_REMARK_WORDS,
    CHAT_NUMERALS,
    CHAT_SPEAK,
    CHOICE_WORDS,
    EMBEDDED_QUESTION_WORDS,
    FUNCTION_WORDS,
    LONG_NEGATIONS,
    NEGATIONS,
    NOT_AN_OPTION,
    NOT_NAMES,
    NT_FORMS,
    NUMBER_WORDS,
    STOPWORDS,
    TIME_DETERMINERS,
    TIME_PHRASE_WORDS,
    TIME_UNITS,
    TIME_WORDS,
)


@lru_cache(maxsize=1 << 16)  # the guard asks about the same words again and again; fuzzy matching is slow
def number_word(word, fuzzy):
    """The digits a number word stands for ("five" -> "5"; with fuzzy, a typo of one: "fiive")."""
    if word in NUMBER_WORDS:
        return NUMBER_WORDS[word]
    if fuzzy and len(word) >= 4:
        for name, digits in NUMBER_WORDS.items():
            if SequenceMatcher(None, word, name).ratio() >= 0.8:
                return digits
    return None


def numbers(text, fuzzy=False):
    """(number, word position) pairs of a text: digit strings without thousands separators."""
    found = []
    for position, word in enumerate(words(re.sub(r"(?<=\d),(?=\d{3})", "", text))):
        lower = word.lower()
        if lower in CHAT_NUMERALS:
            continue
        digits = re.findall(r"\d+(?:\.\d+)?", word)
        spelled = None if digits else number_word(lower, fuzzy)
        found += [(d, position) for d in digits] + ([(spelled, position)] if spelled else [])
    return found


def is_shouted(text):
    """ALL CAPS, or Title Case (most longer words capitalised): then capitals do not mark names."""
    letters = [c for c in text if c.isalpha()]
    longer = [w for w in words(text)[1:] if len(w) > 3]
    title_case = len(longer) >= 3 and sum(w[0].isupper() for w in longer) > 0.6 * len(longer)
    return title_case or (bool(letters) and sum(c.isupper() for c in letters) > 0.6 * len(letters))


def names(text):
    """(name, word position) pairs: words that mark a name or product (see the module docstring)."""
    shouted, found = is_shouted(text), []
    for position, match in enumerate(WORD.finditer(text)):
        word = POSSESSIVE.sub("", match.group())
        before = text[:match.start()].rstrip()
        sentence_start = not before or SENTENCE_END.match(before[-1]) is not None
        if word.lower() in CHAT_NUMERALS | NOT_NAMES or not any(c.isalpha() for c in word):
            continue
        mixed = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
        acronym = len(word) >= 2 and word.isupper() and not shouted
        capitalised = (word[0].isupper() and (word[1:].islower() or len(word) == 1) and not sentence_start
                       and not shouted)
        if any(c.isdigit() for c in word) or mixed or acronym or capitalised:
            found.append((word, position))
    return found


def times(text):
    """(time word, word position) pairs: the words that say when or how often, chat-speak spelled out."""
    found, text_words = [], [CHAT_SPEAK.get(plain(w), plain(w)) for w in words(text)]
    for position, word in enumerate(text_words):
        after_determiner = position > 0 and text_words[position - 1] in TIME_DETERMINERS or (
            position > 1 and text_words[position - 1] == "the" and text_words[position - 2] in {"in", "at", "during"})
        if word in TIME_WORDS or (word in TIME_UNITS and after_determiner):
            found.append((word, position))
    return found


def is_negation(word, fuzzy=False):
    bare = plain(word)
    if word in NEGATIONS or bare in NT_FORMS or word.endswith(("n't", "n’t")):
        return True
    return fuzzy and len(bare) >= 5 and any(bare[0] == n[0] and SequenceMatcher(None, bare, n).ratio() >= 0.85
                                            for n in LONG_NEGATIONS)


def negations(text, fuzzy=False):
    """(negation, word position) pairs; with fuzzy, typos of the longer ones count ("withot")."""
    return [(w, i) for i, w in enumerate(words(text.lower())) if is_negation(w, fuzzy)]


def changed_words(source, output):
    """Content words of `output` that stand for no word of `source` (see "changed word" in the module docstring),
    and words written more often than the question holds words they can stand for: one "better" does not become
    "a battery or a battery", nor "credit card or debit card" "debit card or a debit card"."""
    held, changed = spelled_out(source), []
    output_words, source_words = words(output), [plain(w) for w in words(source)]
    written_too_often = {bare for bare, times in Counter(plain(w) for w in output_words).items()
                         if times > 1 and times > sum(holds_word(bare, spelled_out(w)) for w in source_words)}
    for word in output_words:
        bare = plain(word)
        if (bare in FUNCTION_WORDS or word.lower() in FUNCTION_WORDS or bare in NUMBER_WORDS
                or not any(c.isalpha() for c in bare)):
            continue
        respelt = bare not in held and is_unknown_word(bare)
        if not holds_word(bare, held) or bare in written_too_often or respelt:
            changed.append(word)
    return list(dict.fromkeys(changed))


def content_neighbours(position, source, sides, count, skip=frozenset()):
    """The `count` content words nearest to the source word at `position` on each side of `sides` ("left",
    "right"), in its sentence, nearest first (stopwords, negations and the plain words in `skip` passed over)."""
    source_words, sentence = words(source), sentence_ids(source)

    def nearest(order):
        return [source_words[j] for j in order if sentence[j] == sentence[position]
                and source_words[j].lower() not in STOPWORDS and not is_negation(source_words[j].lower())
                and plain(source_words[j]) not in skip][:count]

    orders = {"left": reversed(range(position)), "right": range(position + 1, len(source_words))}
    return [w for side in sides for w in nearest(orders[side])]


def context_kept(position, source, output_words, skip=frozenset()):
    """Whether the rewrite keeps a content word next to a source word (2 on each side, same sentence, the words
    in `skip` passed over): if it keeps none, the remark around it was dropped as filler ("I saw it on a TV
    show"), which changes no question."""
    near = content_neighbours(position, source, ("left", "right"), 2, skip)
    return any(close_match(w, output_words) for w in near) if near else True


def is_asker_word(word):
    """A word of ASKER_REMARK_WORDS, misspelt or chat-speak as it may be ("snse", "gud")."""
    word = CHAT_SPEAK.get(plain(word), plain(word))
    return close_match(word, ASKER_REMARK_WORDS) or any(one_edit_apart(word, r) for r in ASKER_REMARK_WORDS)


def in_asker_remark(position, source):
    """Whether the negation at `position` stands in a remark about the asker: one of the 3 content words after it
    (same sentence) is an ASKER_REMARK_WORDS word ("idk if this makes snse", "not very gud with this stuff")."""
    return any(is_asker_word(w) for w in content_neighbours(position, source, ("right",), 3))


def asker_remark_kept(position, source, output_words):
    """Whether the rewrite keeps the remark about the asker that holds the negation at `position`: one of the (up
    to 3) content words after the negation kept, other than the remark words ("know", "idea"), which the question
    may hold as well ("how do i know ..." beside "my kid asked me and i didn't know"). The remark ends with its
    sentence or where an embedded question starts ("i don't know [how to fix my car]"); the words before the
    negation may be the question's own, with no stop between ("can i pause it while i travel nobody knows")."""
    source_words, sentence = words(source), sentence_ids(source)
    after = []
    for j in range(position + 1, len(source_words)):
        word, bare = source_words[j], plain(source_words[j])
        if sentence[j] != sentence[position] or len(after) == 3 or bare in EMBEDDED_QUESTION_WORDS:
            break
        if not (bare in FUNCTION_WORDS or bare in NOT_NAMES or is_negation(bare) or is_asker_word(word)):
            after.append(word)
    content_words = [w for w in output_words if plain(w) not in FUNCTION_WORDS]  # "wyth" is no content kept
    return any(close_match(w, content_words) for w in after)


def is_or_not(position, source):
    """Whether the negation at `position` is the "or not" that ends a yes/no question ("should i go or not")."""
    source_words = words(source)
    return position > 0 and source_words[position - 1].lower() == "or" and not content_neighbours(
        position, source, ("right",), 1)


def choices(source, output_words):
    """The "or"s of the question that join two options, in the part the rewrite kept (a content word before the
    "or", same sentence, is kept): "should I contact them or the airline" is one."""
    source_words, found = words(source), 0
    for position, word in enumerate(source_words):
        if word.lower() != "or":
            continue
        after = [w for w in source_words[position + 1:position + 4] if plain(w) not in FUNCTION_WORDS]
        if not after or plain(after[0]) in NOT_AN_OPTION:
            continue
        before = content_neighbours(position, source, ("left",), 2)
        found += not before or any(close_match(w, output_words) for w in before)
    return found


def is_aside_word(word):
    return word in ASIDE_WORDS or word in CHAT_SPEAK or any(one_edit_apart(word, a) for a in ASIDE_WORDS)


def same_word(word, other, respelt):
    """Whether a plain word of the question stands as `other` in the rewrite: as written, or with a typo fixed
    ("heatet" -> "heater") when `other` is one of the rewrite's words the question does not hold as typed
    (`respelt`); a function word only as itself."""
    return word == other or (other in respelt and word not in FUNCTION_WORDS and other not in FUNCTION_WORDS
                             and holds_word(word, {other}))


def inside_drops(source, output):
    """Content words the rewrite cut out from between words it kept together ("bleach spray bottle" -> "bleach
    bottle", "Rheem wate heatet" -> "Rheem heater"), or from right after the word it ends on ("a valid
    prescription" -> "a prescription?"): what the question is about lost from the part of it the rewrite kept.
    Function words, negations (their own rule), typos no word list knows, words said around a question
    ("thanks", "asap") and words joined to a neighbour ("yellow fin" -> "yellowfin") are not counted."""
    typed, sentence = words(source), sentence_ids(source)
    source_words, output_words = [plain(w) for w in typed], [plain(w) for w in words(output)]
    output_pairs, held, output_set = list(zip(output_words, output_words[1:])), spelled_out(output), set(output_words)
    exact_pairs, respelt = set(output_pairs), output_set - set(source_words)
    dropped = []
    for k in range(1, len(source_words)):
        word, before = source_words[k], source_words[k - 1]
        if sentence[k - 1] != sentence[k] or word in FUNCTION_WORDS or len(word) < 3 or not word.isalpha():
            continue
        after = source_words[k + 1] if k + 1 < len(source_words) and sentence[k + 1] == sentence[k] else None
        if after is not None:
            lost = (before, after) in exact_pairs or bool(respelt) and any(
                same_word(before, a, respelt) and same_word(after, b, respelt) for a, b in output_pairs)
        else:
            lost = bool(output_words) and same_word(before, output_words[-1], respelt) and before not in FUNCTION_WORDS
        joined = {before + word, f"{before}-{word}"} | ({word + after, f"{word}-{after}"} if after else set())
        if lost and not (joined & output_set or is_negation(word) or is_aside_word(word)
                         or is_unknown_word(word) or holds_word(word, held)):
            dropped.append(typed[k])
    return dropped


def dropped_items(source, output):
    """Numbers of `source` that `output` lost, its names and negations lost while keeping the words around them,
    and a choice ("or") it dropped. A number counts wherever it stood: "got an iPhone 13. how do I ..." must keep
    the 13 (no shipped reference drops a number with its sentence), while a name in a dropped remark ("saw it on a
    TV show") may go."""
    output_words = name_forms(output)
    output_numbers, aside = {n for n, _ in numbers(output)}, dropped_aside_positions(source, output)
    dropped = [n for n, i in numbers(source) if n not in output_numbers and i not in aside]
    dropped += [n for n, i in names(source) if not close_match(n, output_words)
                and context_kept(i, source, output_words)]
    output_held, named = spelled_out(output), {d.lower() for d in dropped}
    dropped += [t for t, i in times(source) if t not in named and i not in aside and not close_match(t, output_held)
                and context_kept(i, source, output_words, skip=TIME_PHRASE_WORDS)]
    # a negation must stay unless it stands in a remark about the asker that the rewrite dropped ("no [idea]",
    # "nobody [knows]", "didn't [explain]" may go with their remark)
    kept_negations = [i for _, i in negations(source, fuzzy=True) if not is_or_not(i, source) and i not in aside
                      and (not in_asker_remark(i, source) or asker_remark_kept(i, source, output_words))]
    if len(negations(output, fuzzy=True)) < len(kept_negations):  # a misspelt one kept as typed is kept
        dropped.append("negation")
    if sum(w in CHOICE_WORDS for w in output_words) < choices(source, output_words):  # "X or Y?" -> "X?"
        dropped.append("or")
    dropped += [w for w in inside_drops(source, output) if w.lower() not in named]
    return list(dict.fromkeys(dropped))


def invented_items(source, output):
    """Numbers, names and negations of `output` that `source` does not hold (a fixed typo counts as held)."""
    source_words = name_forms(source)
    source_numbers = {n for n, _ in numbers(source, fuzzy=True)}
    invented = [n for n, _ in numbers(output) if n not in source_numbers]
    invented += [n for n, _ in names(output) if not close_match(n, source_words)]
    if len(negations(output)) > len(negations(source, fuzzy=True)):
        invented.append("negation")
    return list(dict.fromkeys(invented))


def kept_by_reference(source, output, reference):
    """With a reference (evaluation), what must be kept is what the reference keeps of the source."""
    source_numbers, source_words = {n for n, _ in numbers(source, fuzzy=True)}, name_forms(source)
    output_numbers, output_words = {n for n, _ in numbers(output, fuzzy=True)}, name_forms(output)
    dropped = [n for n, _ in numbers(reference) if n in source_numbers and n not in output_numbers]
    dropped += [n for n, _ in names(reference) if close_match(n, source_words) and not close_match(n, output_words)]
    if len(negations(output, fuzzy=True)) < min(len(negations(reference)), len(negations(source, fuzzy=True))):
        dropped.append("negation")
    return list(dict.fromkeys(dropped))


def meaning_changes(source, output, reference=None):
    """{"dropped": [...], "invented": [...], "changed": [...]} between a question and its rewrite. With a reference
    (evaluation), only what the reference keeps must be kept, and what the reference adds too is not invented
    or changed."""
    if reference is None:
        return {"dropped": dropped_items(source, output), "invented": invented_items(source, output),
                "changed": changed_words(source, output)}
    not_in_reference, reference_words = invented_items(reference, output), spelled_out(reference)
    return {"dropped": kept_by_reference(source, output, reference),
            "invented": [x for x in invented_items(source, output) if x in not_in_reference],
            "changed": [w for w in changed_words(source, output) if not holds_word(plain(w), reference_words)]}


def change_reason(source, output):
    """The guard's reason to refuse a rewrite ("dropped: 4417", "invented: Beijing", "changed: phone"), or None."""
    changes = meaning_changes(source, output)
    for kind in ("dropped", "invented", "changed"):
        if changes[kind]:
            return f"{kind}: {', '.join(changes[kind])}"
    return None
