"""The word lists the guard reads (qrewrite/faithfulness.py): chat-speak, numbers, negations, function words, time
words, and the words of remarks and asides around a question. All lower case."""

# chat-speak and the words it stands for: spelling them out changes nothing
CHAT_SPEAK = {"u": "you", "ur": "your you're", "r": "are", "y": "why", "c": "see", "b4": "before", "gr8": "great",
              "l8": "late", "l8r": "later", "2day": "today", "2nite": "tonight", "2morrow": "tomorrow",
              "2moro": "tomorrow", "4ever": "forever", "some1": "someone", "any1": "anyone", "every1": "everyone",
              "no1": "one", "w8": "wait", "m8": "mate", "h8": "hate",
              "pls": "please", "plz": "please", "thx": "thanks", "ty": "thank", "cuz": "because", "bc": "because",
              "ok": "okay", "rly": "really", "ppl": "people", "tmrw": "tomorrow", "prob": "probably",
              "smth": "something", "smt": "something", "gud": "good", "idk": "know", "tbh": "honest",
              "gonna": "going", "wanna": "want", "gotta": "got", "imo": "opinion", "btw": "way", "whats": "what's"}
CHAT_NUMERALS = {w for w in CHAT_SPEAK if any(c.isdigit() for c in w)}  # "b4", "gr8": not numbers
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split()) if i >= 2}  # "one" is mostly a pronoun ("which one")
NEGATIONS = {"not", "no", "never", "without", "cannot", "nor", "nobody", "nothing", "none", "neither", "nowhere"}
NT_FORMS = {"dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "cant", "couldnt", "wouldnt",
            "shouldnt", "wont", "havent", "hasnt", "hadnt", "aint", "mustnt", "neednt", "mightnt", "idk"}
LONG_NEGATIONS = {"without", "never", "nothing", "nobody", "neither", "cannot", "nowhere"}
NOT_NAMES = {"i", "i'm", "i've", "i'll", "i'd", "im", "ive", "ill", "id"}
STOPWORDS = set("""
a an the is are was were be been am do does did to of in on at for with from by about as into and or but if so
it its this that these those there here i me my you your u ur we our he she they them his her their what which
who how when where why can could should would will just some any very really
""".split())
NAME_MATCH = 0.75  # SequenceMatcher ratio from which two words are the same name ("frnace" ~ "France": 0.83)
# words a rewrite may add to reshape a question ("how to X" -> "How do I X?") without changing what it asks
FUNCTION_WORDS = STOPWORDS | set("""
being done has have had having get got go going make made than then because while until after before since
one ones mine yours us him them nor not no up down out off over under onto other another each every both either
best
all more most less least much many few such same also too even still yet own only way ways need needs like
what's it's that's there's don't doesn't isn't aren't can't won't i'm i've i'd
""".split())
# words that say when: each stands alone ("tmrw" is spelled out first); "may" is left out (mostly the verb)
TIME_WORDS = set("""
today tonight tomorrow yesterday weekend weekends weekday weekdays
monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays thursdays fridays saturdays
sundays january february march april june july august september october november december
""".split())
# words that say when or how often only after one of TIME_DETERMINERS ("last night", "this morning", "a week")
TIME_UNITS = set("""
night nights morning mornings afternoon afternoons evening evenings day days week weeks month months year years
hour hours summer winter spring autumn
""".split())
TIME_DETERMINERS = {"last", "next", "this", "every", "each", "per", "a", "an", "tomorrow", "yesterday"}
TIME_PHRASE_WORDS = TIME_WORDS | TIME_UNITS | TIME_DETERMINERS  # not the context of a time word: its own phrase

# Words of the remarks about the asker, not the question, that hold a negation: "no idea", "not sure if this is the
# right place", "I'm not very good with this stuff", "couldn't find a clear answer", "no rush". Such a remark may
# go; a negation in any other sentence must stay ("I'm not at home", "a debt I don't recognize").
ASKER_REMARK_WORDS = set("""
idea sure know knows knew clue answer expert good explain explained understand understood find found help helped
sense clear luck rush hurry worries stuff
""".split())

# after "don't know", "no idea", "not sure": the words that start an embedded question, which is the question itself
EMBEDDED_QUESTION_WORDS = {"how", "what", "why", "when", "where", "which", "who", "whether", "if"}

# what may follow an "or" without making it a choice the question asks about ("or something", "or not")
NOT_AN_OPTION = {"something", "whatever", "anything", "not", "smth", "sth", "else", "so", "elsewhere", "somewhere",
                 "someone", "anyone", "similar", "what"}
# how a rewrite may keep a choice ("X or Y" -> "between X and Y")
CHOICE_WORDS = {"or", "nor", "vs", "versus", "between"}

# words said around a question, not in it: a rewrite drops them freely, wherever they stand (typos of them too)
ASIDE_WORDS = set("""
thanks thank thx tia cheers ty haha hahaha lol lmao hehe asap urgent please pls plz plus also help trying want
typos sorry system
""".split())
