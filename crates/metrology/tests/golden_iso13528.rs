//! Golden tests: every figure of /work/shared/reference/iso13528-annex-e.md
//! (ISO 13528:2022 Annex E and GUM H.2), each matched to half of its last
//! printed digit.

use jiliang_metrology::propagation::{
    mean_and_covariance_of_mean, propagate, propagate_per_observation, propagate_with_jacobian,
};
use jiliang_metrology::pt::{
    AssignedMethod, PtOptions, SigmaPtMethod, evaluate_round, homogeneity, stability,
};
use jiliang_metrology::robust::{AlgorithmAOptions, StoppingRule, algorithm_a};
use jiliang_metrology::scores::{Assigned, EnRule, LabResult, ScoreOptions, score_labs};
use jiliang_metrology::stats;

/// `actual` agrees with the printed figure to half of its last digit.
#[track_caller]
fn printed(actual: f64, figure: &str) {
    let published: f64 = figure.parse().expect("figure parses");
    let decimals = figure.split('.').nth(1).map_or(0, str::len) as i32;
    let tol = 0.5 * 10f64.powi(-decimals);
    assert!(
        (actual - published).abs() <= tol * (1.0 + 1e-9),
        "computed {actual} does not print as {figure} (tolerance {tol})"
    );
}

const E3: &str =
    "0.040 0.055 0.178 0.202 0.206 0.227 0.228 0.230 0.230 0.235 0.236 0.237 0.243 0.244
0.245 0.2555 0.260 0.264 0.267 0.270 0.273 0.274 0.274 0.278 0.2811 0.287 0.287 0.288
0.289 0.295 0.296 0.311 0.331 0.4246";

fn parse(s: &str) -> Vec<f64> {
    s.split_whitespace()
        .map(|v| v.parse().expect("number"))
        .collect()
}

fn opts(stopping: StoppingRule) -> AlgorithmAOptions {
    AlgorithmAOptions {
        stopping,
        ..AlgorithmAOptions::default()
    }
}

#[test]
fn e3_atrazine_median_niqr_made() {
    let x = parse(E3);
    assert_eq!(x.len(), 34);
    let p = (x.len() as f64).sqrt();
    let med = stats::median(&x).expect("median");
    let niqr = stats::niqr(&x).expect("nIQR");
    printed(med, "0.2620");
    printed(niqr, "0.0402");
    printed(stats::made(&x).expect("MADe"), "0.0386");
    printed(1.25 * niqr / p, "0.0086");
}

#[test]
fn e3_atrazine_algorithm_a_and_mean() {
    let x = parse(E3);
    let a = algorithm_a(&x, &opts(StoppingRule::ThirdSignificantFigure)).expect("A");
    printed(a.x_star, "0.2570");
    printed(a.s_star, "0.0395");
    printed(a.u_x_star, "0.0085");
    printed(a.x_star, "0.25701");
    printed(a.s_star, "0.03950");
    assert!(a.converged && a.iterations > 1);
    let full = algorithm_a(&x, &opts(StoppingRule::FullConvergence)).expect("A full");
    printed(full.x_star, "0.257011");
    printed(full.s_star, "0.039520");
    assert!(full.converged && full.iterations > a.iterations);
    printed(stats::mean(&x).expect("mean"), "0.2512");
    printed(stats::std_dev(&x).expect("sd"), "0.0672");
}

#[test]
fn e3_pt_round_with_median_and_algorithm_a() {
    let labs: Vec<LabResult> = parse(E3)
        .into_iter()
        .enumerate()
        .map(|(i, v)| LabResult {
            id: format!("L{i:02}"),
            value: v,
            expanded_uncertainty: None,
            coverage_factor: None,
        })
        .collect();
    let r = evaluate_round(
        &labs,
        &PtOptions {
            assigned: AssignedMethod::Median,
            ..PtOptions::default()
        },
    )
    .expect("round");
    printed(r.x_pt, "0.2620");
    printed(r.u_x_pt, "0.0086");
    printed(r.summary.niqr, "0.0402");
    printed(r.summary.made, "0.0386");
    let r = evaluate_round(&labs, &PtOptions::default()).expect("round");
    printed(r.x_pt, "0.2570");
    printed(r.u_x_pt, "0.0085");
    printed(r.sigma_pt, "0.0395");
    assert_eq!(r.options.sigma_pt, SigmaPtMethod::RobustSd);
}

#[test]
fn e1_below_loq_ignored_and_deleted() {
    let ignored = parse("10 10 12 19 20 20 23 23 25 25 26 28 28 30 28 29 30 30 31 32 32 45 50");
    assert_eq!(ignored.len(), 23);
    let a = algorithm_a(&ignored, &AlgorithmAOptions::default()).expect("A");
    printed(a.x_star, "26.01");
    printed(a.s_star, "7.23");
    let deleted = parse("12 19 20 23 23 25 25 26 28 28 28 29 30 30 31 32 32 45");
    assert_eq!(deleted.len(), 18);
    let a = algorithm_a(&deleted, &AlgorithmAOptions::default()).expect("A");
    printed(a.x_star, "26.81");
    printed(a.s_star, "5.29");
}

const E4: &str = "L04 0.013  0.003   2     -70.5 -4.70 -3.99 -7.10 -3.55
L05 0.013  0.007   2     -70.5 -4.70 -3.99 -5.75 -2.88
L23 0.0135 0.00108 1.732 -69.3 -4.62 -3.93 -7.35 -3.69
L02 0.014  0.004   2     -68.2 -4.55 -3.86 -6.58 -3.29
L15 0.014  0.0005  2     -68.2 -4.55 -3.86 -7.30 -3.65
L06 0.016  0.003   2     -63.6 -4.24 -3.60 -6.41 -3.21
L09 0.017  0.008   2     -61.4 -4.09 -3.47 -4.71 -2.36
L26 0.019  0.003   2     -56.8 -3.79 -3.22 -5.73 -2.86
L12 0.0239 0.0036  2     -45.7 -3.05 -2.59 -4.49 -2.24
L03 0.037  0.013   2     -15.9 -1.06 -0.90 -0.91 -0.46
L29 0.039  0.007   2     -11.4 -0.76 -0.64 -0.93 -0.46
L07 0.04   0.008   2      -9.1 -0.61 -0.51 -0.70 -0.35
L21 0.04   0.03    2      -9.1 -0.61 -0.51 -0.26 -0.13
L25 0.040  0.010   2      -9.1 -0.61 -0.51 -0.62 -0.31
L16 0.0424 0.008   2      -3.6 -0.24 -0.21 -0.28 -0.14
L08 0.044  0.007   2       0.0  0.00  0.00  0.00  0.00
L10 0.045  0.007   2       2.3  0.15  0.13  0.19  0.09
L24 0.045  0.005   2       2.3  0.15  0.13  0.21  0.10
L18 0.046  0.007   2       4.5  0.30  0.26  0.37  0.19
L28 0.049  0.0072  2      11.4  0.76  0.64  0.92  0.46
L01 0.053  0.007   2      20.5  1.36  1.16  1.67  0.83";

fn e4_rows() -> Vec<(LabResult, Vec<String>)> {
    E4.lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let lab = LabResult {
                id: f[0].to_owned(),
                value: f[1].parse().expect("x"),
                expanded_uncertainty: Some(f[2].parse().expect("U")),
                coverage_factor: Some(f[3].parse().expect("k")),
            };
            (lab, f[4..].iter().map(|s| (*s).to_owned()).collect())
        })
        .collect()
}

#[test]
fn e4_mercury_every_score() {
    let rows = e4_rows();
    assert_eq!(rows.len(), 21);
    let labs: Vec<LabResult> = rows.iter().map(|r| r.0.clone()).collect();
    let assigned = Assigned {
        x_pt: 0.044,
        u_x_pt: 0.0082 / 2.0,
        big_u_x_pt: 0.0082,
        sigma_pt: 0.0066,
    };
    let scores = score_labs(&labs, &assigned, &ScoreOptions::default()).expect("scores");
    for (s, (lab, fig)) in scores.iter().zip(&rows) {
        assert_eq!(s.id, lab.id);
        printed(s.d_percent.expect("D%"), &fig[0]);
        printed(s.z, &fig[1]);
        printed(s.z_prime, &fig[2]);
        printed(s.zeta.expect("zeta"), &fig[3]);
        printed(s.en.expect("En"), &fig[4]);
    }
    // Same through a whole round with the given assigned value and σ_pt.
    let round = evaluate_round(
        &labs,
        &PtOptions {
            assigned: AssignedMethod::Given {
                x_pt: 0.044,
                u_x_pt: 0.0041,
            },
            sigma_pt: SigmaPtMethod::Given { sigma_pt: 0.0066 },
            en_rule: EnRule::Jjf1117,
            ..PtOptions::default()
        },
    )
    .expect("round");
    printed(round.big_u_x_pt, "0.0082");
    assert!(
        !round.u_x_pt_negligible,
        "0.0041 > 0.3 x 0.0066: z' is the score to use"
    );
    for (s, (_, fig)) in round.scores.iter().zip(&rows) {
        printed(s.zeta.expect("zeta"), &fig[3]);
        printed(s.en.expect("En"), &fig[4]);
    }
}

#[test]
fn e4_algorithm_a_on_the_21_values() {
    let x: Vec<f64> = e4_rows().iter().map(|r| r.0.value).collect();
    let a = algorithm_a(&x, &AlgorithmAOptions::default()).expect("A");
    printed(a.x_star, "0.03161");
    printed(a.s_star, "0.0164");
    printed(a.u_x_star, "0.0045");
    printed(1.25 * a.s_star / 21f64.sqrt(), "0.0045");
}

#[test]
fn e2_homogeneity_and_stability() {
    let pairs = [
        (0.185, 0.194),
        (0.187, 0.189),
        (0.182, 0.186),
        (0.188, 0.196),
        (0.191, 0.181),
        (0.188, 0.180),
        (0.187, 0.196),
        (0.177, 0.186),
        (0.179, 0.187),
        (0.188, 0.196),
    ];
    // σ_pt = 0.15 × general mean; compute the mean first.
    let probe = homogeneity(&pairs, 1.0).expect("probe");
    let sigma_pt = 0.15 * probe.mean;
    let h = homogeneity(&pairs, sigma_pt).expect("homogeneity");
    printed(h.mean, "0.18715");
    printed(h.s_x, "0.00398");
    printed(h.s_w, "0.00556");
    printed(h.s_s, "0.00060");
    printed(h.sigma_pt, "0.02807");
    printed(h.limit, "0.00842");
    assert!(h.homogeneous);
    let st = stability(h.mean, &[0.191, 0.198, 0.190, 0.196], sigma_pt).expect("stability");
    printed(st.mean_stability, "0.19375");
    printed(st.difference, "0.00660");
    assert!(st.difference < st.limit && st.stable);
}

const H2: [[f64; 3]; 5] = [
    [5.007, 19.663e-3, 1.0456],
    [4.994, 19.639e-3, 1.0438],
    [5.005, 19.640e-3, 1.0468],
    [4.990, 19.685e-3, 1.0428],
    [4.999, 19.678e-3, 1.0433],
];

fn rxz(v: &[f64]) -> Vec<f64> {
    let (volt, amp, phi) = (v[0], v[1], v[2]);
    let z = volt / amp;
    vec![z * phi.cos(), z * phi.sin(), z]
}

#[test]
fn gum_h2_approach_1_numeric_jacobian() {
    let obs: Vec<Vec<f64>> = H2.iter().map(|r| r.to_vec()).collect();
    let (mean, cov) = mean_and_covariance_of_mean(&obs).expect("cov");
    let p = propagate(&mean, &cov, rxz).expect("propagate");
    printed(p.outputs[0], "127.732");
    printed(p.outputs[1], "219.847");
    printed(p.outputs[2], "254.260");
    printed(p.u[0], "0.071");
    printed(p.u[1], "0.2956");
    printed(p.u[1], "0.296");
    printed(p.u[2], "0.236");
    printed(p.correlation[0][1], "-0.588");
    printed(p.correlation[0][2], "-0.485");
    printed(p.correlation[1][2], "0.993");
}

#[test]
fn gum_h2_approach_1_analytic_jacobian() {
    let obs: Vec<Vec<f64>> = H2.iter().map(|r| r.to_vec()).collect();
    let (m, cov) = mean_and_covariance_of_mean(&obs).expect("cov");
    let (v, i, phi) = (m[0], m[1], m[2]);
    let z = v / i;
    let jac = vec![
        vec![phi.cos() / i, -z * phi.cos() / i, -z * phi.sin()],
        vec![phi.sin() / i, -z * phi.sin() / i, z * phi.cos()],
        vec![1.0 / i, -z / i, 0.0],
    ];
    let p = propagate_with_jacobian(rxz(&m), jac, &cov).expect("propagate");
    printed(p.u[0], "0.071");
    printed(p.u[1], "0.2956");
    printed(p.u[2], "0.236");
    printed(p.correlation[0][1], "-0.588");
    printed(p.correlation[0][2], "-0.485");
    printed(p.correlation[1][2], "0.993");
}

#[test]
fn gum_h2_approach_2_per_observation() {
    let obs: Vec<Vec<f64>> = H2.iter().map(|r| r.to_vec()).collect();
    let p = propagate_per_observation(&obs, rxz).expect("per observation");
    printed(p.means[0], "127.732");
    printed(p.means[1], "219.847");
    printed(p.means[2], "254.260");
    printed(p.u[1], "0.2955");
    printed(p.u[1], "0.295");
}
