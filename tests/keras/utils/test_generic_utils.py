"""keras.utils.generic_utils: Progbar text (byte for byte), identifier lookup, custom
objects, function serialisation.
"""

import json
import time

import pytest

from keras.utils import generic_utils
from keras.utils.generic_utils import (
    CustomObjectScope,
    Progbar,
    custom_object_scope,
    func_dump,
    func_load,
    get_custom_objects,
    get_from_module,
    make_tuple,
)

# ---------------------------------------------------------------------------------------
# Progbar


class Clock:
    """A fake time.time()."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock(1000.0)
    monkeypatch.setattr(time, "time", c)
    return c


def test_progbar_verbose1_frames_byte_for_byte(clock, capsys):
    bar = Progbar(60000)
    clock.now = 1000.5
    bar.update(128, [("loss", 0.6931), ("acc", 0.5)])
    frame1 = "\r  128/60000 [..............................] - ETA: 233s - loss: 0.6931 - acc: 0.5000"
    assert capsys.readouterr().out == frame1
    assert len(frame1) - 1 == 85

    # 20 ms later: throttled, nothing printed, but the values still count
    clock.now = 1000.52
    bar.update(256, [("loss", 0.5), ("acc", 0.75)])
    assert capsys.readouterr().out == ""

    clock.now = 1000.6
    bar.update(384, [("loss", 0.4), ("acc", 1.0)])
    # one character shorter than frame 1 ("93s" vs "233s"): padded with one space
    frame2 = (
        "\b" * 85 + "\r  384/60000 [..............................] - ETA: 93s - loss: 0.5310 - acc: 0.7500 "
    )
    assert capsys.readouterr().out == frame2

    clock.now = 1006.3
    bar.update(30000, [("loss", 0.3), ("acc", 0.8)])
    frame3 = (
        "\b" * 84 + "\r30000/60000 [==============>...............] - ETA: 6s - loss: 0.3030 - acc: 0.7994 "
    )
    assert capsys.readouterr().out == frame3

    # the final update: only 0 s after the previous one, drawn because forced
    clock.now = 1012.9
    bar.update(60000, [("loss", 0.25), ("acc", 0.9)], force=True)
    frame4 = (
        "\b" * 83 + "\r60000/60000 [==============================] - 12s - loss: 0.2765 - acc: 0.8497    \n"
    )
    assert capsys.readouterr().out == frame4


def test_progbar_final_update_not_forced_stops_short(clock, capsys):
    bar = Progbar(10)
    clock.now = 1001.0
    bar.update(5)
    assert capsys.readouterr().out == "\r 5/10 [==============>...............] - ETA: 1s"
    clock.now = 1001.01  # within 0.05 s of the previous redraw
    bar.update(10)
    assert capsys.readouterr().out == ""  # no final bar and no newline (Keras 1's evaluate)


def test_progbar_bar_drawing_rule(clock, capsys):
    # filled = int(30 * cur / target): (filled - 1) '=' then '>' ('=' when complete)
    cases = {
        0: "\r 0/90 [..............................] - ETA: 0s",
        2: "\r 2/90 [..............................] - ETA: 0s",
        3: "\r 3/90 [>.............................] - ETA: 0s",
        6: "\r 6/90 [=>............................] - ETA: 0s",
        89: "\r89/90 [============================>.] - ETA: 0s",
        90: "\r90/90 [==============================] - 0s\n",
    }
    for current, expected in cases.items():
        bar = Progbar(90)
        bar.update(current)
        assert capsys.readouterr().out == expected


def test_progbar_count_fields_use_the_digits_of_target(clock, capsys):
    for target, expected in [
        (9, "\r1/9 ["),
        (10, "\r 1/10 ["),
        (100, "\r  1/100 ["),
        (1000, "\r   1/1000 ["),
    ]:
        Progbar(target).update(1)
        assert capsys.readouterr().out.startswith(expected)


def test_progbar_value_formats_verbose1(clock, capsys):
    bar = Progbar(4)
    clock.now = 1003.7
    bar.update(
        4,
        [("big", 12.345678), ("small", 0.0005), ("neg", -0.5), ("tiny_neg", -0.0005), ("edge", 0.001)],
    )
    assert capsys.readouterr().out == (
        "\r4/4 [==============================] - 3s - big: 12.3457 - small: 5.0000e-04"
        " - neg: -0.5000 - tiny_neg: -5.0000e-04 - edge: 1.0000e-03\n"
    )


def test_progbar_verbose2_one_line_at_the_end(clock, capsys):
    bar = Progbar(100, verbose=2)
    clock.now = 1001.0
    bar.update(50, [("loss", 0.5), ("acc", 0.6)])
    assert capsys.readouterr().out == ""
    clock.now = 1003.99
    bar.update(100, [("loss", 0.3), ("acc", 0.8)], force=True)
    # no abs() in verbose 2: negative values print in exponent form
    assert capsys.readouterr().out == "3s - loss: 0.4000 - acc: 0.7000\n"

    bar = Progbar(10, verbose=2)
    bar.update(10, [("loss", -0.5), ("x", 0.002)])
    assert capsys.readouterr().out == "0s - loss: -5.0000e-01 - x: 0.0020\n"


def test_progbar_verbose0_prints_nothing(clock, capsys):
    bar = Progbar(10, verbose=0)
    bar.update(5, [("loss", 1.0)])
    bar.update(10, [("loss", 1.0)], force=True)
    assert capsys.readouterr().out == ""


def test_progbar_running_average_weighted_by_batch_size(clock, capsys):
    bar = Progbar(100, verbose=2)
    bar.add(10, [("loss", 1.0)])
    bar.add(30, [("loss", 0.0)])
    bar.add(60, [("loss", 0.5)])
    assert bar.seen_so_far == 100
    assert bar.sum_values["loss"] == [10 * 1.0 + 30 * 0.0 + 60 * 0.5, 100]
    assert capsys.readouterr().out == "0s - loss: 0.4000\n"


def test_progbar_key_order_is_first_seen(clock, capsys):
    bar = Progbar(2, verbose=2)
    bar.add(1, [("loss", 1.0), ("acc", 0.5)])
    bar.add(1, [("val_loss", 2.0), ("loss", 1.0)])
    assert capsys.readouterr().out == "0s - loss: 1.0000 - acc: 0.5000 - val_loss: 2.0000\n"


def test_progbar_throttled_update_does_no_drawing(clock, monkeypatch, capsys):
    bar = Progbar(100000)
    draws = []
    real_draw = bar._draw
    monkeypatch.setattr(bar, "_draw", lambda *a: (draws.append(a), real_draw(*a)))
    for i in range(1, 1001):
        bar.update(i * 10, [("loss", 0.5)])
    assert len(draws) == 1  # the clock never moved: only the first update draws
    clock.now += 0.06
    bar.update(10010, [("loss", 0.5)])
    assert len(draws) == 2
    capsys.readouterr()


def test_progbar_cost_is_small():
    # a throttled update must cost a few microseconds (the budget is 1% of an epoch)
    bar = Progbar(10**9, verbose=1, interval=3600)
    bar.update(1, [("loss", 0.5), ("acc", 0.5)], force=True)
    values = [("loss", 0.5), ("acc", 0.5)]
    n = 20000
    t0 = time.perf_counter()
    for i in range(2, n + 2):
        bar.update(i * 32, values)
    per_call = (time.perf_counter() - t0) / n
    assert per_call < 50e-6, per_call


# ---------------------------------------------------------------------------------------
# get_from_module / custom objects


class Thing:
    def __init__(self, a=1, b=2):
        self.a = a
        self.b = b


def thing_fn():
    return "fn"


MODULE = {"Thing": Thing, "thing_fn": thing_fn}


def test_get_from_module_string():
    assert get_from_module("Thing", MODULE, "thing") is Thing
    t = get_from_module("Thing", MODULE, "thing", instantiate=True)
    assert isinstance(t, Thing) and (t.a, t.b) == (1, 2)
    t = get_from_module("Thing", MODULE, "thing", instantiate=True, kwargs={"a": 5})
    assert (t.a, t.b) == (5, 2)


def test_get_from_module_unknown_raises_value_error():
    with pytest.raises(ValueError, match=r"^Invalid optimizer: nope$"):
        get_from_module("nope", MODULE, "optimizer")
    with pytest.raises(ValueError, match=r"^Invalid thing: Nope$"):
        get_from_module({"name": "Nope", "a": 1}, MODULE, "thing")


def test_get_from_module_dicts():
    config = {"name": "Thing", "a": 3}
    t = get_from_module(config, MODULE, "thing")
    assert isinstance(t, Thing) and (t.a, t.b) == (3, 2)
    assert config == {"name": "Thing", "a": 3}  # the caller's dict is left alone
    t = get_from_module({"class_name": "Thing", "config": {"b": 7}}, MODULE, "thing")
    assert (t.a, t.b) == (1, 7)


def test_get_from_module_passes_other_objects_through():
    obj = Thing()
    assert get_from_module(obj, MODULE, "thing") is obj
    assert get_from_module(thing_fn, {}, "thing") is thing_fn
    assert get_from_module(None, MODULE, "thing") is None


def test_custom_objects_are_checked_first_and_scopes_restore():
    class Other:
        pass

    assert get_custom_objects() == {}
    with custom_object_scope({"Thing": Other}, {"Extra": Other}) as scope:
        assert isinstance(scope, CustomObjectScope)
        assert get_from_module("Thing", MODULE, "thing") is Other
        assert get_from_module("Extra", MODULE, "thing") is Other
        with CustomObjectScope({"Extra": Thing}):
            assert get_from_module("Extra", MODULE, "thing") is Thing
        assert get_from_module("Extra", MODULE, "thing") is Other
    assert get_from_module("Thing", MODULE, "thing") is Thing
    with pytest.raises(ValueError):
        get_from_module("Extra", MODULE, "thing")

    get_custom_objects()["Extra"] = Other  # the live table registers globally
    try:
        assert get_from_module("Extra", MODULE, "thing") is Other
    finally:
        del get_custom_objects()["Extra"]


def test_make_tuple():
    assert make_tuple(1, "a", None) == (1, "a", None)
    assert make_tuple() == ()


# ---------------------------------------------------------------------------------------
# func_dump / func_load


def test_func_dump_load_round_trip_with_defaults():
    def f(x, y=3, z=4):
        return x * y + z

    code, defaults, closure = func_dump(f)
    assert isinstance(code, str) and defaults == (3, 4) and closure is None
    g = func_load(code, defaults=defaults)
    assert g(2) == 10 and g(2, 1, 0) == 2 and g.__name__ == "f"


def test_func_load_through_json_with_closure():
    scale = 2.5
    offset = 1

    def h(x, k=2):
        return x * scale * k + offset

    dumped = json.loads(json.dumps(func_dump(h)))  # tuples come back as lists
    g = func_load(dumped)
    assert g(2.0) == h(2.0) == 11.0
    assert g(1.0, k=1) == 3.5


def test_func_load_default_globals_and_custom_globals():
    f = lambda x: np.sum(x)  # noqa: F821 (resolved in the globals given to func_load)
    g = func_load(func_dump(f))  # generic_utils' globals have numpy as np
    assert g([1, 2, 3]) == 6
    assert g.__globals__ is vars(generic_utils)
    g2 = func_load(func_dump(f), globs={"np": type("N", (), {"sum": staticmethod(lambda x: -1)})})
    assert g2([1]) == -1
