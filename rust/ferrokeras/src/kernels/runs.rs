//! Short contiguous runs of floats: copy and add, for im2col and col2im.
//!
//! A 3x3 convolution over a small map moves thousands of runs of 10-30 floats per
//! sample (one per output row, kernel tap and channel). A `memcpy` call, or an
//! auto-vectorised loop with its scalar remainder, spends more on the call and the
//! tail than on the data; with AVX-512 a run is a few full vectors and one masked
//! load and store. The `WIDE` variants must be called from code compiled with
//! `avx512f` (a `#[target_feature]` function, after checking [`avx512`]), where they
//! inline.

/// Whether the AVX-512 runs may be used on this CPU (checked once).
#[inline]
pub fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `dst[..len] = src[..len]`.
///
/// # Safety
/// `src` readable and `dst` writable for `len` floats, not overlapping; with `WIDE`,
/// the CPU has AVX-512F.
#[inline(always)]
pub unsafe fn copy<const WIDE: bool>(src: *const f32, dst: *mut f32, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if WIDE {
        // SAFETY: forwarded contract.
        return unsafe { x86::copy512(src, dst, len) };
    }
    // SAFETY: forwarded contract.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, len) }
}

/// `dst[..len] += src[..len]`.
///
/// # Safety
/// As [`copy`].
#[inline(always)]
pub unsafe fn add<const WIDE: bool>(src: *const f32, dst: *mut f32, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if WIDE {
        // SAFETY: forwarded contract.
        return unsafe { x86::add512(src, dst, len) };
    }
    // SAFETY: forwarded contract.
    let (s, d) = unsafe {
        (
            std::slice::from_raw_parts(src, len),
            std::slice::from_raw_parts_mut(dst, len),
        )
    };
    for (d, &s) in d.iter_mut().zip(s) {
        *d += s;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Lanes `0..n` set, `n < 16`.
    #[inline(always)]
    fn mask(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn copy512(src: *const f32, dst: *mut f32, len: usize) {
        let mut i = 0;
        // SAFETY: every access is below len (full vectors, then a masked tail).
        unsafe {
            while i + 16 <= len {
                _mm512_storeu_ps(dst.add(i), _mm512_loadu_ps(src.add(i)));
                i += 16;
            }
            if i < len {
                let m = mask(len - i);
                _mm512_mask_storeu_ps(dst.add(i), m, _mm512_maskz_loadu_ps(m, src.add(i)));
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add512(src: *const f32, dst: *mut f32, len: usize) {
        let mut i = 0;
        // SAFETY: as copy512.
        unsafe {
            while i + 16 <= len {
                let v = _mm512_add_ps(_mm512_loadu_ps(dst.add(i)), _mm512_loadu_ps(src.add(i)));
                _mm512_storeu_ps(dst.add(i), v);
                i += 16;
            }
            if i < len {
                let m = mask(len - i);
                let v = _mm512_add_ps(
                    _mm512_maskz_loadu_ps(m, dst.add(i)),
                    _mm512_maskz_loadu_ps(m, src.add(i)),
                );
                _mm512_mask_storeu_ps(dst.add(i), m, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn wide(src: &[f32], dst: &mut [f32], len: usize, adding: bool) {
        // SAFETY: the caller checked the lengths and the CPU.
        unsafe {
            if adding {
                add::<true>(src.as_ptr(), dst.as_mut_ptr(), len)
            } else {
                copy::<true>(src.as_ptr(), dst.as_mut_ptr(), len)
            }
        }
    }

    #[test]
    fn every_length_touches_exactly_its_run() {
        let src: Vec<f32> = (0..80).map(|i| i as f32 * 0.5 - 7.0).collect();
        for len in 0..70 {
            for adding in [false, true] {
                let mut want = vec![3.0f32; 80];
                for i in 0..len {
                    want[i] = if adding { 3.0 + src[i] } else { src[i] };
                }
                let mut narrow = vec![3.0f32; 80];
                // SAFETY: both buffers hold 80 >= len floats.
                unsafe {
                    if adding {
                        add::<false>(src.as_ptr(), narrow.as_mut_ptr(), len)
                    } else {
                        copy::<false>(src.as_ptr(), narrow.as_mut_ptr(), len)
                    }
                }
                assert_eq!(narrow, want, "portable, len {len}");
                #[cfg(target_arch = "x86_64")]
                if avx512() {
                    let mut w = vec![3.0f32; 80];
                    // SAFETY: as above, and the CPU has AVX-512F.
                    unsafe { wide(&src, &mut w, len, adding) };
                    assert_eq!(w, want, "avx512, len {len}");
                }
            }
        }
    }
}
