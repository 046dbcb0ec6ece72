"""Asides about the asker: a number or negation in one may go with it; anywhere else it must stay."""
import pytest

from qrewrite.asides import aside_spans
from qrewrite.faithfulness import change_reason

# (question, rewrite, the guard's verdict)
ASIDE_CASES = [
    # dropped whole: nothing the question depends on is lost
    ("whats a good bedtime story for a toddler, my daughter is almost 3", "What is a good bedtime story for a toddler?",
     None),
    ("what should i get my mom for her birthday, im 12", "What should I get my mom for her birthday?", None),
    ("how much water should i drink a day? i keep hearing 8 glasses but idk", "How much water should I drink a day?",
     None),
    ("hi there!! so i have been useing ur app for like 2 years now and i love it but how do i chnage my email adress?",
     "How do I change my email address?", None),
    ("ive restarted it 3 times already, why does my laptop keep freezing", "Why does my laptop keep freezing?", None),
    ("how do i fix a squeaky door, nothing i try works", "How do I fix a squeaky door?", None),
    ("can you explain how tides work if its not too much trouble", "How do tides work?", None),
    ("not sure if this is the right place but how do i reset my router", "How do I reset my router?", None),
    # read through one typo and stray spaces
    ("how much of my salary should go to rwnt?  ive been a customer for   6 yearrs",
     "How much of my salary should go to rent?", None),
    ("ok so im 14 cna i recover a deleted git branch", "Can I recover a deleted Git branch?", None),
    ("been stuck on this for 5 hours what does it mean when a house is listed as contingent?",
     "What does it mean when a house is listed as contingent?", None),  # "house" does not keep "hours"
    # the same words where the question depends on them, or an aside half kept: they must stay
    ("I have a 2012 Subaru Outback. how often should I replace the timing belt",
     "How often should I replace the timing belt?", "dropped: 2012"),
    ("im 5 minutes late, can i still board", "Can I still board?", "dropped: 5"),
    ("im 30 weeks pregnant, can i fly", "Can I fly?", "dropped: 30"),
    ("my son is 4 feet tall, can he ride the rollercoaster", "Can my son ride the rollercoaster?", "dropped: 4"),
    ("is chicken safe if left out for 3 hours", "Is chicken safe?", "dropped: 3"),
    ("my broadband has been down for 3 days, what do i do", "What do I do about my broadband?", "dropped: 3"),
    ("if ive had a cough for 3 weeks should i see a doctor", "Should I see a doctor?", "dropped: 3"),
    ("why does my wifi not work, nothing i try works", "Why does my wifi work?", "dropped: negation"),
    ("how long does it take, i have been waiting for 3 hours",
     "How long does it take if I have been waiting for hours?", "dropped: 3"),
    ("what should i get my mom for her birthday, im 12", "What should I get my mom for her birthday? I'm 13.",
     "dropped: 12"),
]


@pytest.mark.parametrize("question, rewrite, verdict", ASIDE_CASES)
def test_asides_may_go_whole_and_nothing_else(question, rewrite, verdict):
    assert change_reason(question, rewrite) == verdict


@pytest.mark.parametrize("text, aside", [
    ("how do i chnage my email? ive been using ur app for like 2 years now", "been using ur app for like 2 years now"),
    ("My son's 4 and he won't eat vegetables", "my son's 4"),
    ("Nothing seems to help, what else can I try", "nothing seems to help"),
    ("how far is the moon idk", "idk"),
])
def test_aside_spans(text, aside):
    assert [text.lower()[a:b] for a, b in aside_spans(text)] == [aside]
