//! Zipf-distributed ranks: which identity a request is for.
//!
//! Real traffic is skewed — a few identities call often, most rarely — and the
//! skew decides how often the edge's identity cache hits. Rank `k` of `n` is drawn
//! with probability proportional to `1 / k^s`; `s = 0` is uniform, `s ≈ 1` is the
//! classic web-traffic skew. Sampling is Hörmann and Derflinger's
//! rejection-inversion ("Rejection-inversion to generate variates from monotone
//! discrete distributions", 1996): O(1) per sample and no table, so `n` can be
//! millions, for any `s > 0` (including `s = 1` and `s < 1`).

use rand::Rng;

/// A sampler of ranks `1..=n`.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: u64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    squeeze: f64,
}

impl Zipf {
    /// A sampler over `1..=n` with exponent `s` (`s = 0`: uniform). `n ≥ 1`, `s ≥ 0`.
    pub fn new(n: u64, s: f64) -> Result<Zipf, String> {
        if n == 0 {
            return Err("a Zipf distribution needs at least one rank".into());
        }
        if !(s.is_finite() && s >= 0.0) {
            return Err(format!("the Zipf exponent must be ≥ 0, got {s}"));
        }
        let mut zipf = Zipf {
            n,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            squeeze: 0.0,
        };
        if s > 0.0 {
            zipf.h_integral_x1 = zipf.h_integral(1.5) - 1.0;
            zipf.h_integral_n = zipf.h_integral(n as f64 + 0.5);
            zipf.squeeze = 2.0 - zipf.h_integral_inverse(zipf.h_integral(2.5) - zipf.h(2.0));
        }
        Ok(zipf)
    }

    /// The number of ranks.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// The exact probability of rank `k` (for tests and reports; O(n)).
    pub fn probability(&self, k: u64) -> f64 {
        let norm: f64 = (1..=self.n).map(|i| (i as f64).powf(-self.s)).sum();
        (k as f64).powf(-self.s) / norm
    }

    /// Draws a rank in `1..=n`; rank 1 is the most frequent.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        if self.s == 0.0 {
            return rng.gen_range(1..=self.n);
        }
        loop {
            let u =
                self.h_integral_n + rng.r#gen::<f64>() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = ((x + 0.5) as u64).clamp(1, self.n);
            let kf = k as f64;
            if kf - x <= self.squeeze || u >= self.h_integral(kf + 0.5) - self.h(kf) {
                return k;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// `ln(1 + x) / x`, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - x * 0.25))
    }
}

/// `(e^x - 1) / x`, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + x * 0.25))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn frequencies(zipf: &Zipf, draws: usize, seed: u64) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut counts = vec![0usize; zipf.n() as usize + 1];
        for _ in 0..draws {
            let k = zipf.sample(&mut rng);
            assert!((1..=zipf.n()).contains(&k), "rank {k} out of range");
            counts[k as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / draws as f64).collect()
    }

    #[test]
    fn matches_the_probability_mass_function() {
        for s in [0.5, 0.99, 1.0, 1.2, 2.0] {
            let zipf = Zipf::new(20, s).unwrap();
            let observed = frequencies(&zipf, 400_000, 7);
            for k in 1..=20u64 {
                let expected = zipf.probability(k);
                let got = observed[k as usize];
                // Four standard deviations of a binomial proportion, plus a hair.
                let tolerance = 4.0 * (expected * (1.0 - expected) / 400_000.0).sqrt() + 1e-4;
                assert!(
                    (got - expected).abs() < tolerance,
                    "s={s} k={k}: observed {got:.5}, expected {expected:.5}"
                );
            }
        }
    }

    #[test]
    fn zero_exponent_is_uniform() {
        let zipf = Zipf::new(10, 0.0).unwrap();
        let observed = frequencies(&zipf, 200_000, 3);
        for (k, share) in observed.iter().enumerate().skip(1) {
            assert!((share - 0.1).abs() < 0.005, "k={k}: {share}");
        }
    }

    #[test]
    fn skew_concentrates_on_low_ranks_for_large_n() {
        let zipf = Zipf::new(1_000_000, 1.1).unwrap();
        let observed = frequencies(&zipf, 100_000, 11);
        let top_ten: f64 = observed[1..=10].iter().sum();
        assert!(top_ten > 0.3, "top ten ranks drew {top_ten}");
        let single = Zipf::new(1, 1.5).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(single.sample(&mut rng), 1);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Zipf::new(0, 1.0).is_err());
        assert!(Zipf::new(10, -1.0).is_err());
        assert!(Zipf::new(10, f64::NAN).is_err());
    }
}
