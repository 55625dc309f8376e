//! Benchmarks: Algorithm A on 10⁵ values, DerSimonian–Laird on 10⁴
//! laboratories, and a 10⁶-trial Monte Carlo of the GUM H.2 model.
//!
//! Run with `cargo bench -p jiliang-metrology`.

use criterion::{Criterion, criterion_group, criterion_main};
use jiliang_metrology::montecarlo::{Input, McOptions, monte_carlo};
use jiliang_metrology::reference::{KcLab, KcrvMethod, KcrvOptions, reference_value};
use jiliang_metrology::rng::Xoshiro256pp;
use jiliang_metrology::robust::{AlgorithmAOptions, StoppingRule, algorithm_a};
use std::hint::black_box;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let mut rng = Xoshiro256pp::new(42);
    // Normal data with 5 % gross outliers.
    let data: Vec<f64> = (0..100_000)
        .map(|i| {
            let z = rng.normal();
            if i % 20 == 0 { 10.0 + 5.0 * z } else { z }
        })
        .collect();
    let mut g = c.benchmark_group("metrology");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("algorithm_a_1e5_third_sig_fig", |b| {
        b.iter(|| algorithm_a(black_box(&data), &AlgorithmAOptions::default()))
    });
    let full = AlgorithmAOptions {
        stopping: StoppingRule::FullConvergence,
        ..AlgorithmAOptions::default()
    };
    g.bench_function("algorithm_a_1e5_full_convergence", |b| {
        b.iter(|| algorithm_a(black_box(&data), &full))
    });

    let labs: Vec<KcLab> = (0..10_000)
        .map(|i| KcLab {
            id: format!("L{i}"),
            value: 1.0 + 0.01 * rng.normal(),
            u: 0.005 + 0.01 * rng.next_f64(),
            included: true,
        })
        .collect();
    let dl = KcrvOptions {
        method: KcrvMethod::DersimonianLaird,
        ..KcrvOptions::default()
    };
    g.bench_function("dersimonian_laird_1e4_labs_with_doe", |b| {
        b.iter(|| reference_value(black_box(&labs), &dl))
    });

    // GUM H.2: X = V/I·sin φ from the means of (V, I, φ) with GUM Table H.2's
    // standard uncertainties u(V̄) = 0.0032 V, u(Ī) = 0.0095 mA,
    // u(φ̄) = 0.00075 rad and correlations r(V, I) = −0.36, r(V, φ) = 0.86,
    // r(I, φ) = −0.65; covariance u_i·r_ij·u_j.
    let u = [0.0032, 0.0095e-3, 0.00075];
    let r = [[1.0, -0.36, 0.86], [-0.36, 1.0, -0.65], [0.86, -0.65, 1.0]];
    let covariance: Vec<Vec<f64>> = (0..3)
        .map(|i| (0..3).map(|j| u[i] * r[i][j] * u[j]).collect())
        .collect();
    let inputs = [Input::MultivariateNormal {
        mean: vec![4.9990, 19.6610e-3, 1.04446],
        covariance,
    }];
    let o = McOptions::default();
    g.bench_function("monte_carlo_1e6_gum_h2_reactance", |b| {
        b.iter(|| monte_carlo(black_box(&inputs), |x| x[0] / x[1] * x[2].sin(), &o))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
