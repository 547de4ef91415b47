//! The attributes the convolution family shares (strides, pads, dilation, the two
//! layouts) and its fusable bias/activation epilogue, parsed once for every op of the
//! family and, for strides and pads, for the pools.

use std::sync::Arc;

use crate::kernels::act::Act;
use crate::ops::epilogue::{bias_activate_last, col_sums_through, grad_through_into};
use crate::ops::{Attrs, Op, OpRef};
use crate::tensor::Value;
use crate::{Error, Result};

/// `N` positive integers (`strides`, `dilation`, `pool`), or the default.
pub(crate) fn positive<const N: usize>(
    a: &Attrs,
    op: &str,
    key: &str,
    default: [usize; N],
) -> Result<[usize; N]> {
    match a.ints_opt(key)? {
        None => Ok(default),
        Some(v) if v.len() == N && v.iter().all(|&s| s >= 1) => {
            Ok(std::array::from_fn(|i| v[i] as usize))
        }
        Some(v) => Err(Error::Value(format!(
            "{op}: '{key}' must be {N} positive integers, got {v:?}"
        ))),
    }
}

/// `pads`: `N` non-negative integers, (before, after) per spatial axis (top, bottom,
/// left, right in 2-D), default 0.
pub(crate) fn pads<const N: usize>(a: &Attrs, op: &str) -> Result<[usize; N]> {
    match a.ints_opt("pads")? {
        None => Ok([0; N]),
        Some(v) if v.len() == N && v.iter().all(|&s| s >= 0) => {
            Ok(std::array::from_fn(|i| v[i] as usize))
        }
        Some(v) => Err(Error::Value(format!(
            "{op}: 'pads' must be {N} non-negative integers ({}), got {v:?}",
            if N == 6 {
                "front, back, top, bottom, left, right"
            } else {
                "top, bottom, left, right"
            }
        ))),
    }
}

/// Which of the two spellings `choices` string attribute `key` has (absent: the
/// first): false for the first, true for the second.
pub(crate) fn second_of(a: &Attrs, op: &str, key: &str, choices: [&str; 2]) -> Result<bool> {
    match a.str_opt(key)?.as_deref() {
        None => Ok(false),
        Some(s) if s == choices[0] => Ok(false),
        Some(s) if s == choices[1] => Ok(true),
        Some(s) => Err(Error::Value(format!(
            "{op}: {key} must be '{}' or '{}', got '{s}'",
            choices[0], choices[1]
        ))),
    }
}

/// The registry entry of a channels-last op: `None` unless `name` is `op` with `layout`
/// `layouts[1]` (the channels-first file builds the rest), `Some(Err)` for a bad layout,
/// else the op `make` builds.
pub(crate) fn channels_last<T: Op + 'static>(
    name: &str,
    a: &Attrs,
    op: &str,
    layouts: [&str; 2],
    make: impl FnOnce() -> Result<T>,
) -> Option<Result<OpRef>> {
    if name != op {
        return None;
    }
    match second_of(a, op, "layout", layouts) {
        Err(e) => Some(Err(e)),
        Ok(false) => None,
        Ok(true) => Some(make().map(|t| Arc::new(t) as OpRef)),
    }
}

/// The bias and activation a convolution applies to each sample's output while it is
/// in cache: the `bias` (a last input, one value per output channel) and `activation`
/// attributes, which the fusion pass sets from a following `bias_add` along the channel
/// axis and relu/tanh/sigmoid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Epilogue {
    pub(crate) bias: bool,
    pub(crate) act: Act,
}

impl Epilogue {
    /// No bias, linear.
    pub(crate) const NONE: Epilogue = Epilogue {
        bias: false,
        act: Act::Linear,
    };

    pub(crate) fn from_attrs(a: &Attrs, op: &str) -> Result<Epilogue> {
        Ok(Epilogue {
            bias: a.bool("bias", false)?,
            act: Act::from_attrs(a, op)?,
        })
    }

    /// Whether anything runs after the products.
    pub(crate) fn any(self) -> bool {
        self.bias || self.act != Act::Linear
    }

    /// This epilogue ending in `act` (for `Op::with_activation`), if it is linear.
    pub(crate) fn with_activation(self, act: Act) -> Option<Epilogue> {
        (self.act == Act::Linear).then_some(Epilogue { act, ..self })
    }

    /// A bias along `axis` then `act` (for `Op::with_bias_activation`), if `axis` is
    /// the op's channel axis `channels` and there is no epilogue yet.
    pub(crate) fn with_bias_activation(
        self,
        axis: usize,
        channels: usize,
        act: Act,
    ) -> Option<Epilogue> {
        (axis == channels && self == Epilogue::NONE).then_some(Epilogue { bias: true, act })
    }

    /// The number of inputs: kernel and input, and the bias.
    pub(crate) fn inputs(self) -> usize {
        2 + self.bias as usize
    }

    /// The bias input's values, if there is a bias.
    pub(crate) fn bias<'a>(self, inputs: &[&'a Value]) -> Option<&'a [f32]> {
        self.bias.then(|| &inputs[2].f[..])
    }

    /// Channels-last: `y = act(y + bias)`, the bias along the last axis, on one
    /// sample's output (nothing when there is no epilogue).
    pub(crate) fn apply_last(self, y: &mut [f32], bias: Option<&[f32]>) {
        if self.any() {
            bias_activate_last(y, bias, self.act);
        }
    }

    /// The scratch floats [`Epilogue::sample_grad`] takes for samples of `len` floats.
    pub(crate) fn grad_len(self, len: usize) -> usize {
        if self.act == Act::Linear {
            0
        } else {
            len
        }
    }

    /// Sample `i`'s part (`len` floats) of the output gradient `gout` taken through the
    /// activation at the output `y`, into `buf` ([`Epilogue::grad_len`] floats); as it
    /// is when linear.
    pub(crate) fn sample_grad<'a>(
        self,
        gout: &'a [f32],
        y: &[f32],
        i: usize,
        len: usize,
        buf: &'a mut [f32],
    ) -> &'a [f32] {
        let g = &gout[i * len..(i + 1) * len];
        if self.act == Act::Linear {
            return g;
        }
        let buf = &mut buf[..len];
        grad_through_into(g, &y[i * len..(i + 1) * len], buf, self.act);
        buf
    }

    /// Channels-last: adds to `gb` (if wanted) the bias gradient of `n` samples of
    /// `len` floats, the column sums of the gradient through the activation, rows in
    /// order (what `bias_add` along the last axis computes, so fusion changes no bit).
    pub(crate) fn bias_grad_last(
        self,
        gb: Option<&mut [f32]>,
        gout: &[f32],
        y: &[f32],
        n: usize,
        len: usize,
    ) {
        if let Some(gb) = gb {
            col_sums_through(&gout[..n * len], &y[..n * len], gb, self.act);
        }
    }
}

/// The two `Op` methods through which the fusion pass hands a convolution (a `Copy`
/// struct with an `epi` field) a following activation, or a bias add along its channel
/// axis (`$channels`: a function of the op) then activation: the op again, its
/// [`Epilogue`] extended.
macro_rules! fusable_epilogue {
    ($channels:expr) => {
        fn with_activation(&self, act: $crate::kernels::act::Act) -> Option<$crate::ops::OpRef> {
            let epi = self.epi.with_activation(act)?;
            Some(std::sync::Arc::new(Self { epi, ..*self }))
        }

        fn with_bias_activation(
            &self,
            axis: usize,
            act: $crate::kernels::act::Act,
        ) -> Option<$crate::ops::OpRef> {
            let channels: fn(&Self) -> usize = $channels;
            let epi = self.epi.with_bias_activation(axis, channels(self), act)?;
            Some(std::sync::Arc::new(Self { epi, ..*self }))
        }
    };
}
pub(crate) use fusable_epilogue;
