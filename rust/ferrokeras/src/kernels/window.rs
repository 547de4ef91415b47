//! Geometry of a padded, strided, dilated window sweep (convolutions and pools), and
//! the row moves of im2col and col2im built on it.
//!
//! Every convolution lowers to the same walk: for each kernel tap, output row `oy`
//! reads input row `oy·stride + dy` and output column `ox` reads input column
//! `ox·stride + dx`, where `dy`/`dx` are the tap's (dilated) offset minus the leading
//! pad. [`out_len`] gives the output length of one axis, [`valid_range`] the output
//! columns of one tap that read inside the input (the others read the zero padding),
//! and [`gather_row`] / [`scatter_add_row`] move one output row of one tap between the
//! input and the column matrix. `conv2d` (both layouts), `conv3d`, the transposed and
//! depthwise convolutions and the pools share them.

use super::runs;

/// Output length of a padded (`pad` in total), strided, dilated window sweep over
/// `len` positions with a window of `k`; `None` if no window fits.
pub fn out_len(len: usize, pad: usize, k: usize, stride: usize, dil: usize) -> Option<usize> {
    let span = dil * (k.max(1) - 1) + 1;
    let total = len + pad;
    if k == 0 || total < span {
        None
    } else {
        Some((total - span) / stride + 1)
    }
}

/// Output positions `[lo, hi)` of `ow` whose input column `ox·stride + dx` lies in
/// `[0, w)`.
#[inline]
pub fn valid_range(ow: usize, w: usize, stride: usize, dx: isize) -> (usize, usize) {
    // smallest ox with ox*stride + dx >= 0
    let lo = if dx >= 0 {
        0
    } else {
        ((-dx) as usize).div_ceil(stride)
    };
    // smallest ox with ox*stride + dx >= w
    let lim = w as isize - dx;
    let hi = if lim <= 0 {
        0
    } else {
        (lim as usize).div_ceil(stride)
    };
    let lo = lo.min(ow);
    (lo, hi.clamp(lo, ow))
}

/// Calls `f(oy, iy, lo, hi, dx)` for every output row `oy` of the undilated tap
/// (ki, kj) that reads input row `iy`, over an `out` (rows, cols) output of an `input`
/// (rows, cols) input with strides `s` and pads `p` (top, bottom, left, right), with
/// `[lo, hi)` the output columns whose input column `ox·s[1] + dx` lies inside the input.
#[inline(always)]
pub fn tap_rows(
    out: [usize; 2],
    input: [usize; 2],
    s: [usize; 2],
    p: [usize; 4],
    (ki, kj): (usize, usize),
    mut f: impl FnMut(usize, usize, usize, usize, isize),
) {
    let dy = ki as isize - p[0] as isize;
    let dx = kj as isize - p[2] as isize;
    let (lo, hi) = valid_range(out[1], input[1], s[1], dx);
    if lo >= hi {
        return;
    }
    for oy in 0..out[0] {
        let iy = (oy * s[0]) as isize + dy;
        if iy >= 0 && iy < input[0] as isize {
            f(oy, iy as usize, lo, hi, dx);
        }
    }
}

/// im2col for one output row of one tap: `dst[ox] = src[ox·sw + dx]` for `ox` in
/// `[lo, hi)` (from [`valid_range`]); the rest of `dst` is left alone.
///
/// # Safety
/// With `WIDE`, the CPU has AVX-512F (see [`runs`]).
#[inline(always)]
pub unsafe fn gather_row<const WIDE: bool>(
    src: &[f32],
    dst: &mut [f32],
    lo: usize,
    hi: usize,
    sw: usize,
    dx: isize,
) {
    if sw == 1 {
        let s0 = (lo as isize + dx) as usize;
        let (s, d) = (&src[s0..s0 + (hi - lo)], &mut dst[lo..hi]);
        // SAFETY: s and d are distinct slices of the same length; the CPU has AVX-512F
        // if WIDE (this function's contract).
        unsafe { runs::copy::<WIDE>(s.as_ptr(), d.as_mut_ptr(), d.len()) };
    } else {
        for (ox, d) in dst.iter_mut().enumerate().take(hi).skip(lo) {
            *d = src[((ox * sw) as isize + dx) as usize];
        }
    }
}

/// col2im for one output row of one tap: `dst[ox·sw + dx] += src[ox]` for `ox` in
/// `[lo, hi)` (from [`valid_range`], `lo < hi`).
///
/// # Safety
/// As [`gather_row`].
#[inline(always)]
pub unsafe fn scatter_add_row<const WIDE: bool>(
    src: &[f32],
    dst: &mut [f32],
    lo: usize,
    hi: usize,
    sw: usize,
    dx: isize,
) {
    if sw == 1 {
        let d0 = (lo as isize + dx) as usize;
        let (s, d) = (&src[lo..hi], &mut dst[d0..d0 + (hi - lo)]);
        // SAFETY: s and d are distinct slices of the same length; the CPU has AVX-512F
        // if WIDE (this function's contract).
        unsafe { runs::add::<WIDE>(s.as_ptr(), d.as_mut_ptr(), d.len()) };
    } else {
        for (ox, &s) in src.iter().enumerate().take(hi).skip(lo) {
            dst[((ox * sw) as isize + dx) as usize] += s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_len_matches_the_window_count() {
        // 5 positions, padding 2 in total, window 3 dilated by 2 (span 5), stride 2
        assert_eq!(out_len(5, 2, 3, 2, 2), Some(2));
        assert_eq!(out_len(5, 0, 3, 1, 1), Some(3));
        assert_eq!(out_len(2, 0, 3, 1, 1), None);
        assert_eq!(out_len(4, 0, 0, 1, 1), None);
    }

    #[test]
    fn valid_range_is_exactly_the_in_bounds_columns() {
        for w in 0..7usize {
            for ow in 0..9usize {
                for stride in 1..4usize {
                    for dx in -5isize..6 {
                        let (lo, hi) = valid_range(ow, w, stride, dx);
                        for ox in 0..ow {
                            let ix = (ox * stride) as isize + dx;
                            let inside = ix >= 0 && ix < w as isize;
                            assert_eq!(
                                inside,
                                (lo..hi).contains(&ox),
                                "{w} {ow} {stride} {dx} {ox}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn row_moves_follow_the_tap_offsets() {
        let src: Vec<f32> = (0..9).map(|i| i as f32).collect();
        for (sw, dx) in [(1usize, -2isize), (2, 1), (1, 3), (3, -1)] {
            let (lo, hi) = valid_range(6, src.len(), sw, dx);
            let mut dst = vec![-1.0; 6];
            // SAFETY: not WIDE.
            unsafe { gather_row::<false>(&src, &mut dst, lo, hi, sw, dx) };
            let mut back = vec![0.5; src.len()];
            // SAFETY: not WIDE.
            unsafe { scatter_add_row::<false>(&dst, &mut back, lo, hi, sw, dx) };
            for (ox, &d) in dst.iter().enumerate() {
                let ix = (ox * sw) as isize + dx;
                if (lo..hi).contains(&ox) {
                    assert_eq!(d, src[ix as usize]);
                    assert_eq!(back[ix as usize], 0.5 + src[ix as usize]);
                } else {
                    assert_eq!(d, -1.0);
                }
            }
        }
    }
}
