"""The two cheap checks that leave an input alone before the model is asked: text that is not English, and
greetings or thanks that hold no question. The Rewriter returns such an input unchanged, with the reason."""
import re

from qrewrite.text import words

# Function words of languages often typed in Latin script, none of them an English word or chat-speak.
FOREIGN_WORDS = set("""
ist und der das nicht ich wie wo wann warum welche gibt ein eine kann mein meine sie wir es spät heute für auf
est les des une et je pourquoi comment quelle quel où qui que pas vous nous dans avec pour sur du au ce elle
el los las está qué cómo dónde cuándo por para del con hay puedo cuál cuánto mi
il che di è sono come dove perché della gli
não onde você uma em os
het een ik niet hoe waar wat zijn van
de la
""".split())
ENGLISH_WORDS = set("""
the a an is are was were be been do does did what which who whom whose where when why how can could should would
will shall may might must i you he she it we they my your his her its our their me him us them to of in on at
for with from by about as into than then and or but if so not no this that these those there here have has had
""".split())
GREETINGS = re.compile(r"\b(hi+|hello+|hey+|heya|hiya|yo|sup|good (morning|afternoon|evening|night)|morning|"
                       r"thanks?( you)?( so much| a lot)?|thx|ty|tia|cheers|ok(ay)?|bye|goodbye|lol|haha+|hmm+|um+|"
                       r"uh+|how are (you|u)|how r (you|u)|hw r u|hru|what'?s up|wh?ass?up|nice to meet (you|u)|"
                       r"please|pls|plz|great|cool|awesome|nvm|np|no worries|you there|anyone there|test(ing)?)\b")


def is_english(text):
    """Cheap check: mostly Latin letters, and not more function words of another language than of English."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    if sum(c.isascii() for c in letters) < 0.7 * len(letters):
        return False
    lower = [w.lower() for w in words(text)]
    foreign, english = sum(w in FOREIGN_WORDS for w in lower), sum(w in ENGLISH_WORDS for w in lower)
    return not (foreign >= 2 and foreign > english and foreign >= 0.3 * len(lower))  # not "van der Waals"


def holds_question(text):
    """False for greetings, thanks and small talk with nothing else in them ("hello", "hw r u", "thx!")."""
    rest = GREETINGS.sub(" ", text.lower())
    return any(c.isalnum() for c in rest)


def skip_reason(question):
    """Why an input is left as it is without asking the model, or None."""
    if not is_english(question):
        return "not English"
    if not holds_question(question):
        return "no question"
    return None
