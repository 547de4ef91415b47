"""bAbI-style question answering data for the babi_rnn / babi_memnn examples.

`load_babi(task, ...)` reads Facebook's bAbI tasks from the Keras cache when
`~/.keras/datasets/babi-tasks-v1-2.tar.gz` is there (Keras 1's file name for
tasks_1-20_v1-2.tar.gz); otherwise it generates stories of the same two tasks in the
same text format, with this module's own small world of people, places and objects:

- task 1 ("single supporting fact"): people move between places; "Where is Mary?"
  is answered by the place of her last move.
- task 2 ("two supporting facts"): people also pick up objects; "Where is the milk?"
  is answered by the place of the person holding it.

Each story is returned as (story tokens, question tokens, answer word), the form the
Keras 1 examples build before vectorizing.
"""

import os
import re
import tarfile
from functools import reduce

import numpy as np

PEOPLE = ["Mary", "John", "Sandra", "Daniel"]
PLACES = ["bathroom", "hallway", "kitchen", "garden", "office", "bedroom"]
OBJECTS = ["milk", "football", "apple"]
VERBS = ["moved to", "went to", "journeyed to", "travelled to", "went back to"]

TASK_FILES = {
    1: "tasks_1-20_v1-2/en/qa1_single-supporting-fact_{}.txt",
    2: "tasks_1-20_v1-2/en/qa2_two-supporting-facts_{}.txt",
}


def tokenize(sentence):
    """Words and punctuation marks: 'Where is Mary?' -> ['Where', 'is', 'Mary', '?']."""
    return re.findall(r"\w+|[^\w\s]", sentence)


def parse_stories(lines):
    """Parses bAbI lines ("<id> <sentence>" and "<id> <question>\\t<answer>\\t<ids>") into
    (story sentences before the question, question tokens, answer) triples."""
    data, story = [], []
    for line in lines:
        nid, text = line.strip().split(" ", 1)
        if int(nid) == 1:
            story = []
        if "\t" in text:
            question, answer, _supporting = text.split("\t")
            data.append(([s for s in story if s], tokenize(question), answer))
            story.append([])
        else:
            story.append(tokenize(text))
    return [(reduce(lambda a, b: a + b, sents, []), q, a) for sents, q, a in data]


def generate_lines(task, nb_stories, rng):
    """bAbI-format text lines of `nb_stories` generated stories of task 1 or 2."""
    lines = []
    for _ in range(nb_stories):
        place, holder, nid = {}, {}, 0

        def say(text):
            nonlocal nid
            nid += 1
            lines.append("%d %s" % (nid, text))
            return nid

        for _ in range(4):
            for _ in range(2):
                who = PEOPLE[rng.randint(len(PEOPLE))]
                if task == 2 and who in place and rng.rand() < 0.4:
                    free = [o for o in OBJECTS if o not in holder]
                    if free:
                        obj = free[rng.randint(len(free))]
                        holder[obj] = (who, say("%s picked up the %s there." % (who, obj)))
                        continue
                where = PLACES[rng.randint(len(PLACES))]
                place[who] = (where, say("%s %s the %s." % (who, VERBS[rng.randint(len(VERBS))], where)))
            if task == 1:
                who = sorted(place)[rng.randint(len(place))]
                say("Where is %s? \t%s\t%d" % (who, place[who][0], place[who][1]))
            elif holder:
                obj = sorted(holder)[rng.randint(len(holder))]
                who, got = holder[obj]
                say("Where is the %s? \t%s\t%d %d" % (obj, place[who][0], got, place[who][1]))
    return lines


def load_babi(task=1, nb_train=1000, nb_test=1000, seed=1337):
    """(train, test) lists of (story, question, answer) for bAbI task 1 or 2: the real
    tasks from the Keras cache when present (all their stories), else generated ones."""
    cached = os.path.join(os.path.expanduser("~"), ".keras", "datasets", "babi-tasks-v1-2.tar.gz")
    if os.path.exists(cached):
        with tarfile.open(cached) as tar:
            out = []
            for split in ("train", "test"):
                raw = tar.extractfile(TASK_FILES[task].format(split)).read().decode("utf-8")
                out.append(parse_stories(raw.splitlines()))
        print("bAbI task %d read from %s" % (task, cached))
        return out[0], out[1]
    rng = np.random.RandomState(seed)
    per_story = 4  # questions per generated story
    train = parse_stories(generate_lines(task, -(-nb_train // per_story), rng))[:nb_train]
    test = parse_stories(generate_lines(task, -(-nb_test // per_story), rng))[:nb_test]
    print("bAbI task %d: %d generated training and %d test stories" % (task, len(train), len(test)))
    return train, test


def vectorize(data, word_idx, story_maxlen, query_maxlen):
    """Index sequences (padded at the front, as Keras 1's pad_sequences) and one-hot answers
    of width len(word_idx) + 1 (index 0 is the padding)."""
    from keras.preprocessing.sequence import pad_sequences

    X = [[word_idx[w] for w in story] for story, _, _ in data]
    Xq = [[word_idx[w] for w in q] for _, q, _ in data]
    Y = np.zeros((len(data), len(word_idx) + 1))
    for i, (_, _, answer) in enumerate(data):
        Y[i, word_idx[answer]] = 1
    return pad_sequences(X, maxlen=story_maxlen), pad_sequences(Xq, maxlen=query_maxlen), Y


def vocabulary(train, test):
    """Sorted vocabulary, word -> index (from 1), and the longest story and question."""
    vocab = sorted(reduce(lambda a, b: a | b, (set(s + q + [a]) for s, q, a in train + test)))
    word_idx = dict((w, i + 1) for i, w in enumerate(vocab))
    story_maxlen = max(len(s) for s, _, _ in train + test)
    query_maxlen = max(len(q) for _, q, _ in train + test)
    return vocab, word_idx, story_maxlen, query_maxlen
