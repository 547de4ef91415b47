//! Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
//!
//! A random value is a pure function of (stream seed, call counter, element index), so
//! a dropout mask does not depend on the number of threads, on the order elements are
//! visited, or on how a batch is split across workers.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = (a as u64) * (b as u64);
    ((p >> 32) as u32, p as u32)
}

/// Ten Philox rounds on a 128-bit counter with a 64-bit key.
#[inline(always)]
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// Four random words for block `block` of call `call` of stream `seed`.
#[inline(always)]
pub fn block(seed: u64, call: u64, block: u64) -> [u32; 4] {
    philox4x32(
        [
            block as u32,
            (block >> 32) as u32,
            call as u32,
            (call >> 32) as u32,
        ],
        [seed as u32, (seed >> 32) as u32],
    )
}

/// Uniform [0, 1) float from a random word (24 significant bits).
#[inline(always)]
pub fn to_unit(w: u32) -> f32 {
    (w >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Fills `out` with uniforms in [0, 1): element `i` is a function of (seed, call, i).
pub fn fill_uniform(seed: u64, call: u64, out: &mut [f32]) {
    for (b, chunk) in out.chunks_mut(4).enumerate() {
        let w = block(seed, call, b as u64);
        for (o, &x) in chunk.iter_mut().zip(&w) {
            *o = to_unit(x);
        }
    }
}

/// Fills `out` with standard normals (Box-Muller on pairs of uniforms).
pub fn fill_normal(seed: u64, call: u64, out: &mut [f32]) {
    for (b, chunk) in out.chunks_mut(2).enumerate() {
        let w = block(seed, call, b as u64);
        let u1 = ((w[0] >> 8) as f64 + 1.0) / 16_777_217.0;
        let u2 = (w[1] >> 8) as f64 / 16_777_216.0;
        let r = (-2.0 * u1.ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * u2;
        chunk[0] = (r * t.cos()) as f32;
        if chunk.len() > 1 {
            chunk[1] = (r * t.sin()) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_philox() {
        // Random123 known-answer vector: counter and key all zero.
        assert_eq!(
            philox4x32([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
    }

    #[test]
    fn uniform_is_a_function_of_the_index_and_well_spread() {
        let mut a = vec![0.0; 1001];
        fill_uniform(7, 3, &mut a);
        let mut b = vec![0.0; 10];
        fill_uniform(7, 3, &mut b);
        assert_eq!(&a[..10], &b[..]);
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        assert!((mean - 0.5).abs() < 0.03, "{mean}");
        assert!(a.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mut c = vec![0.0; 10];
        fill_uniform(7, 4, &mut c);
        assert_ne!(b, c);
    }

    #[test]
    fn normal_moments() {
        let mut a = vec![0.0; 20000];
        fill_normal(1, 0, &mut a);
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
