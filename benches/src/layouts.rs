//! Layer shapes run in both orderings, for the benchmarks that compare a channels-first
//! op (Keras 'th') with its channels-last twin (Keras 'tf', no permutes): transposed
//! convolutions (Deconvolution2D), depthwise convolutions and the 1x1 pointwise
//! convolution after them (SeparableConvolution2D), and volumetric convolutions
//! (Convolution3D). Each ordering gets the kernel layout and flip Keras stores and runs
//! it with ('th' a true convolution where Keras 1 on Theano had one).

use ferrokeras::ops::OpRef;
use ferrokeras::{Attr, Value};

use crate::{data, op};

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

/// How to build a case's op: its name, the ('th', 'tf') (data, kernel) layout names,
/// whether it takes a `flip` (true on the 'th' side), and its other attributes.
struct OpSpec<'a> {
    name: &'a str,
    layouts: [(&'a str, &'a str); 2],
    flips: bool,
    attrs: Vec<(&'a str, Attr)>,
}

impl OpSpec<'_> {
    fn build(&self, th: bool) -> OpRef {
        let (layout, kernel_layout) = self.layouts[usize::from(!th)];
        let mut attrs = vec![
            ("layout", Attr::Str(layout.into())),
            ("kernel_layout", Attr::Str(kernel_layout.into())),
        ];
        if self.flips {
            attrs.push(("flip", Attr::Bool(th)));
        }
        attrs.extend(self.attrs.iter().cloned());
        op(self.name, &attrs)
    }
}

impl Case {
    /// A case from its channels-first shapes `[x, kernel, y]`: the channels-last side
    /// moves the channel axis of x and y last, and the kernel's two leading (channel)
    /// axes after its spatial ones, swapped (oihw -> hwio, mchw -> hwcm, oidhw -> dhwio).
    fn both(
        (name, family, macs): (&'static str, &'static str, usize),
        [x, k, y]: [Vec<usize>; 3],
        op: OpSpec,
    ) -> Case {
        let channels_last = |s: &[usize]| [&s[..1], &s[2..], &s[1..2]].concat();
        let tf = Side {
            op: op.build(false),
            x: channels_last(&x),
            k: [&k[2..], &[k[1], k[0]][..]].concat(),
            y: channels_last(&y),
        };
        let th = Side {
            op: op.build(true),
            x,
            k,
            y,
        };
        Case {
            name,
            family,
            th,
            tf,
            macs,
        }
    }
}

fn ints(v: &[usize]) -> Attr {
    Attr::Ints(v.iter().map(|&a| a as i64).collect())
}

/// The ('th', 'tf') layout names of a 2-D convolution and its kernel.
const LAYOUTS_2D: [(&str, &str); 2] = [("nchw", "oihw"), ("nhwc", "hwio")];

/// Transposed convolution, batch n, S -> F channels, (h, w) -> (2h, 2w), 3x3, stride 2,
/// 'same' (TensorFlow's pads: the extra one at the bottom/right).
fn deconv(name: &'static str, n: usize, s: usize, h: usize, w: usize, f: usize) -> Case {
    let (oh, ow) = (2 * h, 2 * w);
    let attrs = vec![
        ("out_hw", ints(&[oh, ow])),
        ("strides", ints(&[2, 2])),
        ("pads", ints(&[0, 1, 0, 1])),
    ];
    Case::both(
        (name, "deconv2d", n * h * w * s * f * 9),
        [vec![n, s, h, w], vec![f, s, 3, 3], vec![n, f, oh, ow]],
        OpSpec {
            name: "conv2d_transpose",
            layouts: LAYOUTS_2D,
            flips: true,
            attrs,
        },
    )
}

/// Depthwise 3x3 'same' convolution, batch n, C channels times multiplier m.
fn depthwise(name: &'static str, n: usize, c: usize, h: usize, w: usize, m: usize) -> Case {
    Case::both(
        (name, "depthwise2d", n * h * w * c * m * 9),
        [vec![n, c, h, w], vec![m, c, 3, 3], vec![n, c * m, h, w]],
        OpSpec {
            name: "depthwise_conv2d",
            layouts: [("nchw", "mchw"), ("nhwc", "hwcm")],
            flips: false,
            attrs: vec![("pads", ints(&[1; 4]))],
        },
    )
}

/// The pointwise half of a separable convolution: 1x1 conv2d, C -> O channels.
fn pointwise(name: &'static str, n: usize, c: usize, h: usize, w: usize, o: usize) -> Case {
    Case::both(
        (name, "pointwise2d", n * h * w * c * o),
        [vec![n, c, h, w], vec![o, c, 1, 1], vec![n, o, h, w]],
        OpSpec {
            name: "conv2d",
            layouts: LAYOUTS_2D,
            flips: true,
            attrs: vec![],
        },
    )
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
    let shapes = [
        vec![n, c, d, h, w],
        vec![o, c, k, k, k],
        vec![n, o, d, h, w],
    ];
    Case::both(
        // not "conv3d": the `conv3d` bench's channels-first groups have these ids
        (name, "conv3d_layout", n * d * h * w * c * o * k * k * k),
        shapes,
        OpSpec {
            name: "conv3d",
            layouts: [("ncdhw", "oidhw"), ("ndhwc", "dhwio")],
            flips: true,
            attrs: vec![("pads", ints(&[k / 2; 6]))],
        },
    )
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

#[cfg(test)]
mod tests {
    use ferrokeras::tensor::known;
    use ferrokeras::TypeInfo;

    use super::*;

    #[test]
    fn channels_last_sides_permute_the_channels_first_shapes() {
        let c = cases();
        let tf = |i: usize| (c[i].tf.x.clone(), c[i].tf.k.clone(), c[i].tf.y.clone());
        assert_eq!(
            tf(0),
            (vec![32, 7, 7, 32], vec![3, 3, 32, 16], vec![32, 14, 14, 16])
        );
        assert_eq!(
            tf(3),
            (
                vec![32, 14, 14, 16],
                vec![3, 3, 16, 2],
                vec![32, 14, 14, 32]
            )
        );
        assert_eq!(
            tf(4),
            (
                vec![32, 28, 28, 32],
                vec![1, 1, 32, 64],
                vec![32, 28, 28, 64]
            )
        );
        assert_eq!(
            tf(6),
            (
                vec![8, 16, 32, 32, 3],
                vec![3, 3, 3, 3, 16],
                vec![8, 16, 32, 32, 16]
            )
        );
        for case in &c {
            for side in [&case.th, &case.tf] {
                let ty = |s: &[usize]| TypeInfo::f32(known(s));
                let got = side.op.infer(&[ty(&side.x), ty(&side.k)]).unwrap();
                assert_eq!(got.shape, known(&side.y), "{}", case.name);
            }
        }
    }
}
