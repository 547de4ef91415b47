"""Real data: the Keras 1 character-level text generation recipe (examples/lstm_text_generation.py:
maxlen 40, step 3, LSTM(128), Dense softmax, RMSprop lr 0.01, batch 128) on the first
200,000 characters of Nietzsche lowers the training loss from ~ln(alphabet) below 2.2
within 3 epochs, and `sample()`-style generation prints text.

Measured (2 vCPUs): ~57 s per epoch of 66,654 sequences; the loss is ~2.29 after one
epoch, so this test takes about two minutes.
"""

import numpy as np

from conftest import examples_module, shared_data


def test_char_lstm_learns_nietzsche(capsys):
    recipe = examples_module("lstm_text_generation")
    text = open(shared_data("text/nietzsche.txt"), encoding="utf-8").read().lower()[:200000]
    chars = sorted(set(text))
    char_indices = {c: i for i, c in enumerate(chars)}
    maxlen = 40
    X, y = recipe.vectorize(text, char_indices, maxlen, step=3)

    np.random.seed(1337)
    model = recipe.build_model(maxlen, len(chars))

    losses = []
    for _ in range(3):
        h = model.fit(X, y, batch_size=128, nb_epoch=1, verbose=0)
        losses.append(h.history["loss"][-1])
        if losses[-1] < 2.2:
            break
    assert losses[-1] < 2.2, losses

    seed = text[1000 : 1000 + maxlen]
    generated = seed
    for _ in range(60):
        generated += chars[recipe.next_char_index(model, generated[-maxlen:], char_indices, 0.5)]
    print(generated)
    assert len(generated) == maxlen + 60
    assert "Epoch" not in capsys.readouterr().out
