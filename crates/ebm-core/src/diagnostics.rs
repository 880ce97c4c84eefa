//! Host-side MCMC diagnostics: effective sample size and split-R̂ (Stan's definitions), for
//! tests and reports. Input: `chains[c][t]`, all chains of equal length.

/// Autocovariance of one chain at one lag (biased estimator, divided by `n`).
fn autocovariance(x: &[f64], mean: f64, lag: usize) -> f64 {
    let n = x.len();
    (0..n - lag)
        .map(|t| (x[t] - mean) * (x[t + lag] - mean))
        .sum::<f64>()
        / n as f64
}

/// Effective sample size of `chains` (several chains of equal length ≥ 4) with Geyer's initial
/// monotone sequence estimator over the multi-chain autocorrelation (Stan reference manual,
/// "Effective sample size"). A constant input returns the number of draws.
pub fn effective_sample_size(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len();
    let n = chains.iter().map(Vec::len).min().unwrap_or(0);
    if m == 0 || n < 4 {
        return (m * n) as f64;
    }
    let means: Vec<f64> = chains
        .iter()
        .map(|c| c[..n].iter().sum::<f64>() / n as f64)
        .collect();
    // Autocovariances are computed lazily, lag by lag, as Geyer's sum needs them.
    let mean_acov = |lag: usize| -> f64 {
        chains
            .iter()
            .zip(&means)
            .map(|(c, &mu)| autocovariance(&c[..n], mu, lag))
            .sum::<f64>()
            / m as f64
    };
    let grand = means.iter().sum::<f64>() / m as f64;
    let w = mean_acov(0) * n as f64 / (n as f64 - 1.0);
    let b_over_n = if m > 1 {
        means.iter().map(|mu| (mu - grand).powi(2)).sum::<f64>() / (m as f64 - 1.0)
    } else {
        0.0
    };
    let var_plus = w * (n as f64 - 1.0) / n as f64 + b_over_n;
    if var_plus <= 0.0 || !var_plus.is_finite() {
        return (m * n) as f64;
    }
    let rho = |lag: usize| -> f64 { 1.0 - (w - mean_acov(lag)) / var_plus };
    // Geyer: sum pairs Γ_k = ρ_{2k} + ρ_{2k+1} while positive, enforcing monotonicity.
    let mut sum = 0.0;
    let mut prev = f64::INFINITY;
    let mut k = 0;
    while 2 * k + 1 < n {
        let mut gamma = rho(2 * k) + rho(2 * k + 1);
        if gamma <= 0.0 {
            break;
        }
        gamma = gamma.min(prev);
        prev = gamma;
        sum += gamma;
        k += 1;
    }
    let tau = (2.0 * sum - 1.0).max(1.0 / ((m * n) as f64).log10().max(1.0));
    (m * n) as f64 / tau
}

/// Split-R̂ (Gelman et al., BDA3): each chain is split in halves, then the potential scale
/// reduction of the 2·`chains` halves. ≈1 for converged chains.
pub fn split_rhat(chains: &[Vec<f64>]) -> f64 {
    let n = chains.iter().map(Vec::len).min().unwrap_or(0) / 2;
    if n < 2 {
        return f64::NAN;
    }
    let halves: Vec<&[f64]> = chains
        .iter()
        .flat_map(|c| [&c[..n], &c[n..2 * n]])
        .collect();
    let m = halves.len() as f64;
    let nf = n as f64;
    let means: Vec<f64> = halves.iter().map(|h| h.iter().sum::<f64>() / nf).collect();
    let grand = means.iter().sum::<f64>() / m;
    let b = nf / (m - 1.0) * means.iter().map(|mu| (mu - grand).powi(2)).sum::<f64>();
    let w = halves
        .iter()
        .zip(&means)
        .map(|(h, mu)| h.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / (nf - 1.0))
        .sum::<f64>()
        / m;
    let var_plus = (nf - 1.0) / nf * w + b / nf;
    (var_plus / w).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};

    fn ar1(phi: f64, n: usize, rng: &mut StdRng) -> Vec<f64> {
        let mut x = 0.0;
        let sd = (1.0 - phi * phi).sqrt();
        let mut out = Vec::with_capacity(n);
        // start from stationarity
        let x0: f64 = StandardNormal.sample(rng);
        x += x0;
        for _ in 0..n {
            let e: f64 = StandardNormal.sample(rng);
            x = phi * x + sd * e;
            out.push(x);
        }
        out
    }

    /// docs/SAMPLER-TESTING.md item 11: AR(1) with known τ = (1+φ)/(1−φ); ESS within 10% of N/τ.
    #[test]
    fn ess_matches_ar1_theory() {
        let mut rng = StdRng::seed_from_u64(11);
        let phi = 0.8;
        let chains: Vec<Vec<f64>> = (0..8).map(|_| ar1(phi, 20_000, &mut rng)).collect();
        let ess = effective_sample_size(&chains);
        let expected = 8.0 * 20_000.0 * (1.0 - phi) / (1.0 + phi);
        assert!(
            (ess / expected - 1.0).abs() < 0.10,
            "ESS {ess} vs theory {expected}"
        );
    }

    #[test]
    fn rhat_of_iid_chains_is_one() {
        let mut rng = StdRng::seed_from_u64(12);
        let chains: Vec<Vec<f64>> = (0..4).map(|_| ar1(0.0, 5_000, &mut rng)).collect();
        let r = split_rhat(&chains);
        assert!((0.995..=1.01).contains(&r), "R-hat {r}");
        let shifted: Vec<Vec<f64>> = chains
            .iter()
            .enumerate()
            .map(|(i, c)| c.iter().map(|v| v + i as f64).collect())
            .collect();
        assert!(split_rhat(&shifted) > 1.1);
    }
}
