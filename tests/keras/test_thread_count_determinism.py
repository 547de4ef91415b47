"""Which results are bitwise independent of the engine's thread count (README,
"Guarantees"): dense layers, elementwise ops, dropout, batch normalization and the
optimizers split their work so that every element is computed by the same code in the
same order whatever the split. (Convolution kernel gradients and recurrent weight
gradients sum per-shard partials whose number follows the thread count: equal to ~1e-7
relative across thread counts, bitwise for a given count.)"""

import os
import subprocess
import sys
import textwrap

import numpy as np

_TRAIN = textwrap.dedent(
    """
    import sys
    import numpy as np
    from keras.layers import Activation, BatchNormalization, Dense, Dropout
    from keras.models import Sequential
    np.random.seed(0)
    m = Sequential([Dense(512, input_dim=300), BatchNormalization(), Activation('relu'),
                    Dropout(0.3), Dense(10, activation='softmax')])
    m.compile('rmsprop', 'categorical_crossentropy')
    x = np.random.rand(512, 300).astype('float32')
    y = np.eye(10)[np.random.randint(10, size=512)]
    m.fit(x, y, batch_size=128, nb_epoch=2, verbose=0)
    np.savez(sys.argv[1], m.predict(x), *m.get_weights())
    """
)


_TRAIN_EMBEDDING = textwrap.dedent(
    """
    import sys
    import numpy as np
    from keras.layers import Dense, Embedding, Flatten
    from keras.models import Sequential
    np.random.seed(0)
    # 128 x 40 picks of 64 floats: the gather and its gradient split across threads
    m = Sequential([Embedding(500, 64, input_length=40), Flatten(),
                    Dense(3, activation='softmax')])
    m.compile('adam', 'categorical_crossentropy')
    x = np.random.randint(0, 50, size=(256, 40))  # few rows: many repeated picks
    y = np.eye(3)[np.random.randint(3, size=256)]
    m.fit(x, y, batch_size=128, nb_epoch=2, verbose=0)
    np.savez(sys.argv[1], m.predict(x), *m.get_weights())
    """
)


def _train(tmp_path, threads, script=_TRAIN):
    out = str(tmp_path / ("w%d.npz" % threads))
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    proc = subprocess.run(
        [sys.executable, "-c", script, out],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout.decode("utf-8", "replace")
    return np.load(out)


def test_dense_batchnorm_dropout_training_is_bitwise_the_same_on_one_and_two_threads(tmp_path):
    one, two = _train(tmp_path, 1), _train(tmp_path, 2)
    assert one.files == two.files
    for name in one.files:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)


def test_embedding_training_is_bitwise_the_same_on_one_and_two_threads(tmp_path):
    one = _train(tmp_path, 1, _TRAIN_EMBEDDING)
    two = _train(tmp_path, 2, _TRAIN_EMBEDDING)
    assert one.files == two.files
    for name in one.files:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)
