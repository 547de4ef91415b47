"""Keras 1 `keras.layers.wrappers`: `Wrapper`, `TimeDistributed`, `Bidirectional`."""

import copy

from .. import backend as K
from ..engine.topology import Container, InputSpec, Layer, distinct_objects, merged_config
from ..utils.generic_utils import custom_object_scope

__all__ = ["Wrapper", "TimeDistributed", "Bidirectional"]


class Wrapper(Layer):
    """Abstract wrapper base class: holds an inner `layer` and shares its weights."""

    def __init__(self, layer, **kwargs):
        self.layer = layer
        self.uses_learning_phase = getattr(layer, "uses_learning_phase", False)
        super().__init__(**kwargs)

    def build(self, input_shape=None):
        self.built = True

    @property
    def trainable_weights(self):
        return self.layer.trainable_weights if getattr(self, "trainable", True) else []

    @trainable_weights.setter
    def trainable_weights(self, weights):
        pass

    @property
    def non_trainable_weights(self):
        if getattr(self, "trainable", True):
            return self.layer.non_trainable_weights
        return self.layer.trainable_weights + self.layer.non_trainable_weights

    @non_trainable_weights.setter
    def non_trainable_weights(self, weights):
        pass

    def _items(self, kind):
        """The wrapper's updates or losses (kind): those it recorded for the inner
        layer's calls on its behalf (keyed on the wrapper's inputs), and the inner
        layer's own; of an inner container only its unconditional ones, as its keyed
        ones belong to its own inputs."""
        items = []
        for recorded in (getattr(self, "_per_input_" + kind, None) or {}).values():
            items += recorded
        if isinstance(self.layer, Container):
            items += getattr(self.layer, "get_" + kind + "_for")(None)
        else:
            items += getattr(self.layer, kind, [])
        return distinct_objects(items)

    @property
    def updates(self):
        return self._items("updates")

    def get_updates_for(self, inputs):
        return self._with_inner("updates", inputs)

    @property
    def losses(self):
        return self._items("losses")

    @losses.setter
    def losses(self, value):
        pass

    def get_losses_for(self, inputs):
        return self._with_inner("losses", inputs)

    def _inner_layers(self):
        return [self.layer]

    def _with_inner(self, kind, inputs):
        """The wrapper's own ``kind`` ('updates' / 'losses') for ``inputs``; for None
        (the unconditional ones) also those of its inner layers."""
        items = self._per_input(kind, inputs)
        if inputs is None:
            for layer in self._inner_layers():
                items = items + getattr(layer, "get_%s_for" % kind)(None)
        return items

    @property
    def constraints(self):
        return getattr(self.layer, "constraints", {})

    @constraints.setter
    def constraints(self, value):
        pass

    def get_weights(self):
        return self.layer.get_weights()

    def set_weights(self, weights):
        self.layer.set_weights(weights)

    def get_config(self):
        return merged_config(
            super().get_config(),
            {"layer": {"class_name": self.layer.__class__.__name__, "config": self.layer.get_config()}},
        )

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        from ..utils.layer_utils import layer_from_config

        config = dict(config)
        layer = layer_from_config(config.pop("layer"), custom_objects=custom_objects, safe_mode=safe_mode)
        return cls(layer, **config)


class TimeDistributed(Wrapper):
    """Applies a layer to every temporal slice of an input (at least 3D; dimension 1
    is time).

    # Example

    ```python
        model = Sequential()
        model.add(TimeDistributed(Dense(8), input_shape=(10, 16)))
        # now model.output_shape == (None, 10, 8)
    ```
    """

    def __init__(self, layer, **kwargs):
        self.supports_masking = True
        super().__init__(layer, **kwargs)

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                f"Layer {self.name} (TimeDistributed) expects an input of rank >= 3, "
                f"got shape {tuple(input_shape)}"
            )
        self.input_spec = [InputSpec(shape=tuple(input_shape))]
        child_input_shape = (input_shape[0],) + tuple(input_shape[2:])
        if not self.layer.built:
            self.layer.build(child_input_shape)
            self.layer.built = True
        super().build()

    def get_output_shape_for(self, input_shape):
        child_input_shape = (input_shape[0],) + tuple(input_shape[2:])
        child_output_shape = self.layer.get_output_shape_for(child_input_shape)
        timesteps = input_shape[1]
        return (child_output_shape[0], timesteps) + tuple(child_output_shape[1:])

    def call(self, X, mask=None):
        input_shape = K.int_shape(X)
        timesteps = input_shape[1]
        if timesteps is None:
            if input_shape[0] is None:
                raise ValueError(
                    f"Layer {self.name} (TimeDistributed) needs a known number of timesteps or batch size, "
                    f"got input shape {input_shape}"
                )
        X2 = K.reshape(X, (-1,) + tuple(input_shape[2:]))
        y = self.layer.call(X2)
        # the inner call's updates (BatchNormalization's moving averages, of an inner
        # model's too) and losses belong to this call: record them keyed on X
        self.add_update(self.layer.get_updates_for(X2), X)
        self.add_loss(self.layer.get_losses_for(X2), X)
        output_shape = self.get_output_shape_for(input_shape)
        if timesteps is None:
            y = K.reshape(y, (input_shape[0], -1) + tuple(output_shape[2:]))
        else:
            y = K.reshape(y, (-1, timesteps) + tuple(output_shape[2:]))
        # the inner layer's activity regularizer (applied by its `__call__`, which
        # this does not go through), as Keras 1.2.2's TimeDistributed did
        if getattr(self.layer, "activity_regularizer", None) is not None:
            self.add_loss(self.layer.activity_regularizer(y), X)
        return y


class Bidirectional(Wrapper):
    """Bidirectional wrapper for RNNs.

    # Arguments
        layer: a `Recurrent` instance.
        merge_mode: how forward and backward outputs are combined: one of 'sum',
            'mul', 'concat', 'ave', None (None returns a list of both outputs).

    # Example

    ```python
        model = Sequential()
        model.add(Bidirectional(LSTM(10, return_sequences=True), input_shape=(5, 10)))
        model.add(Bidirectional(LSTM(10)))
        model.add(Dense(5))
        model.add(Activation('softmax'))
    ```
    """

    def __init__(self, layer, merge_mode="concat", weights=None, **kwargs):
        if merge_mode not in ["sum", "mul", "ave", "concat", None]:
            raise ValueError(
                'Invalid merge mode. Merge mode should be one of {"sum", "mul", "ave", "concat", None}'
            )
        self.forward_layer = copy.copy(layer)
        config = layer.get_config()
        config["go_backwards"] = not config["go_backwards"]
        # the config names the layer's functions (a user activation among them): the
        # clone resolves those names to the live functions of the layer it copies
        live = {
            f.__name__: f
            for f in vars(layer).values()
            if callable(f) and isinstance(getattr(f, "__name__", None), str)
        }
        with custom_object_scope(live):
            self.backward_layer = layer.__class__.from_config(config)
        self.forward_layer.name = "forward_" + self.forward_layer.name
        self.backward_layer.name = "backward_" + self.backward_layer.name
        self.merge_mode = merge_mode
        if weights:
            nw = len(weights)
            self.forward_layer.initial_weights = weights[: nw // 2]
            self.backward_layer.initial_weights = weights[nw // 2 :]
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.supports_masking = True
        super().__init__(layer, **kwargs)

    def get_weights(self):
        return self.forward_layer.get_weights() + self.backward_layer.get_weights()

    def set_weights(self, weights):
        nw = len(weights)
        self.forward_layer.set_weights(weights[: nw // 2])
        self.backward_layer.set_weights(weights[nw // 2 :])

    def get_output_shape_for(self, input_shape):
        if self.merge_mode in ["sum", "ave", "mul"]:
            return self.forward_layer.get_output_shape_for(input_shape)
        elif self.merge_mode == "concat":
            shape = list(self.forward_layer.get_output_shape_for(input_shape))
            shape[-1] *= 2
            return tuple(shape)
        elif self.merge_mode is None:
            return [self.forward_layer.get_output_shape_for(input_shape)] * 2

    def call(self, X, mask=None):
        Y = self.forward_layer.call(X, mask)
        Y_rev = self.backward_layer.call(X, mask)
        # both directions' updates (stateful states) and losses for X belong to this call
        for layer in (self.forward_layer, self.backward_layer):
            self.add_update(layer.get_updates_for(X), X)
            self.add_loss(layer.get_losses_for(X), X)
        if self.return_sequences:
            Y_rev = K.reverse(Y_rev, 1)
        if self.merge_mode == "concat":
            return K.concatenate([Y, Y_rev])
        elif self.merge_mode == "sum":
            return Y + Y_rev
        elif self.merge_mode == "ave":
            return (Y + Y_rev) / 2
        elif self.merge_mode == "mul":
            return Y * Y_rev
        elif self.merge_mode is None:
            return [Y, Y_rev]

    def reset_states(self):
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def build(self, input_shape):
        self.forward_layer.build(input_shape)
        self.forward_layer.built = True
        self.backward_layer.build(input_shape)
        self.backward_layer.built = True
        self.built = True

    def compute_mask(self, input, mask):
        if self.return_sequences:
            if not self.merge_mode:
                return [mask, mask]
            return mask
        return None

    @property
    def trainable_weights(self):
        if getattr(self.forward_layer, "trainable_weights", None) and getattr(self, "trainable", True):
            return self.forward_layer.trainable_weights + self.backward_layer.trainable_weights
        return []

    @trainable_weights.setter
    def trainable_weights(self, weights):
        pass

    @property
    def non_trainable_weights(self):
        return self.forward_layer.non_trainable_weights + self.backward_layer.non_trainable_weights

    @non_trainable_weights.setter
    def non_trainable_weights(self, weights):
        pass

    @property
    def updates(self):
        return getattr(self.forward_layer, "updates", []) + getattr(self.backward_layer, "updates", [])

    @property
    def losses(self):
        return getattr(self.forward_layer, "losses", []) + getattr(self.backward_layer, "losses", [])

    @losses.setter
    def losses(self, value):
        pass

    def _inner_layers(self):
        return [self.forward_layer, self.backward_layer]

    @property
    def constraints(self):
        c = {}
        c.update(getattr(self.forward_layer, "constraints", {}))
        c.update(getattr(self.backward_layer, "constraints", {}))
        return c

    @constraints.setter
    def constraints(self, value):
        pass

    def get_config(self):
        return merged_config(super().get_config(), {"merge_mode": self.merge_mode})
