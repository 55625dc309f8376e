//! Deterministic pseudo-random numbers for the Monte Carlo method.
//!
//! xoshiro256++ (Blackman & Vigna 2019; period 2²⁵⁶ − 1, passes BigCrush),
//! seeded through splitmix64 so that any `u64` seed, including 0, gives a
//! well-mixed state. JCGM 101 §C.3 asks for a generator with a long period
//! and good statistical properties; being written here keeps results
//! identical on every platform, the browser included, for a given seed.

/// splitmix64 step (Steele, Lea & Flood 2014), used for seeding.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maps 64 random bits to the open interval (0, 1): the top 53 bits k give
/// (k + ½)/2⁵³ rounded to a double. Above ½ doubles are 2⁻⁵³ apart, so
/// k + ½ rounds to an even neighbour there, and for k = 2⁵³ − 1 that
/// neighbour is 2⁵³, i.e. exactly 1: that one pattern (odds 2⁻⁵³) is mapped
/// to the largest double below 1 instead. Every other pattern keeps the
/// value it always had, so a seed still gives the same Monte Carlo results.
#[inline]
fn open_unit(bits: u64) -> f64 {
    let u = ((bits >> 11) as f64 + 0.5) * (1.0 / 9_007_199_254_740_992.0);
    if u < 1.0 { u } else { 1.0 - f64::EPSILON / 2.0 }
}

/// xoshiro256++ generator with a cached second normal variate.
#[derive(Debug, Clone)]
pub struct Xoshiro256pp {
    s: [u64; 4],
    spare_normal: Option<f64>,
}

impl Xoshiro256pp {
    /// Seed via splitmix64.
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
        ];
        Self::from_state(s)
    }

    /// Start from an explicit state (an all-zero state is replaced, since it
    /// is the one fixed point of the generator).
    pub fn from_state(s: [u64; 4]) -> Self {
        let s = if s == [0; 4] { [1, 0, 0, 0] } else { s };
        Self {
            s,
            spare_normal: None,
        }
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = self.s;
        let result = s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0);
        let t = s1 << 17;
        let mut s = [s0, s1, s2 ^ s0, s3 ^ s1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        self.s = s;
        result
    }

    /// Uniform on the open interval (0, 1): 53 random bits, offset by half a
    /// step, so that neither 0 nor 1 occurs (logs and divisions stay finite;
    /// see `open_unit` for the one pattern that needs more than the offset).
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        open_unit(self.next_u64())
    }

    /// Standard normal variate by Marsaglia's polar method (exact, no
    /// approximation of the inverse CDF); the second variate is cached.
    #[inline]
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.next_f64() - 1.0;
            let v = 2.0 * self.next_f64() - 1.0;
            let w = u * u + v * v;
            if w < 1.0 && w > 0.0 {
                let f = (-2.0 * w.ln() / w).sqrt();
                self.spare_normal = Some(v * f);
                return u * f;
            }
        }
    }

    /// Student t variate with ν degrees of freedom by Bailey's polar method
    /// (Bailey 1994, exact for real ν). Meant for ν ≥ 1 (the Monte Carlo
    /// inputs enforce it); for smaller ν a draw that overflows is retried a
    /// bounded number of times and then ±f64::MAX is returned, so the call
    /// always terminates.
    #[inline]
    pub fn student_t(&mut self, nu: f64) -> f64 {
        let mut last_sign = 1.0;
        for _ in 0..1000 {
            let u = 2.0 * self.next_f64() - 1.0;
            let v = 2.0 * self.next_f64() - 1.0;
            let w = u * u + v * v;
            if w < 1.0 && w > 0.0 {
                let c2 = u * u / w;
                let r2 = nu * (w.powf(-2.0 / nu) - 1.0);
                let t = (c2 * r2).sqrt().copysign(u);
                if t.is_finite() {
                    return t;
                }
                last_sign = u.signum();
            }
        }
        f64::MAX.copysign(last_sign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_sequence() {
        // Reference outputs of xoshiro256++ from state {1, 2, 3, 4}.
        let mut r = Xoshiro256pp::from_state([1, 2, 3, 4]);
        let expect = [
            41_943_041u64,
            58_720_359,
            3_588_806_011_781_223,
            3_591_011_842_654_386,
        ];
        for e in expect {
            assert_eq!(r.next_u64(), e);
        }
    }

    #[test]
    fn uniform_never_reaches_zero_or_one() {
        // The extreme bit patterns give the extreme values, strictly inside.
        let lowest = open_unit(0);
        assert_eq!(lowest, 2f64.powi(-54));
        assert!(lowest > 0.0);
        // All 53 bits set: (2⁵³ − ½)/2⁵³ would round to 1.
        let highest = open_unit(u64::MAX);
        assert!(highest < 1.0, "{highest}");
        assert_eq!(highest, 1.0 - 2f64.powi(-53), "the largest double below 1");
        // Its neighbour rounds down and is left as it was.
        assert_eq!(open_unit(((1u64 << 53) - 2) << 11), 1.0 - 2f64.powi(-52));
        // Bits below the top 53 do not matter.
        assert_eq!(open_unit(u64::MAX >> 11 << 11), highest);
        // And so is every draw, with a mean and variance of U(0, 1).
        let mut r = Xoshiro256pp::new(7);
        let n = 200_000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let u = r.next_f64();
            assert!(u > 0.0 && u < 1.0, "{u}");
            s += u;
            s2 += u * u;
        }
        let m = s / n as f64;
        let v = s2 / n as f64 - m * m;
        assert!((m - 0.5).abs() < 0.005, "mean {m}");
        assert!((v - 1.0 / 12.0).abs() < 0.002, "var {v}");
    }

    #[test]
    fn normal_moments() {
        let mut r = Xoshiro256pp::new(0);
        let n = 200_000;
        let mut s = 0.0;
        let mut s2 = 0.0;
        for _ in 0..n {
            let z = r.normal();
            s += z;
            s2 += z * z;
        }
        let m = s / n as f64;
        let v = s2 / n as f64 - m * m;
        assert!(m.abs() < 0.01, "mean {m}");
        assert!((v - 1.0).abs() < 0.01, "var {v}");
    }
}
