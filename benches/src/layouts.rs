//! Layer shapes run in both orderings, for the benchmarks that compare a channels-first
//! op (Keras 'th') with its channels-last twin (Keras 'tf', no permutes): transposed
//! convolutions (Deconvolution2D), depthwise convolutions and the 1x1 pointwise
//! convolution after them (SeparableConvolution2D), and volumetric convolutions
//! (Convolution3D). Each ordering gets the kernel layout and flip Keras stores and runs
//! it with ('th' a true convolution where Keras 1 on Theano had one).

use ferrokeras::ops::{build, OpRef};
use ferrokeras::{Attr, Attrs, Value};

use crate::data;

/// One ordering of a case: the op and its input, kernel and output shapes.
pub struct Side {
    /// The op.
    pub op: OpRef,
    /// Input shape.
    pub x: Vec<usize>,
    /// Kernel shape.
    pub k: Vec<usize>,
    /// Output shape.
    pub y: Vec<usize>,
}

impl Side {
    /// Deterministic input and kernel values of this side's shapes.
    pub fn inputs(&self) -> (Value, Value) {
        let len = |s: &[usize]| s.iter().product::<usize>();
        (
            Value::from_f32(&self.x, data(len(&self.x), 1)).unwrap(),
            Value::from_f32(&self.k, data(len(&self.k), 2)).unwrap(),
        )
    }
}

/// A layer shape in both orderings.
pub struct Case {
    /// Benchmark id stem (the 'tf' row appends `_nhwc`, or `_ndhwc` for 3-D).
    pub name: &'static str,
    /// Op family, for the group id.
    pub family: &'static str,
    /// Keras 'th': channels-first.
    pub th: Side,
    /// Keras 'tf': channels-last.
    pub tf: Side,
    /// Multiply-adds of the forward pass.
    pub macs: usize,
}

fn ints(v: &[usize]) -> Attr {
    Attr::Ints(v.iter().map(|&a| a as i64).collect())
}

fn op(name: &str, attrs: &[(&str, Attr)]) -> OpRef {
    let mut a = Attrs::new(name);
    for (k, v) in attrs {
        a.set(k, v.clone());
    }
    build(name, &a).unwrap()
}

/// Transposed convolution, batch n, S -> F channels, (h, w) -> (2h, 2w), 3x3, stride 2,
/// 'same' (TensorFlow's pads: the extra one at the bottom/right).
fn deconv(name: &'static str, n: usize, s: usize, h: usize, w: usize, f: usize) -> Case {
    let (oh, ow) = (2 * h, 2 * w);
    let common = |layout: &str, kl: &str, flip: bool| {
        op(
            "conv2d_transpose",
            &[
                ("layout", Attr::Str(layout.into())),
                ("out_hw", ints(&[oh, ow])),
                ("strides", ints(&[2, 2])),
                ("pads", ints(&[0, 1, 0, 1])),
                ("kernel_layout", Attr::Str(kl.into())),
                ("flip", Attr::Bool(flip)),
            ],
        )
    };
    Case {
        name,
        family: "deconv2d",
        th: Side {
            op: common("nchw", "oihw", true),
            x: vec![n, s, h, w],
            k: vec![f, s, 3, 3],
            y: vec![n, f, oh, ow],
        },
        tf: Side {
            op: common("nhwc", "hwio", false),
            x: vec![n, h, w, s],
            k: vec![3, 3, s, f],
            y: vec![n, oh, ow, f],
        },
        macs: n * h * w * s * f * 9,
    }
}

/// Depthwise 3x3 'same' convolution, batch n, C channels times multiplier m.
fn depthwise(name: &'static str, n: usize, c: usize, h: usize, w: usize, m: usize) -> Case {
    let common = |layout: &str, kl: &str| {
        op(
            "depthwise_conv2d",
            &[
                ("layout", Attr::Str(layout.into())),
                ("pads", ints(&[1; 4])),
                ("kernel_layout", Attr::Str(kl.into())),
            ],
        )
    };
    Case {
        name,
        family: "depthwise2d",
        th: Side {
            op: common("nchw", "mchw"),
            x: vec![n, c, h, w],
            k: vec![m, c, 3, 3],
            y: vec![n, c * m, h, w],
        },
        tf: Side {
            op: common("nhwc", "hwcm"),
            x: vec![n, h, w, c],
            k: vec![3, 3, c, m],
            y: vec![n, h, w, c * m],
        },
        macs: n * h * w * c * m * 9,
    }
}

/// The pointwise half of a separable convolution: 1x1 conv2d, C -> O channels.
fn pointwise(name: &'static str, n: usize, c: usize, h: usize, w: usize, o: usize) -> Case {
    let common = |layout: &str, kl: &str| {
        op(
            "conv2d",
            &[
                ("layout", Attr::Str(layout.into())),
                ("kernel_layout", Attr::Str(kl.into())),
                ("flip", Attr::Bool(layout == "nchw")),
            ],
        )
    };
    Case {
        name,
        family: "pointwise2d",
        th: Side {
            op: common("nchw", "oihw"),
            x: vec![n, c, h, w],
            k: vec![o, c, 1, 1],
            y: vec![n, o, h, w],
        },
        tf: Side {
            op: common("nhwc", "hwio"),
            x: vec![n, h, w, c],
            k: vec![1, 1, c, o],
            y: vec![n, h, w, o],
        },
        macs: n * h * w * c * o,
    }
}

/// Volumetric k x k x k 'same' convolution, batch n, C -> O channels.
#[allow(clippy::too_many_arguments)]
fn conv3d(
    name: &'static str,
    n: usize,
    c: usize,
    d: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
) -> Case {
    let p = k / 2;
    let common = |layout: &str, kl: &str, flip: bool| {
        op(
            "conv3d",
            &[
                ("layout", Attr::Str(layout.into())),
                ("pads", ints(&[p; 6])),
                ("kernel_layout", Attr::Str(kl.into())),
                ("flip", Attr::Bool(flip)),
            ],
        )
    };
    Case {
        name,
        // not "conv3d": the `conv3d` bench's channels-first groups have these ids
        family: "conv3d_layout",
        th: Side {
            op: common("ncdhw", "oidhw", true),
            x: vec![n, c, d, h, w],
            k: vec![o, c, k, k, k],
            y: vec![n, o, d, h, w],
        },
        tf: Side {
            op: common("ndhwc", "dhwio", false),
            x: vec![n, d, h, w, c],
            k: vec![k, k, k, c, o],
            y: vec![n, d, h, w, o],
        },
        macs: n * d * h * w * c * o * k * k * k,
    }
}

/// The cases: a DCGAN-style decoder's two upsampling steps, the depthwise and
/// pointwise halves of a MobileNet-style separable block at two sizes, and the
/// C3D-style blocks of the `conv3d` bench.
pub fn cases() -> Vec<Case> {
    vec![
        deconv("deconv_32to16_7x7to14x14", 32, 32, 7, 7, 16),
        deconv("deconv_16to3_14x14to28x28", 32, 16, 14, 14, 3),
        depthwise("dw_32x1_28x28", 32, 32, 28, 28, 1),
        depthwise("dw_16x2_14x14", 32, 16, 14, 14, 2),
        pointwise("pw_32to64_28x28", 32, 32, 28, 28, 64),
        pointwise("pw_32to64_14x14", 32, 32, 14, 14, 64),
        conv3d("c3d_3to16_16x32x32_k3", 8, 3, 16, 32, 32, 16, 3),
        conv3d("c3d_16to32_8x16x16_k3", 8, 16, 8, 16, 16, 32, 3),
    ]
}
