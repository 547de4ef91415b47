//! Out-of-place transpose (or transpose-and-add) of a row-major f32 matrix: 8x8 blocks through AVX registers
//! (eight row loads, eight shuffles deep, eight column stores), a scalar loop for the
//! edges. An element-by-element loop reads one float per cache line of the source and
//! runs at about a nanosecond per element; the blocked one at a small fraction of that.

/// `dst (cols x rows) = srcᵀ` for `src` of `rows x cols`, both row-major.
///
/// # Panics
/// If either slice holds fewer than `rows * cols` floats.
pub fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    transpose_with::<false>(src, rows, cols, dst)
}

/// `dst (cols x rows) += srcᵀ` for `src` of `rows x cols`, both row-major.
///
/// # Panics
/// If either slice holds fewer than `rows * cols` floats.
pub fn transpose_add(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    transpose_with::<true>(src, rows, cols, dst)
}

fn transpose_with<const ADD: bool>(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    assert!(
        src.len() >= rows * cols && dst.len() >= rows * cols,
        "transpose: {rows}x{cols} does not fit the buffers"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA; the sizes are checked above.
        return unsafe { blocked::<ADD>(src, rows, cols, dst) };
    }
    edges::<ADD>(src, rows, cols, dst, 0, 0);
}

/// The scalar transpose of every element with row >= `r0` or column >= `c0`.
fn edges<const ADD: bool>(
    src: &[f32],
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    r0: usize,
    c0: usize,
) {
    for r in 0..rows {
        let from = if r >= r0 { 0 } else { c0 };
        for c in from..cols {
            let v = src[r * cols + c];
            let d = &mut dst[c * rows + r];
            *d = if ADD { *d + v } else { v };
        }
    }
}

/// # Safety
/// AVX2 and FMA available; both slices hold `rows * cols` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn blocked<const ADD: bool>(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    use std::arch::x86_64::*;
    let (rf, cf) = (rows / 8 * 8, cols / 8 * 8);
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
    for r0 in (0..rf).step_by(8) {
        for c0 in (0..cf).step_by(8) {
            // SAFETY: rows r0..r0+8 and columns c0..c0+8 are inside both matrices.
            unsafe {
                let v =
                    [0, 1, 2, 3, 4, 5, 6, 7].map(|q| _mm256_loadu_ps(s.add((r0 + q) * cols + c0)));
                let t = super::sgemm_micro::transpose8(v);
                for (q, x) in t.iter().enumerate() {
                    let at = d.add((c0 + q) * rows + r0);
                    let x = if ADD {
                        _mm256_add_ps(_mm256_loadu_ps(at), *x)
                    } else {
                        *x
                    };
                    _mm256_storeu_ps(at, x);
                }
            }
        }
    }
    edges::<ADD>(src, rows, cols, dst, rf, cf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_including_ragged_edges() {
        for &(rows, cols) in &[
            (0, 3),
            (1, 1),
            (3, 5),
            (8, 8),
            (9, 17),
            (16, 32),
            (100, 64),
            (900, 32),
            (13, 8),
        ] {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let mut dst = vec![-1.0; rows * cols];
            transpose(&src, rows, cols, &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        dst[c * rows + r],
                        src[r * cols + c],
                        "{rows}x{cols} at ({r}, {c})"
                    );
                }
            }
            let mut scalar = vec![-1.0; rows * cols];
            edges::<false>(&src, rows, cols, &mut scalar, 0, 0);
            assert_eq!(dst, scalar);
            let base: Vec<f32> = (0..rows * cols).map(|i| (i * 7 % 13) as f32).collect();
            let mut sum = base.clone();
            transpose_add(&src, rows, cols, &mut sum);
            for (i, (&s, (&b, &t))) in sum.iter().zip(base.iter().zip(&dst)).enumerate() {
                assert_eq!(s, b + t, "{rows}x{cols} add at {i}");
            }
        }
    }
}
