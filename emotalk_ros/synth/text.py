"""Deterministic English sentence generator for the synthetic corpus.

Everything is drawn from a ``numpy.random.Generator`` passed in, so the same seed gives
the same text on every machine (no system dictionary is consulted). The built-in
vocabulary is chosen so that every ARPAbet phone of :data:`emotalk_ros.phones.PHONES`
occurs often, including the rare ones (/zh/ measure, /oy/ boy, /uh/ book, /th/ /dh/);
templates produce statements, questions, exclamations, numbers, times, money, names
and lists.
"""

from __future__ import annotations

import re
from typing import List, Sequence

import numpy as np

NAMES = (
    "Peter", "Paula", "Bob", "Betty", "Mia", "Max", "Emma", "Oliver", "Sophia", "Noah", "Liam",
    "Olivia", "Ava", "Ethan", "Theo", "Thelma", "Judy", "George", "Joshua", "Charlotte", "Chloe",
    "Zoe", "Zachary", "Vivian", "Victor", "Yusuf", "Yolanda", "Hugo", "Hannah", "Ingrid", "Igor",
    "Ruth", "Rachel", "Marcus", "Martha", "Nathan", "Nora", "Walter", "Wendy", "Gwen", "Kevin",
    "Karen", "Frank", "Fiona", "Luke", "Lucy", "Sean", "Shirley", "Douglas", "Dorothy", "Arthur",
    "Anne", "Ursula", "Owen", "Isaac", "Eileen", "Boyd", "Joyce", "Roy", "Floyd", "Jean", "Jacques",
    "Brooke", "Cooper", "Quentin", "Xavier", "Timothy", "Thomas", "Heather", "Matthew", "Elizabeth",
)
PLACES = (
    "Boston", "Chicago", "Paris", "Tokyo", "Berlin", "Madrid", "Seattle", "Houston", "Toronto",
    "Sydney", "Glasgow", "Dublin", "Lisbon", "Oslo", "Cairo", "Mumbai", "Beijing", "Vancouver",
    "the garage", "the market", "the kitchen", "the library", "the village", "the office",
    "the museum", "the harbour", "the mountains", "the beach", "the station", "the hospital",
    "the school", "the church", "the theatre", "the bakery", "the garden", "the bridge",
)
NOUNS = (
    "apple", "baby", "ball", "bath", "beach", "bear", "bed", "bell", "bird", "boat", "book", "boot",
    "bottle", "box", "boy", "bread", "bridge", "brush", "bucket", "butter", "button", "cake",
    "camera", "candle", "car", "carpet", "cat", "chair", "cheese", "cherry", "chicken", "child",
    "church", "clock", "cloud", "coat", "coin", "computer", "cookie", "cow", "cup", "cushion",
    "decision", "desk", "dinner", "doctor", "dog", "door", "dragon", "dream", "drum", "duck",
    "egg", "engine", "eye", "face", "farm", "father", "feather", "fence", "finger", "fire",
    "fish", "flag", "flower", "foot", "fork", "fox", "friend", "frog", "garage", "garden",
    "giant", "girl", "glass", "goat", "guitar", "hammer", "hand", "hat", "heart", "horse",
    "house", "island", "jacket", "jar", "jelly", "judge", "juice", "kettle", "key", "king",
    "kitchen", "kite", "knife", "ladder", "lamp", "leaf", "lemon", "letter", "lion", "machine",
    "map", "measure", "message", "milk", "mirror", "money", "monkey", "moon", "mother", "mouse",
    "mouth", "music", "nail", "needle", "nest", "night", "noise", "nose", "number", "ocean",
    "orange", "owl", "oyster", "paper", "parrot", "pencil", "pepper", "piano", "picture", "pig",
    "pillow", "pizza", "plane", "plate", "pocket", "potato", "pudding", "puppy", "queen",
    "question", "rabbit", "radio", "rain", "ring", "river", "road", "robot", "rock", "roof",
    "rope", "rose", "sandwich", "scarf", "school", "shadow", "sheep", "shell", "ship", "shoe",
    "singer", "sister", "snake", "song", "spoon", "star", "stone", "storm", "story", "sugar",
    "summer", "sun", "sweater", "table", "teacher", "teeth", "television", "thing", "thumb",
    "thunder", "ticket", "tiger", "toe", "tomato", "tooth", "towel", "tower", "toy", "train",
    "treasure", "tree", "truck", "umbrella", "uncle", "vase", "vision", "violin", "voice",
    "wagon", "wall", "watch", "water", "weather", "whale", "wheel", "window", "winter", "wolf",
    "woman", "wool", "world", "yacht", "yard", "yogurt", "zebra", "zipper", "zoo", "choice",
    "pleasure", "leisure", "massage", "collision", "beige sofa", "usual routine", "rouge",
)
ADJECTIVES = (
    "angry", "beautiful", "big", "bitter", "black", "blue", "bored", "brave", "bright", "broken",
    "brown", "busy", "calm", "careful", "casual", "cheap", "cheerful", "clean", "clever", "cold",
    "cozy", "crazy", "curious", "dark", "deep", "delicious", "dirty", "dizzy", "dry", "early",
    "easy", "empty", "enormous", "fancy", "fast", "fat", "few", "fine", "foolish", "free", "fresh",
    "friendly", "full", "funny", "gentle", "giant", "glad", "golden", "good", "gray", "great",
    "green", "happy", "hard", "heavy", "hollow", "huge", "hungry", "icy", "important", "jolly",
    "joyful", "juicy", "kind", "large", "late", "lazy", "little", "lonely", "long", "loud",
    "lovely", "lucky", "mighty", "modern", "muddy", "narrow", "nervous", "new", "nice", "noisy",
    "old", "orange", "pale", "perfect", "pink", "plain", "pleasant", "polite", "poor", "pretty",
    "proud", "purple", "quick", "quiet", "rare", "red", "rich", "rough", "round", "royal", "sad",
    "scary", "sharp", "shiny", "short", "shy", "silly", "slow", "small", "smooth", "soft",
    "sour", "strange", "strong", "sunny", "sweet", "tall", "thick", "thin", "thirsty", "tiny",
    "tired", "ugly", "unusual", "visual", "warm", "wet", "white", "wild", "wise", "wooden",
    "worried", "yellow", "young", "zealous",
)
# (base, past)
VERBS = (
    ("ask", "asked"), ("bake", "baked"), ("borrow", "borrowed"), ("bring", "brought"),
    ("build", "built"), ("buy", "bought"), ("call", "called"), ("carry", "carried"),
    ("catch", "caught"), ("change", "changed"), ("chase", "chased"), ("check", "checked"),
    ("choose", "chose"), ("clean", "cleaned"), ("climb", "climbed"), ("close", "closed"),
    ("cook", "cooked"), ("count", "counted"), ("cover", "covered"), ("cut", "cut"),
    ("draw", "drew"), ("drop", "dropped"), ("enjoy", "enjoyed"), ("explain", "explained"),
    ("feed", "fed"), ("fetch", "fetched"), ("find", "found"), ("fix", "fixed"),
    ("follow", "followed"), ("forget", "forgot"), ("grab", "grabbed"), ("guess", "guessed"),
    ("hide", "hid"), ("hold", "held"), ("hug", "hugged"), ("join", "joined"), ("judge", "judged"),
    ("keep", "kept"), ("kick", "kicked"), ("kiss", "kissed"), ("leave", "left"), ("lift", "lifted"),
    ("like", "liked"), ("lose", "lost"), ("love", "loved"), ("make", "made"), ("measure", "measured"),
    ("meet", "met"), ("miss", "missed"), ("move", "moved"), ("notice", "noticed"), ("open", "opened"),
    ("paint", "painted"), ("pick", "picked"), ("play", "played"), ("point at", "pointed at"),
    ("pull", "pulled"), ("push", "pushed"), ("put away", "put away"), ("reach", "reached"),
    ("read", "read"), ("remember", "remembered"), ("repair", "repaired"), ("sell", "sold"),
    ("send", "sent"), ("share", "shared"), ("shake", "shook"), ("show", "showed"), ("sing", "sang"),
    ("smell", "smelled"), ("spoil", "spoiled"), ("steal", "stole"), ("take", "took"),
    ("teach", "taught"), ("thank", "thanked"), ("throw", "threw"), ("touch", "touched"),
    ("visit", "visited"), ("wash", "washed"), ("watch", "watched"), ("wrap", "wrapped"),
    ("write", "wrote"), ("avoid", "avoided"), ("destroy", "destroyed"), ("push", "pushed"),
)
ADVERBS = (
    "slowly", "quickly", "quietly", "loudly", "carefully", "happily", "sadly", "angrily",
    "suddenly", "gently", "badly", "easily", "finally", "really", "usually", "casually",
    "politely", "proudly", "nervously", "boldly", "calmly", "eagerly", "gladly", "truly",
)
PREPOSITIONS = ("under", "behind", "beside", "near", "over", "inside", "outside", "above",
                "through", "across", "without", "with", "beneath", "toward")
TIMES = ("yesterday", "this morning", "last night", "on Monday", "on Thursday", "every weekend",
         "in the evening", "at midnight", "after lunch", "before breakfast", "last summer",
         "in autumn", "tomorrow", "right now", "this afternoon", "on Saturday")
INTERJECTIONS = ("Oh", "Wow", "Hey", "Well", "Look", "Oh no", "Hooray", "Oops", "Yes", "No",
                 "Ah", "Hmm", "Really", "Listen", "Wait", "Goodness", "Whoa", "Yikes", "Ouch")

TEMPLATES = (
    "The {adj} {noun} {past} the {noun2} {prep} {place}.",
    "{name} {past} a {adj} {noun} {time}.",
    "{name} and {name2} {past} the {noun} {adv}.",
    "Did {name} really {base} the {adj} {noun}?",
    "Why would anyone {base} a {noun} {prep} {place}?",
    "Where did you put the {adj} {noun}?",
    "Who {past} my {noun} {time}?",
    "Can you {base} the {noun} for me, please?",
    "{interj}, what a {adj} {noun}!",
    "{interj}! The {noun} is {adj}!",
    "I can't believe you {past} the {noun}!",
    "We need {num} {noun}s and a {adj} {noun2} by {clock}.",
    "The ticket costs {money}, and the train leaves at {clock}.",
    "In {year}, {name} moved to {place} with {num} {noun}s.",
    "There were {num} {adj} {noun}s {prep} {place} {time}.",
    "My {noun}, my {noun2}, and my {adj} {noun3} are {prep} {place}.",
    "{name} said, \"{interj}, I {past} the {noun} {adv}.\"",
    "If you {base} the {noun}, I will {base2} the {noun2}.",
    "Although it was {adj}, the {noun} {past} {adv}.",
    "Please don't {base} the {adj} {noun} {prep} {place}.",
    "It is {adj} to {base} a {noun} {time}, isn't it?",
    "Is the {noun} {adj} or {adj2}?",
    "{name} {adv} {past} the {noun}, then {past2} it {prep} {place}.",
    "The {ordinal} {noun} was {adj}, but the {noun2} was {adj2}.",
    "Call {name} at {phone} before {clock}.",
    "Honestly, the {noun} {prep} {place} was {adj} and {adj2}.",
    "You {past} the {noun} again? That's {adj}!",
    "How many {noun}s did {name} {base} {time}?",
    "Nobody {past} the {adj} {noun} {time}; it was {adj2}.",
    "Every {noun} needs a {adj} {noun2}, {name} thought.",
)
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
            "tenth", "twelfth", "twentieth")


def _pick(rng: np.random.Generator, seq: Sequence):
    return seq[int(rng.integers(len(seq)))]


def _fill(rng: np.random.Generator, template: str) -> str:
    n1, n2, n3 = (_pick(rng, NOUNS) for _ in range(3))
    v1, v2 = _pick(rng, VERBS), _pick(rng, VERBS)
    hour, minute = int(rng.integers(1, 13)), int(rng.choice([0, 5, 15, 20, 30, 45, 50]))
    fields = {
        "adj": _pick(rng, ADJECTIVES), "adj2": _pick(rng, ADJECTIVES),
        "noun": n1, "noun2": n2, "noun3": n3,
        "base": v1[0], "past": v1[1], "base2": v2[0], "past2": v2[1],
        "adv": _pick(rng, ADVERBS), "prep": _pick(rng, PREPOSITIONS), "place": _pick(rng, PLACES),
        "time": _pick(rng, TIMES), "name": _pick(rng, NAMES), "name2": _pick(rng, NAMES),
        "interj": _pick(rng, INTERJECTIONS), "ordinal": _pick(rng, ORDINALS),
        "num": str(int(rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 15, 17, 20, 24, 36, 99, 100,
                                   250, 1000]))),
        "clock": f"{hour}:{minute:02d}" if minute else f"{hour} o'clock",
        "money": f"{int(rng.integers(1, 90))} dollars and {int(rng.integers(1, 99))} cents",
        "year": str(int(rng.integers(1890, 2031))),
        "phone": " ".join(str(int(d)) for d in rng.integers(0, 10, size=7)),
    }
    text = template.format(**fields)
    return re.sub(r"\b([Aa]) ([aeiouAEIOU])", r"\1n \2", text)  # a apple -> an apple


def make_sentence(rng: np.random.Generator) -> str:
    """One sentence (statement, question or exclamation), deterministic for ``rng``'s state."""
    return _fill(rng, _pick(rng, TEMPLATES))


def make_text(rng: np.random.Generator, n_sentences: int = 1) -> str:
    """``n_sentences`` sentences joined by spaces."""
    return " ".join(make_sentence(rng) for _ in range(max(1, int(n_sentences))))


def sentences(seed: int, n: int) -> List[str]:
    """``n`` sentences from a fresh generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    return [make_sentence(rng) for _ in range(n)]
