//! The shape checks every convolution's `infer` makes: its inputs' number, dtype and
//! rank, the input's channels against the kernel's, the bias against the output
//! channels, and each spatial output length.

use super::attrs::Epilogue;
use crate::kernels::window::out_len;
use crate::ops::{expect_float, expect_inputs, TypeInfo};
use crate::tensor::{fmt_dims, fmt_shape, Dim, Shape};
use crate::{Error, Result};

/// The input and kernel shapes of a convolution `op` with epilogue `epi`, after
/// checking that there are as many float inputs as it takes and that the input and
/// the kernel have `rank` axes (`what` names the input's, e.g. "(N, C, H, W)").
pub(crate) fn conv_inputs<'a>(
    op: &str,
    inputs: &'a [TypeInfo],
    epi: Epilogue,
    rank: usize,
    what: &str,
) -> Result<(&'a Shape, &'a Shape)> {
    expect_inputs(op, inputs, epi.inputs())?;
    for t in inputs {
        expect_float(op, t)?;
    }
    let (x, k) = (&inputs[0].shape, &inputs[1].shape);
    if x.len() != rank || k.len() != rank {
        return Err(Error::Shape(format!(
            "{op}: expects a {rank}-D input {what} and a {rank}-D kernel, got {} and {}",
            fmt_shape(x),
            fmt_shape(k)
        )));
    }
    if epi.bias {
        let b = &inputs[2].shape;
        if b.len() != 1 {
            return Err(bias_error(op, b, k));
        }
    }
    Ok((x, k))
}

fn bias_error(op: &str, b: &Shape, k: &Shape) -> Error {
    Error::Shape(format!(
        "{op}: bias of shape {} does not match the kernel's {} output channels",
        fmt_shape(b),
        fmt_shape(k)
    ))
}

/// Errors if the input's `have` channels are known and not the kernel's `want`, or
/// the bias (if any, input 2) does not have the `out` output channels.
pub(crate) fn check_channels(
    op: &str,
    inputs: &[TypeInfo],
    epi: Epilogue,
    (have, want): (Dim, Dim),
    out: Dim,
) -> Result<()> {
    let (x, k) = (&inputs[0].shape, &inputs[1].shape);
    if let (Some(a), Some(b)) = (have, want) {
        if a != b {
            return Err(Error::Shape(format!(
                "{op}: input {} has {a} channels but the kernel {} expects {b}",
                fmt_shape(x),
                fmt_shape(k)
            )));
        }
    }
    if epi.bias {
        let b = &inputs[2].shape;
        if matches!((b[0], out), (Some(a), Some(c)) if a != c) {
            return Err(bias_error(op, b, k));
        }
    }
    Ok(())
}

/// One spatial output length of a window sweep of `k` over `len` (see [`out_len`]);
/// unknown if either is, an error naming the shapes of `inputs` if no window fits.
pub(crate) fn out_dim(
    op: &str,
    inputs: &[TypeInfo],
    len: Dim,
    pad: usize,
    k: Dim,
    stride: usize,
    dil: usize,
) -> Result<Dim> {
    match (len, k) {
        (Some(l), Some(k)) => out_len(l, pad, k, stride, dil).map(Some).ok_or_else(|| {
            Error::Shape(format!(
                "{op}: kernel {} is larger than the (padded) input {}",
                fmt_shape(&inputs[1].shape),
                fmt_shape(&inputs[0].shape)
            ))
        }),
        _ => Ok(None),
    }
}

/// The output lengths of a window sweep over the spatial lengths `len` of an input of
/// shape `x` with a kernel of shape `kshape` (spatial lengths `k`), pads (before, after)
/// per axis; an error naming both shapes if a kernel does not fit.
pub(crate) fn out_sizes<const N: usize>(
    op: &str,
    (x, kshape): (&[usize], &[usize]),
    len: [usize; N],
    k: [usize; N],
    strides: [usize; N],
    pads: &[usize],
    dil: [usize; N],
) -> Result<[usize; N]> {
    let mut out = [0; N];
    for (a, o) in out.iter_mut().enumerate() {
        let pad = pads[2 * a] + pads[2 * a + 1];
        *o = out_len(len[a], pad, k[a], strides[a], dil[a])
            .ok_or_else(|| does_not_fit(op, x, kshape))?;
    }
    Ok(out)
}

/// "kernel ... does not fit input ...".
pub(crate) fn does_not_fit(op: &str, x: &[usize], kshape: &[usize]) -> Error {
    Error::Shape(format!(
        "{op}: kernel {} does not fit input {}",
        fmt_dims(kshape),
        fmt_dims(x)
    ))
}
