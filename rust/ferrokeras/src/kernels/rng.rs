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

/// Philox blocks per [`batch`].
pub const BLOCKS: usize = 16;
/// Random words (= uniforms) per [`batch`].
pub const WORDS: usize = 4 * BLOCKS;

/// Words of blocks `first .. first + 16` of call `call` of stream `seed`; word `w` of
/// block `first + l` lands at `out[4 l + w]`. The rounds of [`philox4x32`] on 16
/// blocks at once in structure-of-arrays form, so they vectorise (the bulk kernels of
/// the random ops); equal to [`block`] bit for bit (checked by a test).
#[inline(always)]
pub fn batch(seed: u64, call: u64, first: u64, out: &mut [u32; WORDS]) {
    let mut c0 = [0u32; BLOCKS];
    let mut c1 = [0u32; BLOCKS];
    let mut c2 = [call as u32; BLOCKS];
    let mut c3 = [(call >> 32) as u32; BLOCKS];
    for l in 0..BLOCKS {
        let b = first.wrapping_add(l as u64);
        c0[l] = b as u32;
        c1[l] = (b >> 32) as u32;
    }
    let (mut k0, mut k1) = (seed as u32, (seed >> 32) as u32);
    for _ in 0..10 {
        for l in 0..BLOCKS {
            let p0 = M0 as u64 * c0[l] as u64;
            let p1 = M1 as u64 * c2[l] as u64;
            let n0 = (p1 >> 32) as u32 ^ c1[l] ^ k0;
            let n2 = (p0 >> 32) as u32 ^ c3[l] ^ k1;
            c1[l] = p1 as u32;
            c3[l] = p0 as u32;
            c0[l] = n0;
            c2[l] = n2;
        }
        k0 = k0.wrapping_add(W0);
        k1 = k1.wrapping_add(W1);
    }
    for l in 0..BLOCKS {
        out[4 * l] = c0[l];
        out[4 * l + 1] = c1[l];
        out[4 * l + 2] = c2[l];
        out[4 * l + 3] = c3[l];
    }
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

/// Box-Muller on the first two words of a block: the radius `r` and angle `t` of a
/// pair of standard normals `r cos t`, `r sin t` (the first uniform is in (0, 1], so
/// its logarithm is finite).
#[inline(always)]
pub fn polar(w: [u32; 4]) -> (f64, f64) {
    let u1 = ((w[0] >> 8) as f64 + 1.0) / 16_777_217.0;
    let u2 = (w[1] >> 8) as f64 / 16_777_216.0;
    ((-2.0 * u1.ln()).sqrt(), 2.0 * std::f64::consts::PI * u2)
}

/// Fills `out` with standard normals (Box-Muller on pairs of uniforms).
pub fn fill_normal(seed: u64, call: u64, out: &mut [f32]) {
    for (b, chunk) in out.chunks_mut(2).enumerate() {
        let (r, t) = polar(block(seed, call, b as u64));
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
    fn batch_matches_block() {
        let mut w = [0u32; WORDS];
        for &(seed, call, first) in &[
            (0u64, 0u64, 0u64),
            (7, 3, 5),
            (u64::MAX, 1 << 40, (1 << 32) - 3),
            (42, 9, 1 << 33),
        ] {
            batch(seed, call, first, &mut w);
            for l in 0..BLOCKS {
                assert_eq!(
                    &w[4 * l..4 * l + 4],
                    &block(seed, call, first + l as u64),
                    "block {l}"
                );
            }
        }
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
