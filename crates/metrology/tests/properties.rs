//! Property tests: invariants of the estimators and "never panic, never NaN"
//! on arbitrary (also non-finite) input.

use jiliang_metrology::budget::{
    Budget, BudgetOptions, Contribution, Correlation, RoundingMode, round_result,
};
use jiliang_metrology::comparison::{
    PairedOptions, Reading, TypeBInput, compare_point, pair_readings, paired_differences,
};
use jiliang_metrology::conformity::{ConformityOptions, Mpe, assess};
use jiliang_metrology::montecarlo::{Input, McOptions, monte_carlo};
use jiliang_metrology::propagation::propagate;
use jiliang_metrology::pt::{PtOptions, evaluate_round, homogeneity, stability};
use jiliang_metrology::reference::{
    KcLab, KcrvMethod, KcrvOptions, bilateral_doe, dersimonian_laird_tau2, mandel_paule_tau2,
    reference_value,
};
use jiliang_metrology::robust::{
    AlgorithmAOptions, AlgorithmSOptions, StoppingRule, algorithm_a, algorithm_s,
};
use jiliang_metrology::scores::{EnRule, LabResult, en_score};
use jiliang_metrology::special;
use jiliang_metrology::stats;
use proptest::prelude::*;

/// Any f64 with the awkward values over-represented.
fn wild() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e3..1e3f64,
        2 => any::<f64>(),
        1 => Just(0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(f64::MAX),
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(1e-300),
    ]
}

/// The Debug text of a successful result must not contain NaN.
fn no_nan<T: std::fmt::Debug>(
    r: &Result<T, jiliang_metrology::MetrologyError>,
) -> Result<(), TestCaseError> {
    if let Ok(v) = r {
        let s = format!("{v:?}");
        prop_assert!(!s.contains("NaN"), "NaN in {s}");
    }
    Ok(())
}

fn labs_from(x: &[f64], u: &[f64]) -> Vec<KcLab> {
    x.iter()
        .zip(u)
        .enumerate()
        .map(|(i, (&value, &u))| KcLab {
            id: format!("L{i}"),
            value,
            u,
            included: i % 5 != 4,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn weighted_mean_within_range(xu in prop::collection::vec((-1e3..1e3f64, 1e-3..10.0f64), 1..30)) {
        let (x, u): (Vec<f64>, Vec<f64>) = xu.into_iter().unzip();
        let labs: Vec<KcLab> = labs_from(&x, &u).into_iter().map(|mut l| { l.included = true; l }).collect();
        let r = reference_value(&labs, &KcrvOptions { method: KcrvMethod::WeightedMean, ..KcrvOptions::default() }).expect("wm");
        let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        prop_assert!(r.value >= lo - 1e-9 * lo.abs().max(1.0) && r.value <= hi + 1e-9 * hi.abs().max(1.0));
        for d in &r.doe {
            prop_assert!(d.u_d >= 0.0 && d.u_d <= labs.iter().map(|l| l.u).fold(0.0, f64::max) + 1e-12);
        }
    }

    #[test]
    fn algorithm_a_equivariance(
        x in prop::collection::vec(-100.0..100.0f64, 3..40),
        shift in -1e3..1e3f64,
        scale in prop_oneof![0.01..100.0f64, -100.0..-0.01f64],
    ) {
        let o = AlgorithmAOptions { stopping: StoppingRule::FullConvergence, max_iterations: 5000 };
        let a = algorithm_a(&x, &o).expect("A");
        let y: Vec<f64> = x.iter().map(|v| shift + scale * v).collect();
        let b = algorithm_a(&y, &o).expect("A");
        let tol = 1e-7 * (a.s_star * scale.abs() + shift.abs() + 1e-9);
        prop_assert!((b.x_star - (shift + scale * a.x_star)).abs() <= tol + 1e-7 * b.s_star,
            "{} vs {}", b.x_star, shift + scale * a.x_star);
        prop_assert!((b.s_star - scale.abs() * a.s_star).abs() <= 1e-7 * b.s_star.max(1e-12) + tol);
    }

    /// The third-significant-figure rule compares x* at the decimal place of
    /// s*'s third figure, so moving every value by a whole number of those
    /// units (here a multiple of 1000 with s* between 0.1 and a few hundred,
    /// whose third figure is at most the units' place) changes nothing: same
    /// iterations, same s*, x* moved by the offset. Comparing x* at its own
    /// third figure would stop a shifted run as soon as s* settled.
    #[test]
    fn algorithm_a_third_figure_rule_is_location_equivariant(
        x in prop::collection::vec(-100.0..100.0f64, 3..40),
        k in prop_oneof![1i32..1000, -1000i32..-1],
    ) {
        let o = AlgorithmAOptions::default();
        let a = algorithm_a(&x, &o).expect("A");
        prop_assume!(a.s_star >= 0.1);
        let offset = 1000.0 * f64::from(k);
        let y: Vec<f64> = x.iter().map(|v| v + offset).collect();
        let b = algorithm_a(&y, &o).expect("A");
        prop_assert!(a.converged && b.converged);
        prop_assert_eq!(a.iterations, b.iterations);
        prop_assert!((b.s_star - a.s_star).abs() <= 1e-7 * a.s_star, "{} vs {}", b.s_star, a.s_star);
        prop_assert!((b.x_star - offset - a.x_star).abs() <= 1e-7 * a.s_star);
    }

    #[test]
    fn en_sign_follows_e(x in -1e3..1e3f64, r in -1e3..1e3f64, ul in 1e-6..10.0f64, ur in 0.0..10.0f64) {
        let c = compare_point(x, ul, r, ur, EnRule::Jjf1117).expect("point");
        prop_assert_eq!(c.en.signum() * c.e.signum() >= 0.0, true);
        prop_assert!(c.e == 0.0 || c.en.signum() == c.e.signum());
        let en = en_score(x, ul, r, ur).expect("en");
        prop_assert!(en == 0.0 || en.signum() == (x - r).signum());
    }

    #[test]
    fn dl_tau2_nonnegative_and_zero_when_consistent(xu in prop::collection::vec((-10.0..10.0f64, 0.01..5.0f64), 2..30)) {
        let (x, u): (Vec<f64>, Vec<f64>) = xu.into_iter().unzip();
        let t = dersimonian_laird_tau2(&x, &u).expect("dl");
        prop_assert!(t >= 0.0);
        let w: f64 = u.iter().map(|v| 1.0 / (v * v)).sum();
        let y: f64 = x.iter().zip(&u).map(|(a, b)| a / (b * b)).sum::<f64>() / w;
        let q: f64 = x.iter().zip(&u).map(|(a, b)| ((a - y) / b).powi(2)).sum();
        if q <= (x.len() - 1) as f64 {
            prop_assert_eq!(t, 0.0);
        } else {
            prop_assert!(t > 0.0);
        }
    }

    #[test]
    fn mp_tau2_solves_its_equation(xu in prop::collection::vec((-10.0..10.0f64, 0.01..5.0f64), 2..30)) {
        let (x, u): (Vec<f64>, Vec<f64>) = xu.into_iter().unzip();
        let (t, _) = mandel_paule_tau2(&x, &u).expect("mp");
        prop_assert!(t >= 0.0);
        let f = |t: f64| {
            let w: Vec<f64> = u.iter().map(|v| 1.0 / (v * v + t)).collect();
            let sw: f64 = w.iter().sum();
            let mu: f64 = w.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>() / sw;
            w.iter().zip(&x).map(|(a, b)| a * (b - mu) * (b - mu)).sum::<f64>() - (x.len() - 1) as f64
        };
        if t == 0.0 {
            prop_assert!(f(0.0) <= 1e-9);
        } else {
            prop_assert!(f(t).abs() <= 1e-8 * (x.len() as f64), "F = {}", f(t));
        }
    }

    #[test]
    fn uc_at_least_largest_contribution(cs in prop::collection::vec((0.0..10.0f64, -5.0..5.0f64, 1.0..100.0f64), 1..20)) {
        let b = Budget {
            contributions: cs.iter().enumerate().map(|(i, &(u, c, nu))| Contribution::new(format!("c{i}"), u).with_c(c).with_dof(nu)).collect(),
            correlations: vec![],
        };
        let r = b.evaluate(&BudgetOptions::default()).expect("budget");
        let m = cs.iter().map(|&(u, c, _)| (u * c).abs()).fold(0.0, f64::max);
        prop_assert!(r.u_c >= m * (1.0 - 1e-15));
        let nmin = cs.iter().map(|c| c.2).fold(f64::INFINITY, f64::min);
        if r.u_c > 0.0 {
            prop_assert!(r.nu_eff >= nmin * (1.0 - 1e-9));
        }
    }

    #[test]
    fn t_quantile_decreasing_in_nu(p in 0.55..0.9999f64, nu in 0.5..1e4f64, step in 0.01..100.0f64) {
        let a = special::t_quantile(p, nu).expect("t");
        let b = special::t_quantile(p, nu + step).expect("t");
        let z = special::t_quantile(p, f64::INFINITY).expect("z");
        prop_assert!(b <= a * (1.0 + 1e-12), "t({p},{nu})={a} < t(.., {})={b}", nu + step);
        prop_assert!(z <= b * (1.0 + 1e-12));
        let back = special::t_cdf(a, nu).expect("cdf");
        prop_assert!((back - p).abs() <= 1e-11, "cdf(t) = {back} vs {p}");
    }

    #[test]
    fn special_functions_total(a in wild(), b in wild(), c in wild()) {
        no_nan(&special::t_quantile(a, b))?;
        no_nan(&special::t_cdf(a, b))?;
        no_nan(&special::normal_quantile(a))?;
        no_nan(&special::normal_cdf(a))?;
        no_nan(&special::chi2_sf(a, b))?;
        no_nan(&special::chi2_cdf(a, b))?;
        no_nan(&special::chi2_quantile(a, b))?;
        no_nan(&special::gamma_p(a, b))?;
        no_nan(&special::gamma_q(a, b))?;
        no_nan(&special::beta_inc(a, b, c))?;
        no_nan(&special::ln_gamma(a))?;
        no_nan(&special::t_coverage_factor(a, b))?;
    }

    #[test]
    fn statistics_total(x in prop::collection::vec(wild(), 0..25), p in wild()) {
        no_nan(&stats::mean(&x))?;
        no_nan(&stats::std_dev(&x))?;
        no_nan(&stats::median(&x))?;
        no_nan(&stats::quantile(&x, p))?;
        no_nan(&stats::made(&x))?;
        no_nan(&stats::niqr(&x))?;
        no_nan(&stats::summary(&x))?;
        no_nan(&algorithm_a(&x, &AlgorithmAOptions::default()))?;
        no_nan(&algorithm_a(&x, &AlgorithmAOptions { stopping: StoppingRule::FullConvergence, max_iterations: 200 }))?;
        no_nan(&algorithm_s(&x, &AlgorithmSOptions { dof: p, ..AlgorithmSOptions::default() }))?;
        no_nan(&algorithm_s(&x, &AlgorithmSOptions::default()))?;
        no_nan(&stability(p, &x, 1.0))?;
        let pairs: Vec<(f64, f64)> = x.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0], c[1])).collect();
        no_nan(&homogeneity(&pairs, p))?;
        no_nan(&round_result(p, x.first().copied().unwrap_or(1.0), 2, RoundingMode::HalfEven))?;
    }

    #[test]
    fn pt_and_reference_total(rows in prop::collection::vec((wild(), wild(), wild()), 0..12), k in wild()) {
        let labs: Vec<LabResult> = rows.iter().enumerate().map(|(i, &(v, u, kk))| LabResult {
            id: format!("L{i}"),
            value: v,
            expanded_uncertainty: if i % 3 == 0 { None } else { Some(u) },
            coverage_factor: if i % 2 == 0 { None } else { Some(kk) },
        }).collect();
        no_nan(&evaluate_round(&labs, &PtOptions::default()))?;
        no_nan(&evaluate_round(&labs, &PtOptions { coverage_factor: k, ..PtOptions::default() }))?;
        let x: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let u: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let kl = labs_from(&x, &u);
        for method in [KcrvMethod::WeightedMean, KcrvMethod::DersimonianLaird, KcrvMethod::MandelPaule,
                       KcrvMethod::ArithmeticMean, KcrvMethod::Median, KcrvMethod::AlgorithmA, KcrvMethod::Auto] {
            no_nan(&reference_value(&kl, &KcrvOptions { method, ..KcrvOptions::default() }))?;
            no_nan(&reference_value(&kl, &KcrvOptions { method, coverage_factor: k, alpha: k, ..KcrvOptions::default() }))?;
        }
        no_nan(&bilateral_doe(&kl, k))?;
        no_nan(&dersimonian_laird_tau2(&x, &u))?;
        no_nan(&mandel_paule_tau2(&x, &u))?;
    }

    #[test]
    fn comparison_conformity_budget_total(
        a in wild(), b in wild(), c in wild(), d in wild(),
        ts in prop::collection::vec((any::<i64>(), wild()), 0..10),
        rs in prop::collection::vec((-1000i64..1000, wild()), 0..10),
        tol in any::<i64>(),
    ) {
        no_nan(&compare_point(a, b, c, d, EnRule::Iso13528))?;
        let lab: Vec<Reading> = ts.iter().map(|&(t, v)| Reading { t_us: t, value: v }).collect();
        let reference: Vec<Reading> = rs.iter().map(|&(t, v)| Reading { t_us: t, value: v }).collect();
        let p = pair_readings(&lab, &reference, tol);
        no_nan(&p)?;
        if let Ok(p) = &p {
            // Nothing is silently dropped.
            prop_assert_eq!(p.pairs.len() + p.unpaired_lab.len(), lab.len());
            prop_assert_eq!(p.pairs.len() + p.unpaired_ref.len(), reference.len());
        }
        let diffs: Vec<f64> = ts.iter().map(|t| t.1).collect();
        no_nan(&paired_differences(&diffs, TypeBInput { u: a, dof: b }, TypeBInput { u: c, dof: d }, &PairedOptions::default()))?;
        for mpe in [Mpe::Absolute { value: a }, Mpe::Relative { percent: b }, Mpe::Fiducial { percent: b, span: c },
                    Mpe::ReadingPlusRange { reading_percent: a, range_percent: b, range: c },
                    Mpe::ReadingPlusDigits { reading_percent: a, digits: b, resolution: d }] {
            no_nan(&assess(a, b, &mpe, c, &ConformityOptions::default()))?;
            no_nan(&assess(a, b, &mpe, c, &ConformityOptions { ratio: d, ..ConformityOptions::default() }))?;
        }
        let budget = Budget {
            contributions: vec![Contribution::new("a", a).with_c(b).with_dof(c), Contribution::new("b", d).with_dof(a)],
            correlations: vec![Correlation { i: 0, j: 1, r: c }],
        };
        no_nan(&budget.evaluate(&BudgetOptions::default()))?;
        no_nan(&propagate(&[a, b], &[vec![c, 0.0], vec![0.0, d]], |x| vec![x[0] * x[1], x[0] + x[1]]))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn monte_carlo_total(a in wild(), b in wild(), seed in any::<u64>(), trials in 0usize..300) {
        let inputs = vec![
            Input::Normal { mean: a, sd: b },
            Input::Rectangular { mean: b, half_width: a },
            Input::StudentT { mean: a, scale: 1.0, dof: b },
            Input::MultivariateNormal { mean: vec![a, 0.0], covariance: vec![vec![1.0, b], vec![b, 1.0]] },
        ];
        let o = McOptions { trials, seed, coverage: 0.95, adaptive: None };
        no_nan(&monte_carlo(&inputs, |x| x.iter().sum(), &o))?;
        no_nan(&monte_carlo(&inputs, |x| x[0] / x[1], &o))?;
        no_nan(&monte_carlo(&[Input::Normal { mean: 0.0, sd: 1.0 }], |x| x[0], &McOptions { coverage: a, trials, seed, adaptive: None }))?;
    }
}
