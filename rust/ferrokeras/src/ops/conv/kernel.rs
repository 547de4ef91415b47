//! Where the taps of a 2-D convolution kernel are stored, the walks over the kernel
//! matrices the products use, shared by `conv2d`, `conv2d_transpose` and
//! `depthwise_conv2d` in both layouts, and the column matrices of the channels-first
//! products (`conv2d`, `conv2d_transpose`, `conv3d`).

/// Storage order of a convolution kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelLayout {
    /// (out, in, rows, cols): Keras 'th'.
    Oihw,
    /// (rows, cols, in, out): Keras 'tf'.
    Hwio,
}

impl KernelLayout {
    /// (out, in, rows, cols) of a kernel shape in this layout.
    pub(crate) fn dims<T: Copy>(self, k: &[T]) -> (T, T, T, T) {
        match self {
            KernelLayout::Oihw => (k[0], k[1], k[2], k[3]),
            KernelLayout::Hwio => (k[3], k[2], k[0], k[1]),
        }
    }

    /// Index in a stored kernel of `dims` (out, in, rows, cols) of tap (o, c, ki, kj);
    /// with `flip` the taps are reversed spatially (a true convolution).
    #[inline]
    pub(crate) fn index(
        self,
        flip: bool,
        dims: [usize; 4],
        o: usize,
        c: usize,
        ki: usize,
        kj: usize,
    ) -> usize {
        let [no, nc, kh, kw] = dims;
        let (ki, kj) = if flip {
            (kh - 1 - ki, kw - 1 - kj)
        } else {
            (ki, kj)
        };
        match self {
            KernelLayout::Oihw => ((o * nc + c) * kh + ki) * kw + kj,
            KernelLayout::Hwio => ((ki * kw + kj) * nc + c) * no + o,
        }
    }
}

/// Calls `f(r, [i, j, k, l])` for every index of a row-major array of lengths `len`,
/// `r` its flat index.
#[inline]
fn row_major(len: [usize; 4], mut f: impl FnMut(usize, [usize; 4])) {
    let mut r = 0;
    for i in 0..len[0] {
        for j in 0..len[1] {
            for k in 0..len[2] {
                for l in 0..len[3] {
                    f(r, [i, j, k, l]);
                    r += 1;
                }
            }
        }
    }
}

/// Calls `f(r, o, c, ki, kj)` for the elements of an (O, C·kh·kw) matrix of a kernel
/// of `dims` (O, C, kh, kw), `r` its row-major index (the channels-first order).
#[inline]
pub(crate) fn rows_by_output(
    dims: [usize; 4],
    mut f: impl FnMut(usize, usize, usize, usize, usize),
) {
    row_major(dims, |r, [o, c, ki, kj]| f(r, o, c, ki, kj));
}

/// Calls `f(r, o, c, ki, kj)` for the elements of a (kh·kw·C, O) matrix of a kernel
/// of `dims` (O, C, kh, kw), `r` its row-major index (the channels-last order).
#[inline]
pub(crate) fn rows_by_tap(dims: [usize; 4], mut f: impl FnMut(usize, usize, usize, usize, usize)) {
    let [no, nc, kh, kw] = dims;
    row_major([kh, kw, nc, no], |r, [ki, kj, c, o]| f(r, o, c, ki, kj));
}

/// The kernel matrix the channels-last products use (rows the taps, then the input
/// channel; the output channel along each row): the `len` floats of the stored kernel
/// `w` where it is stored as that matrix (`stored`), else its re-layout into `buf`;
/// `each(f)` calls `f(matrix index, stored index)` for every element.
pub(crate) fn kernel_matrix<'a>(
    stored: bool,
    w: &'a [f32],
    len: usize,
    buf: &'a mut [f32],
    each: impl FnOnce(&mut dyn FnMut(usize, usize)),
) -> &'a [f32] {
    if stored {
        return &w[..len];
    }
    each(&mut |r, s| buf[r] = w[s]);
    buf
}

/// Adds the gradient `dwk` of a [`kernel_matrix`] into the stored kernel's gradient
/// `gin`.
pub(crate) fn kernel_matrix_back(
    stored: bool,
    dwk: &[f32],
    gin: &mut [f32],
    each: impl FnOnce(&mut dyn FnMut(usize, usize)),
) {
    if stored {
        for (d, &v) in gin.iter_mut().zip(dwk) {
            *d += v;
        }
    } else {
        each(&mut |r, s| gin[s] += dwk[r]);
    }
}

/// The column matrix of one sample: the sample itself for a 1x1 kernel with stride 1
/// and no padding (`one`), else its `im2col` into `cols`.
pub(crate) fn columns<'a>(
    one: bool,
    v: &'a [f32],
    cols: &'a mut [f32],
    im2col: impl FnOnce(&[f32], &mut [f32]),
) -> &'a [f32] {
    if one {
        return v;
    }
    im2col(v, cols);
    cols
}

/// What the forward and the backward of a channels-first convolution through column
/// matrices (`conv3d`, `conv2d_transpose`) share for a call, in this order (a tuple, so
/// that a call site names them all on one line): its geometry `g`, the column rows `kk`
/// (K) and positions `p` (P), the kernel matrix's floats `ok` (O·K), `one` (the column
/// matrix is the sample itself, see [`columns`]), the batch `workers`, one worker's
/// column floats `col` (1 when `one`), and one sample's input and output floats `xs`
/// and `os`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ColumnSizes<G>(
    pub(crate) G,
    pub(crate) usize,
    pub(crate) usize,
    pub(crate) usize,
    pub(crate) bool,
    pub(crate) usize,
    pub(crate) usize,
    pub(crate) usize,
    pub(crate) usize,
);

impl<G> ColumnSizes<G> {
    /// The sizes of a call of geometry `g` with K `kk`, P `p` and O `o`.
    pub(crate) fn new(
        g: G,
        (kk, p, o): (usize, usize, usize),
        one: bool,
        workers: usize,
        (xs, os): (usize, usize),
    ) -> Self {
        let col = if one { 1 } else { kk * p };
        ColumnSizes(g, kk, p, o * kk, one, workers, col, xs, os)
    }
}
