//! Where the taps of a 2-D convolution kernel are stored, and the walks over the
//! kernel matrices the products use, shared by `conv2d`, `conv2d_transpose` and
//! `depthwise_conv2d` in both layouts.

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

/// Calls `f(r, o, c, ki, kj)` for the elements of an (O, C·kh·kw) matrix of a kernel
/// of `dims` (O, C, kh, kw), `r` its row-major index (the channels-first order).
#[inline]
pub(crate) fn rows_by_output(
    dims: [usize; 4],
    mut f: impl FnMut(usize, usize, usize, usize, usize),
) {
    let [no, nc, kh, kw] = dims;
    let mut r = 0;
    for o in 0..no {
        for c in 0..nc {
            for ki in 0..kh {
                for kj in 0..kw {
                    f(r, o, c, ki, kj);
                    r += 1;
                }
            }
        }
    }
}

/// Calls `f(r, o, c, ki, kj)` for the elements of a (kh·kw·C, O) matrix of a kernel
/// of `dims` (O, C, kh, kw), `r` its row-major index (the channels-last order).
#[inline]
pub(crate) fn rows_by_tap(dims: [usize; 4], mut f: impl FnMut(usize, usize, usize, usize, usize)) {
    let [no, nc, kh, kw] = dims;
    let mut r = 0;
    for ki in 0..kh {
        for kj in 0..kw {
            for c in 0..nc {
                for o in 0..no {
                    f(r, o, c, ki, kj);
                    r += 1;
                }
            }
        }
    }
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
