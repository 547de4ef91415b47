//! Out-of-place transpose (or transpose-and-add) of a row-major f32 matrix in square
//! blocks through vector registers, a scalar loop for the edges: 16x16 blocks on
//! AVX-512 (sixteen 64-byte row loads, four shuffle stages, sixteen 64-byte column
//! stores), 8x8 blocks on AVX2 for what is left (or everything without AVX-512).
//!
//! An element-by-element loop reads one float per cache line of the source and runs at
//! about a nanosecond per element; the blocked ones at a small fraction of that. The
//! 16x16 blocks matter when one side is not in cache (a channels-first convolution
//! transposes each sample of a batch from or into the batch's buffer): every load and
//! store is a whole cache line, in 16 sequential streams, where the 8x8 blocks touch
//! half lines in 8 or 32 streams. `transpose_cpu` (W8b's shapes, one side cold): 784x32
//! into the batch 15.1 -> 6-8 µs, 32x900 from it 11.4 -> 5.3-6.5 µs.

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
    let all = Rect {
        rows: 0..rows,
        cols: 0..cols,
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        let (r16, c16) = (rows / 16 * 16, cols / 16 * 16);
        // SAFETY: the CPU has AVX-512F, AVX2 and FMA (implied); the sizes are checked
        // above and every rectangle lies inside the matrix.
        unsafe {
            blocked16::<ADD>(src, rows, cols, dst, r16, c16);
            let right = Rect {
                rows: 0..r16,
                cols: c16..cols,
            };
            blocked8::<ADD>(src, rows, cols, dst, right);
            let below = Rect {
                rows: r16..rows,
                cols: 0..cols,
            };
            blocked8::<ADD>(src, rows, cols, dst, below);
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA; the sizes are checked above.
        return unsafe { blocked8::<ADD>(src, rows, cols, dst, all) };
    }
    edges::<ADD>(src, rows, cols, dst, all);
}

/// A rectangle of the source matrix: its rows and columns.
#[derive(Clone)]
struct Rect {
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
}

/// The scalar transpose of the elements of `rect`.
fn edges<const ADD: bool>(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], rect: Rect) {
    for r in rect.rows {
        for c in rect.cols.clone() {
            let v = src[r * cols + c];
            let d = &mut dst[c * rows + r];
            *d = if ADD { *d + v } else { v };
        }
    }
}

/// The 8x8 blocks of `rect` (from its first row and column), then its edges.
///
/// # Safety
/// AVX2 and FMA available; both slices hold `rows * cols` floats; `rect` lies inside
/// the matrix.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn blocked8<const ADD: bool>(
    src: &[f32],
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    rect: Rect,
) {
    use std::arch::x86_64::*;
    let (r_lo, c_lo) = (rect.rows.start, rect.cols.start);
    let rf = r_lo + (rect.rows.len() / 8 * 8);
    let cf = c_lo + (rect.cols.len() / 8 * 8);
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
    for r0 in (r_lo..rf).step_by(8) {
        for c0 in (c_lo..cf).step_by(8) {
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
    let right = Rect {
        rows: r_lo..rf,
        cols: cf..rect.cols.end,
    };
    edges::<ADD>(src, rows, cols, dst, right);
    let below = Rect {
        rows: rf..rect.rows.end,
        cols: rect.cols,
    };
    edges::<ADD>(src, rows, cols, dst, below);
}

/// The 16x16 blocks of rows `0..r16` and columns `0..c16` (multiples of 16).
///
/// # Safety
/// AVX-512F available; both slices hold `rows * cols` floats; `r16 <= rows`,
/// `c16 <= cols`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn blocked16<const ADD: bool>(
    src: &[f32],
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    r16: usize,
    c16: usize,
) {
    use std::arch::x86_64::*;
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
    let block = |r0: usize, c0: usize| {
        // SAFETY: rows r0..r0+16 and columns c0..c0+16 are inside both matrices.
        unsafe {
            let v: [__m512; 16] =
                std::array::from_fn(|q| _mm512_loadu_ps(s.add((r0 + q) * cols + c0)));
            // Walking a wide source, its 16 row streams are fetched four blocks ahead
            // (the hardware prefetcher alone left 32x900 from a batch at 8-10 µs,
            // this 5.3-6.5; prefetching the destination of a tall one gained nothing).
            if cols >= rows && c0 + 64 < cols {
                for q in 0..16 {
                    _mm_prefetch::<_MM_HINT_T0>(s.add((r0 + q) * cols + c0 + 64) as *const i8);
                }
            }
            for (q, x) in transpose16(v).into_iter().enumerate() {
                let at = d.add((c0 + q) * rows + r0);
                let x = if ADD {
                    _mm512_add_ps(_mm512_loadu_ps(at), x)
                } else {
                    x
                };
                _mm512_storeu_ps(at, x);
            }
        }
    };
    // The inner loop walks the longer side, so that its 16 streams (source rows when
    // the source is wide, destination rows when it is tall) run sequentially: a
    // channels-first sample (C x HW) read from a batch's buffer, or one written into it
    // (HW x C), streams its cold side (transpose_cpu: 9.6 -> 7.6 and 7.8 -> 5.9 µs).
    if cols >= rows {
        for r0 in (0..r16).step_by(16) {
            for c0 in (0..c16).step_by(16) {
                block(r0, c0);
            }
        }
    } else {
        for c0 in (0..c16).step_by(16) {
            for r0 in (0..r16).step_by(16) {
                block(r0, c0);
            }
        }
    }
}

/// The transpose of the 16x16 matrix whose rows are `r`: row q of the result holds
/// element q of every input row. Four stages: interleave pairs of rows (2x2 blocks of
/// floats), pairs of pairs (4x4), then 128-bit lanes twice (8x8, 16x16).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn transpose16(r: [std::arch::x86_64::__m512; 16]) -> [std::arch::x86_64::__m512; 16] {
    use std::arch::x86_64::*;
    // t[2i] / t[2i+1]: rows 2i and 2i+1 interleaved, low / high pair of each 128-bit lane
    let t: [__m512; 16] = std::array::from_fn(|k| {
        let (a, b) = (r[k & !1], r[k | 1]);
        if k % 2 == 0 {
            _mm512_unpacklo_ps(a, b)
        } else {
            _mm512_unpackhi_ps(a, b)
        }
    });
    // u: within each 128-bit lane, a 4x4 block transposed (rows 4j..4j+4)
    let u: [__m512; 16] = std::array::from_fn(|k| {
        let base = k / 4 * 4;
        let (a, b) = (t[base + (k % 4) / 2], t[base + 2 + (k % 4) / 2]);
        if k % 2 == 0 {
            _mm512_shuffle_ps::<0x44>(a, b)
        } else {
            _mm512_shuffle_ps::<0xEE>(a, b)
        }
    });
    // w: 128-bit lanes 0, 2 / 1, 3 of two 4-row groups (8 rows)
    let w: [__m512; 16] = std::array::from_fn(|k| {
        let base = k / 8 * 8;
        let (a, b) = (u[base + k % 4], u[base + 4 + k % 4]);
        if k % 8 < 4 {
            _mm512_shuffle_f32x4::<0x88>(a, b)
        } else {
            _mm512_shuffle_f32x4::<0xDD>(a, b)
        }
    });
    // the same across the two 8-row halves
    std::array::from_fn(|k| {
        let (a, b) = (w[k % 8], w[8 + k % 8]);
        if k < 8 {
            _mm512_shuffle_f32x4::<0x88>(a, b)
        } else {
            _mm512_shuffle_f32x4::<0xDD>(a, b)
        }
    })
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
            (16, 16),
            (33, 47),
            (32, 900),
            (784, 32),
            (100, 64),
            (41, 16),
            (16, 41),
            (24, 72),
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
            let all = Rect {
                rows: 0..rows,
                cols: 0..cols,
            };
            edges::<false>(&src, rows, cols, &mut scalar, all);
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
