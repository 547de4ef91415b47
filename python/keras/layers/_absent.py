"""Layers whose family is not implemented yet: importable (so Keras 1 scripts import
cleanly), but constructing one raises NotImplementedError naming the layer and the
work that brings it."""


def absent(name, family):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "%s is not implemented yet in ferrokeras (it comes with the %s layers)" % (name, family)
        )

    return type(name, (), {"__init__": __init__, "__doc__": "Not implemented yet (%s layers)." % family})


def define(namespace, names, family):
    for n in names:
        namespace[n] = absent(n, family)
