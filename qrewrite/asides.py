"""Asides: remarks about the asker that the question does not depend on, said before or after it. The asker's
age ("im 12", "my daughter is almost 3"), how long they have been at it ("been using ur app for like 2 years
now"), how often they tried ("ive restarted it 3 times"), what they keep hearing ("i keep hearing 8 glasses but
idk"), and the usual negations of a chat message ("nothing i try works", "if its not too much trouble", "not
sure if this is the right place").

A number, negation or time word that stands only in such an aside may go with it: a rewrite that drops the
aside whole (keeps none of its content words) changes no question. A rewrite that keeps a content word of the
aside keeps the aside, and then what it holds must stay, as anywhere else. Anything not written here is no
aside: "I have a 2012 Subaru", "im 5 minutes late", "for 2 hours" without a first-person verb keep their
numbers. The guard reads this in qrewrite/faithfulness.py (dropped_items).
"""
import re
from functools import lru_cache

from qrewrite.text import WORD, is_typo_of, one_edit_apart, plain, words
from qrewrite.wordlists import CHAT_SPEAK, FUNCTION_WORDS, NEGATIONS, NT_FORMS, NUMBER_WORDS

COUNT = r"(?:\d+|" + "|".join(NUMBER_WORDS) + r"|a few|a couple(?: of)?|several)"
CLAUSE_END = r"(?=\s*(?:$|[,.!?;:)]|(?:and|but|so|lol|haha|btw|thx|thanks|ty|tia|pls|please|help|appreciate)\b))"
# what turns an age into a measure ("im 5 minutes late", "im 30 weeks pregnant", "my son is 4 feet tall")
NOT_AN_AGE = (r"(?!\s*(?:%|percent|minutes?|mins?|hours?|hrs?|seconds?|secs?|days?|weeks?|feet|foot|ft|inches|cm|"
              r"kgs?|lbs?|pounds?|stone|miles?|km|dollars?|bucks|euros?|pm|am|o'?clock|times|and a half|[.,/:-]\d)\b)")
RELATIVES = ("son|daughter|kids?|baby|child|children|boy|girl|toddler|brother|sister|husband|wife|mom|mum|dad|"
             "grandma|grandpa|nephew|niece|dog|cat|puppy|kitten")
ASIDES = [re.compile(pattern) for pattern in (
    # the asker's age, or a relative's, as a clause of its own: "im 12", "my daughter is almost 3 lol"
    rf"\b(?:i'?m|i am|i turned|i just turned|(?:my|our) (?:\w+ )?(?:{RELATIVES})(?: is|'s| turns| turned| just "
    rf"turned))(?: only| just| almost| nearly| about| like| turning)* {COUNT}(?: (?:years?|yrs?|months?) old| ?yo| "
    rf"y/o| years?| months?)?\b{NOT_AN_AGE}",
    # how long the asker has been at it: "i have been useing ur app for like 2 years now" (not how long a thing
    # has been so: "my broadband has been down for 3 days", "I've had a cough for 3 weeks")
    rf"\bbeen (?:us\w*ing|waiting|trying|a customer|a member|with (?:you|u|them)|subscribed|stuck on this|doing "
    rf"this)\b[^,.!?;]{{0,30}}?\bfor (?:like |about |almost "
    rf"|over |nearly |around |the (?:last|past) )?{COUNT} (?:years?|yrs?|months?|weeks?|days?|hours?|hrs?|minutes?"
    rf"|mins?)(?: now| already| straight)?\b",
    # how often the asker tried: "ive restarted it 3 times already"
    rf"\b(?:i'?ve |i have |i |we |already )?(?:tried|asked|restarted|rebooted|reinstalled|reset|googled|searched"
    rf"|called|emailed|checked|watched|read)\b[^,.!?;]{{0,30}}?\b{COUNT} times(?: already| now| today)?\b",
    # what the asker keeps hearing, doubted: "i keep hearing 8 glasses but idk"
    r"\bi (?:keep |kept |always )?(?:hear|hearing|heard|read|see|seeing|saw)\b[^,.!?;]{0,50}?\b(?:but|and) "
    r"(?:idk|dunno|i'?m not sure|not sure|i (?:don'?t|do not) know)\b",
    # negations said around a question
    r"\bnothing (?:i (?:try|tried|do|did|have tried|'?ve tried)|seems to|ever|has|i'?ve tried)?\s*(?:works?|worked"
    r"|help(?:s|ed)?|fix(?:es|ed)?)\b",
    r"\bif (?:it'?s|it is|that'?s) not too much (?:trouble|to ask)\b",
    r"\b(?:i'?m )?not sure (?:if|whether) (?:this is|i'?m in|this is even) (?:the right|a good) (?:place|sub|"
    r"subreddit|forum|group|channel)(?: for this| to ask)?\b",
    r"\b(?:idk|dunno|i (?:don'?t|do not) know)(?: lol| haha)?" + CLAUSE_END,
)]


# the words the asides are written in, read through one typo ("vor lkie 10 yearrs" is "for like 10 years")
ASIDE_VOCABULARY = set("""
been using waiting trying customer member with subscribed stuck this doing for like about almost over nearly around
last past years months weeks days hours minutes tried asked restarted rebooted reinstalled googled searched called
emailed checked watched read times already keep kept always hear hearing heard seeing nothing works worked helps
helped seems help trouble sure right place only just turned years old daughter son kids baby child children brother
sister husband wife niece nephew toddler puppy kitten and what how can
""".split())


# words of an aside that say nothing of what it is about
NOT_CONTENT = FUNCTION_WORDS | NUMBER_WORDS.keys() | CHAT_SPEAK.keys() | NEGATIONS | NT_FORMS | {"dunno"}


@lru_cache(maxsize=1 << 16)  # asked for every word of every question the guard reads
def as_aside_word(word):
    """The aside word that `word` (lower case) is one typo from, and far rarer than; else the word itself."""
    if word in ASIDE_VOCABULARY or not word.isalpha():
        return word
    return next((v for v in ASIDE_VOCABULARY if is_typo_of(word, v)), word)


def read_through_typos(text):
    """The text in lower case, spaces single, each word one typo from an aside word read as that word."""
    return WORD.sub(lambda match: as_aside_word(match.group()), re.sub(r"\s+", " ", text.lower().replace("’", "'")))


def aside_spans(text):
    """(start, end) character spans of the asides in read_through_typos(text), which keeps the text's words
    in order (chat-speak "im", "ive", "u" read as typed)."""
    return spans_in_read_text(read_through_typos(text))


def spans_in_read_text(read):
    return [match.span() for pattern in ASIDES for match in pattern.finditer(read)]


def dropped_aside_positions(source, output):
    """Word positions of `source` that stand in an aside the rewrite dropped whole: none of the aside's content
    words (not a number, a negation or a function word) stands in `output`."""
    read = read_through_typos(source)
    read_matches, output_words = list(WORD.finditer(read)), [plain(w) for w in words(output)]
    source_words, dropped = [plain(w) for w in words(source)], set()
    for start, end in spans_in_read_text(read):
        inside = [i for i, m in enumerate(read_matches) if m.start() >= start and m.end() <= end]
        content = [w for w in (source_words[i] for i in inside) if w.isalpha() and w not in NOT_CONTENT]
        if not any(w in output_words or len(w) >= 5 and any(one_edit_apart(w, o) for o in output_words)
                   for w in content):  # kept as written or with a typo fixed ("now" is not "how")
            dropped.update(inside)
    return dropped
