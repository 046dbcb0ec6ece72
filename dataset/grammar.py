"""The English the reshaping families need: undoing subject-auxiliary inversion, "how to" forms, articles.

Every function here handles only the question shapes it can turn into correct English and returns None for
the rest: a family that cannot reshape a question leaves it to the others. The word lists are small and
curated; a question that needs a word outside them is skipped, never guessed at.
"""

from __future__ import annotations

import re

PRONOUNS = {"i", "you", "we", "they", "it", "he", "she"}
WH_WORDS = {"what", "which", "who", "where", "when", "why", "how"}
MODALS = {"can", "could", "should", "would", "will", "shall", "may", "might", "must"}
BE = {"is", "are", "am", "was", "were"}
NT_AUX = {"can't", "couldn't", "shouldn't", "wouldn't", "won't", "mustn't", "don't", "doesn't", "didn't",
          "isn't", "aren't", "wasn't", "weren't", "haven't", "hasn't"}
AUX = MODALS | BE | NT_AUX | {"do", "does", "did", "have", "has"}
DETERMINERS = {"the", "my", "your", "our", "his", "her", "their", "this", "that", "a", "an"}
# words that end a subject noun phrase: its verb, or something no subject holds
CLAUSE_WORDS = {"if", "when", "while", "because", "since", "unless", "until", "than", "that", "who", "whom",
                "which", "where", "whether", "so", "or", "but", "though", "although", "after", "before"}
FUNCTION_WORDS = (AUX | PRONOUNS | WH_WORDS | DETERMINERS | CLAUSE_WORDS
                  | {"to", "in", "on", "at", "for", "with", "from", "by", "about", "into", "and", "not", "no",
                     "there", "me", "us", "them", "him", "any", "some", "ever", "still", "also", "really"})
# base forms that can follow a subject as its verb; a word of a subject must not be one of them
VERBS = set("""
accept affect allow apply arrive ask be beep belong bite boil break bring burn buy calculate call cancel carry
catch cause charge check choose clean close come compare connect contain cook cost count cover crash cry cut
delete deliver depend die differ dissolve do drain drink drive drop dry eat end expire explain explode fail
fall feel fill find finish fit fix float fly freeze get give glow go grow happen hate have hear heat help
hold hurt include itch keep kill know last leak learn leave let lift like live load look lose make matter
mean melt move need offer open orbit overheat pay pick play print produce protect pull purr push reach react
read recommend refuse remain remember require rise run say see seem sell send shake shine shrink sing sink
sit sleep slow smell sound spin split spread stand start stay stick stop store suggest support survive swell
take taste teach tell think travel trigger turn understand update use vary wake walk want wash wear weigh
win work worry write
""".split())
# what can follow "is"/"are" after a short subject: "why is my phone [overheating]", "is it [always] ..."
BE_PREDICATE_START = {"so", "too", "still", "always", "never", "not", "suddenly", "only", "usually", "often",
                      "really", "very", "getting", "taking", "making", "running", "showing", "asking", "saying",
                      "charging", "working", "going"}
# words that show "is/are" is followed by more than a noun phrase ("what is the weather like", "what is it made of")
NOT_IN_NOUN_PHRASE = {"like", "worth", "made", "born", "known", "called", "done", "built", "written", "found",
                      "seen", "taken", "given", "supposed", "considered", "used"}
NOT_NOUN_PHRASE_END = {"of", "for", "about", "from", "in", "on", "at", "to", "with", "by"}
PREPOSITIONS = NOT_NOUN_PHRASE_END | {"inside", "under", "between", "near", "per", "left"}
ING_NOUNS = set("""
conditioning ceiling building clothing wedding morning evening meeting parking heating cooling plumbing wiring
painting spring string filling stuffing frosting icing dressing lighting housing training booking lining
siding flooring pudding topping setting rating recording listing feeling ending opening offering shipping
billing banking cycling running timing bearing spelling warning reading hearing being drinking swimming
camping fishing hiking skiing boxing learning teaching nursing marketing engineering accounting
""".split())
# words ending in "ed" that are no past tense
NOT_PAST = {"need", "needed", "feed", "seed", "speed", "bleed", "breed", "proceed", "exceed", "succeed", "bed",
            "red", "shed", "wed", "embed", "indeed", "hundred", "used", "based", "allowed", "supposed", "sacred"}
IRREGULAR_PAST = set("""
went got broke lost left forgot fell took gave made said saw ate drank ran came paid sent spent bought sold
told found kept woke wore won stole froze flew grew knew threw wrote spilt was were had did began bit blew
burnt caught chose drove hid hung hurt led lit overslept shrank slept split stuck stung swallowed swore tore
""".split())
PARTICIPLES = IRREGULAR_PAST | set("""
held built born known found seen taken given written sold paid kept left lost shot set spent told won worn hidden
broken chosen drawn driven eaten fallen flown forgotten frozen grown ridden risen shaken spoken stolen sworn
thrown woken begun drunk sung sunk swum hung led fed bred felt heard meant met shut spread stood struck stuck
taught thought understood located
""".split())
STATE_MARKERS = {"is", "are", "am", "has", "have", "keeps", "keep", "won't", "doesn't", "isn't", "aren't",
                 "can't", "hasn't", "haven't", "didn't", "wasn't", "weren't", "still"}


def lower_first(text: str) -> str:
    """The first letter in lowercase, unless the first word is "I" (I, I'm, I've) or a name ("iPhone", "NASA")."""
    first = text.split()[0]
    if re.fullmatch(r"I(['\u2019](m|ve|d|ll))?[,.?]?", first) or any(c.isupper() for c in first[1:]) \
            or any(c.isdigit() for c in first):
        return text
    return text[:1].lower() + text[1:]


def plain_words(question: str) -> list[str] | None:
    """The question's words without its final "?"; None for a question with inner punctuation or quotes
    (several clauses, a quoted error message: shapes the rules do not handle)."""
    body = question[:-1] if question.endswith("?") else None
    if body is None or re.search(r"[,;:!?\"()\[\]]|\.\s", body):
        return None
    return body.split()


def third_person(verb: str) -> str:
    """open -> opens, fix -> fixes, apply -> applies, have -> has."""
    if verb == "have":
        return "has"
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def is_name(word: str) -> bool:
    """A word with a capital after its first letter, a digit, or a capital first letter (mid-sentence: a name)."""
    return bool(word) and (word[0].isupper() or any(c.isdigit() for c in word)) and word != "I"


def subject_end(words: list[str], start: int) -> int | None:
    """Index of the verb after a subject that starts at words[start]: a pronoun (the verb follows it), or a
    determiner or name followed by up to four words none of which is a verb or a function word ("of" may join
    them), then a verb of VERBS. None where no such subject is found."""
    if start >= len(words):
        return None
    first = words[start]
    if first.lower() in PRONOUNS:
        return start + 1 if start + 1 < len(words) else None
    if first.lower() not in DETERMINERS and not is_name(first):
        return None
    nouns = 0 if first.lower() in DETERMINERS else 1
    for i in range(start + 1, min(start + 6, len(words))):
        word = words[i]
        if word in VERBS and nouns:
            return i
        if word.lower() in FUNCTION_WORDS - {"of"} or word in VERBS:
            return None
        nouns += word != "of"
    return None


def undo_inversion(words: list[str], a: int) -> list[str] | None:
    """The words from the auxiliary words[a] on, in statement order: "does the post office open on Saturdays"
    -> "the post office opens on Saturdays"; None for the shapes the rules do not handle."""
    words = words[:a] + [words[a].lower()] + words[a + 1:]  # the auxiliary moves: "Can I" -> "I can"
    aux, rest = words[a], words[a + 1:]
    if not rest:
        return None
    if aux == "do":
        return rest if rest[0].lower() not in FUNCTION_WORDS - PRONOUNS - DETERMINERS else None
    if aux in BE and rest[0].lower() in PRONOUNS | {"there"}:
        return [rest[0], words[a]] + rest[1:]
    if aux in BE or aux in {"isn't", "aren't", "wasn't", "weren't"}:
        return _undo_be(words, a)
    if aux == "did":
        return None  # "when did the wall fall" needs the past tense of the verb
    verb = subject_end(words, a + 1)
    if verb is None or (words[a + 1].lower() not in PRONOUNS and not (words[verb] in VERBS and _one_verb(words, verb))):
        return None
    if aux == "does":
        if words[verb] not in VERBS:  # "does it really work": the word after "it" must be the verb
            return None
        return words[a + 1:verb] + [third_person(words[verb])] + words[verb + 1:]
    return words[a + 1:verb] + [words[a]] + words[verb:]


def _undo_be(words: list[str], a: int) -> list[str] | None:
    """"is/are" + a subject: a short subject before "-ing" or an adverb ("why is my phone overheating" -> "my
    phone is overheating"), or, after "what/who/where/when" (+ noun) or "how" + adjective, a whole noun phrase
    ("where is the nearest pharmacy" -> "the nearest pharmacy is")."""
    rest = words[a + 1:]
    if len(rest) >= 3 and rest[0].lower() in DETERMINERS and rest[1].lower() not in FUNCTION_WORDS \
            and (rest[2] in BE_PREDICATE_START or _is_participle(rest, 2)):
        return rest[:2] + [words[a]] + rest[2:]
    wh = words[0].lower()
    if words[a].lower() not in BE or a == 0 or wh not in {"what", "who", "where", "how"} \
            or (wh == "how" and (a != 2 or not (len(rest) == 2 or len(rest) <= 3 and is_name(rest[-1])))):
        return None  # "how long is a Schengen visa valid": after "how", only "how old is the universe"
    if not (rest[0].lower() in DETERMINERS or is_name(rest[0])) or rest[-1].lower() in NOT_NOUN_PHRASE_END \
            or len(rest) > 8:  # "what the easiest way to ... into one summary sheet in Excel is": too far apart
        return None
    lowered = [w.lower() for w in rest]
    for i, word in enumerate(lowered):
        after_to = i > 0 and lowered[i - 1] == "to"
        if word in AUX | CLAUSE_WORDS | PRONOUNS | NOT_IN_NOUN_PHRASE | PARTICIPLES \
                or (word in VERBS and not after_to) or (re.fullmatch(r"[a-z]{3,}ed", word) and word not in NOT_PAST):
            return None
    if wh == "how" and set(lowered) & {"in", "on", "at", "from", "to", "for", "with", "by"}:
        return None  # "how far is the Moon from Earth": the phrase belongs after the verb
    return rest + [words[a]]


def _is_participle(words: list[str], i: int) -> bool:
    """words[i] is an "-ing" verb after a subject ("my phone [overheating]", "the dog [eating] my shoes"), not a
    noun ("the air [conditioning]", "the legal [drinking] age", "a good [ping]"): followed by nothing, a
    determiner, a preposition or a pronoun."""
    word = words[i]
    if not (word.islower() and word.endswith("ing") and len(word) >= 6) or word in ING_NOUNS:
        return False
    after = words[i + 1].lower() if i + 1 < len(words) else ""
    return not after or after in DETERMINERS | PREPOSITIONS | PRONOUNS | {"up", "down", "out", "off", "so"}


def _one_verb(words: list[str], verb: int) -> bool:
    """No second base verb after words[verb] before a clause word: "how long should a full [charge] [last]" and
    "why does the query [run] fast but [take] ages" have no one place where the subject ends."""
    for i in range(verb + 1, len(words)):
        word = words[i].lower()
        if word in CLAUSE_WORDS:
            return True
        if word in VERBS and words[i - 1].lower() != "to":
            return False
    return True


def embedded_question(question: str) -> str | None:
    """The question as a clause inside another sentence, its inversion undone, no "?": "What time does the post
    office open?" -> "what time the post office opens"; "Can I pay by card?" -> "whether I can pay by card"
    ("whether" is for the caller to vary). None for shapes the rules do not handle."""
    words = plain_words(question)
    if not words or len(words) < 3:
        return None
    first = words[0].lower()
    if first in AUX:
        rest = undo_inversion(words, 0)
        return None if rest is None or _later_inversion(rest) else lower_first(" ".join(["whether"] + rest))
    if first not in WH_WORDS:
        return None
    aux_at = [i for i, w in enumerate(words) if w.lower() in AUX]
    if not aux_at:  # a subject question ("who invented the telephone") keeps its order
        return lower_first(" ".join(words))
    a = aux_at[0]
    if a > 4 or any(w.lower() in WH_WORDS | CLAUSE_WORDS for w in words[1:a]):
        return None
    rest = undo_inversion(words, a)
    if rest is None:
        if len(aux_at) == 1 and a >= 2 and a + 1 < len(words) and words[a + 1] in PREPOSITIONS \
                and words[a].lower() in BE:
            # "how many teaspoons are in a tablespoon": the wh-phrase is the subject, nothing to undo
            return lower_first(" ".join(words))
        return None
    if _later_inversion(rest):
        return None
    return lower_first(" ".join(words[:a] + rest))


def _later_inversion(words: list[str]) -> bool:
    """A second question inside ("... and can I ...", "... or is it ..."): the clause would still be inverted."""
    lowered = [w.lower() for w in words]
    return any(lowered[i] in {"and", "or", "but"} and (lowered[i + 1] in AUX | WH_WORDS)
               for i in range(len(lowered) - 1))


# "How do I X?" -> "how to X": each infinitive form comes from one question shape only, so that the model can
# learn one way back ("how to" -> "How do I", never "How can I").
INFINITIVE_SHAPES = [
    (re.compile(r"^How do I (.+)\?$"), "how to"),
    (re.compile(r"^Where can I (.+)\?$"), "where to"),
    (re.compile(r"^What should I (.+)\?$"), "what to"),
    (re.compile(r"^When should I (.+)\?$"), "when to"),
]


def infinitive_form(question: str) -> tuple[str, str] | None:
    """("how to", "reset my router") for "How do I reset my router?"; None for other shapes."""
    if plain_words(question) is None:
        return None
    for pattern, lead in INFINITIVE_SHAPES:
        match = pattern.match(question)
        if match:
            return lead, match.group(1)
    return None


def is_factual(clause: str) -> bool:
    """A clause whose first verb says what happened or what is so ("my screen went black", "my dog is limping",
    "a coworker keeps taking credit"), not a hypothesis ("I lose my passport", "I get bumped from a flight"):
    only then can it stand alone before the question. The first verb is the first word that is a known verb,
    a past tense or a form of be/have, before any clause word ("because", "and", ...)."""
    for word in clause.lower().split():
        word = word.strip(",.")
        if word in STATE_MARKERS or word in IRREGULAR_PAST or re.fullmatch(r"\w+'(m|re|ve|s)", word):
            return True
        if re.fullmatch(r"[a-z]{3,}ed", word) and word not in NOT_PAST:
            return True
        if word in VERBS or word[:-1] in VERBS or (word.endswith("es") and word[:-2] in VERBS) \
                or word in CLAUSE_WORDS | {"and"}:
            return False
    return False


def indefinite_article(phrase: str) -> str:
    """"a" or "an" for the sound the phrase starts with: an iPhone, a USB stick, an HP laptop, an 8-year-old."""
    word = phrase.split()[0]
    if word[0].isdigit():
        return "an" if re.match(r"(8|11|18)(\D|$)|8\d", word) else "a"
    if len(word) > 1 and word.isupper():
        return "an" if word[0] in "AEFHILMNORSX" else "a"
    lower = word.lower()
    if lower.startswith(("uni", "use", "usu", "eu", "one", "ubi")):
        return "a"
    if lower.startswith(("hour", "honest", "heir")):
        return "an"
    return "an" if lower[0] in "aeiou" else "a"
