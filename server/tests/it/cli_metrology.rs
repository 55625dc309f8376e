//! `jiliang compare`, `jiliang budget` and `jiliang conformity` as a user runs
//! them: the published ISO 13528 Annex E and GUM H.1 figures to their printed
//! digits, key-comparison formulas recomputed here independently, the JSON
//! shapes key by key, and every bad input as one stderr line with exit 2.

use std::collections::BTreeSet;
use std::process::Output;

use crate::common::cli::{Temp, fixture, jiliang, json, keys, stderr, stdout};

use serde_json::Value;

fn num(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

/// `actual` agrees with the printed figure to half of its last digit.
#[track_caller]
fn printed(actual: f64, figure: &str) {
    let published: f64 = figure.parse().expect("figure parses");
    let decimals = figure.split('.').nth(1).map_or(0, str::len) as i32;
    let tol = 0.5 * 10f64.powi(-decimals);
    assert!(
        (actual - published).abs() <= tol * (1.0 + 1e-9),
        "computed {actual} does not print as {figure}"
    );
}

#[track_caller]
fn close(actual: f64, expected: f64, rel: f64) {
    assert!(
        (actual - expected).abs() <= rel * expected.abs().max(1e-300),
        "{actual} != {expected} (relative tolerance {rel})"
    );
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn lab<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["labs"]
        .as_array()
        .expect("labs")
        .iter()
        .find(|l| l["lab"] == id)
        .unwrap_or_else(|| panic!("lab {id} missing"))
}

/// Exit code 2, exactly one line on stderr containing every `needle`.
#[track_caller]
fn input_error(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stderr: {err} stdout: {}",
        stdout(o)
    );
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} missing from {err:?}");
    }
}

// ---------------------------------------------------------------------------
// ISO 13528 Annex E
// ---------------------------------------------------------------------------

#[test]
fn e3_atrazine_algorithm_a() {
    let f = fixture("iso13528_e3_atrazine.csv");
    let r = json(&["compare", "--input", &f, "--method", "algorithm-a"]);
    assert_eq!(r["method"], "algorithm-a");
    printed(num(&r["reference"]["value"]), "0.2570");
    printed(num(&r["reference"]["u"]), "0.0085");
    // Third-significant-figure stopping rule.
    printed(num(&r["robust"]["x_star"]), "0.25701");
    printed(num(&r["robust"]["s_star"]), "0.03950");
    assert!(r["robust"]["iterations"].as_u64().expect("iterations") > 1);
    assert_eq!(r["consistency"], Value::Null);
    assert_eq!(r["tau"], Value::Null);
    assert_eq!(r["labs"].as_array().expect("labs").len(), 34);
    // No uncertainties and no σ_pt: only d and D% apply.
    let p01 = lab(&r, "P01");
    close(num(&p01["d"]), 0.040 - num(&r["reference"]["value"]), 1e-12);
    for k in ["u", "u_d", "U_d", "en", "z", "z_prime", "zeta", "verdict"] {
        assert_eq!(p01[k], Value::Null, "{k}");
    }

    let o = jiliang(&["compare", "--input", &f, "--method", "algorithm-a"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("method: algorithm-a"), "{text}");
    assert!(text.contains("reference: 0.2570, u = 0.0085"), "{text}");
    assert!(text.contains("x* = 0.25701, s* = 0.03950"), "{text}");
}

#[test]
fn e3_atrazine_algorithm_a_with_sigma_pt_gives_z_verdicts() {
    let f = fixture("iso13528_e3_atrazine.csv");
    let r = json(&[
        "compare",
        "--input",
        &f,
        "--method",
        "algorithm-a",
        "--sigma-pt",
        "0.0395",
    ]);
    let x = num(&r["reference"]["value"]);
    let u = num(&r["reference"]["u"]);
    let p34 = lab(&r, "P34");
    close(num(&p34["z"]), (0.4246 - x) / 0.0395, 1e-12);
    close(
        num(&p34["z_prime"]),
        (0.4246 - x) / (0.0395f64 * 0.0395 + u * u).sqrt(),
        1e-12,
    );
    // Without U the verdict is the z classification.
    assert_eq!(p34["verdict"], "unsatisfactory");
    assert_eq!(lab(&r, "P03")["verdict"], "questionable"); // z = −2.0003
    assert_eq!(lab(&r, "P33")["verdict"], "satisfactory"); // z = 1.87
    // u(x_pt) = 0.0085 ≤ 0.3·0.0395: z, not z′, decides.
    assert_eq!(p34["verdict_score"], "z");
}

#[test]
fn verdict_uses_z_prime_when_u_x_pt_is_not_negligible() {
    // d = 2.2, σ_pt = 1: z = 2.2 (questionable). With u(x_pt) = 0.5 > 0.3σ_pt,
    // z′ = 2.2/√1.25 = 1.968 (satisfactory) decides (ISO 13528 9.5).
    let t = Temp::new(
        "z.csv",
        b"lab,value
A,2.2
",
    );
    let run = |u: &str| {
        json(&[
            "compare",
            "--input",
            &t.p(),
            "--assigned",
            "0",
            "--assigned-u",
            u,
            "--sigma-pt",
            "1",
        ])
    };
    let wide = run("0.5");
    let a = &wide["labs"][0];
    close(num(&a["z_prime"]), 2.2 / 1.25f64.sqrt(), 1e-12);
    assert_eq!(
        (&a["verdict"], &a["verdict_score"]),
        (&"satisfactory".into(), &"z_prime".into())
    );
    let narrow = run("0.3");
    let a = &narrow["labs"][0];
    assert_eq!(
        (&a["verdict"], &a["verdict_score"]),
        (&"questionable".into(), &"z".into())
    );
    let text = stdout(&jiliang(&[
        "compare",
        "--input",
        &t.p(),
        "--assigned",
        "0",
        "--assigned-u",
        "0.5",
        "--sigma-pt",
        "1",
    ]));
    let row = text.lines().find(|l| l.starts_with("A ")).expect("row A");
    assert!(row.trim_end().ends_with("satisfactory  z'"), "{row:?}");
}

#[test]
fn e3_atrazine_median() {
    let f = fixture("iso13528_e3_atrazine.csv");
    let r = json(&["compare", "--input", &f, "--method", "median"]);
    assert_eq!(r["method"], "median");
    printed(num(&r["reference"]["value"]), "0.2620");
    // u(x_pt) = 1.25·nIQR/√p, as in ISO 13528 Table E.5.
    printed(num(&r["reference"]["u"]), "0.0086");
    assert_eq!(r["robust"], Value::Null);
    assert_eq!(r["consistency"], Value::Null);

    let o = jiliang(&["compare", "--input", &f, "--method", "median"]);
    assert!(
        stdout(&o).contains("reference: 0.2620, u = 0.0086"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn e3_arithmetic_mean_from_values() {
    let f = fixture("iso13528_e3_atrazine.csv");
    let r = json(&["compare", "--input", &f, "--method", "arithmetic-mean"]);
    printed(num(&r["reference"]["value"]), "0.2512");
    printed(num(&r["reference"]["u"]) * 34f64.sqrt(), "0.0672");
}

/// The published columns of the E.4 fixture: lab → [D%, z, z′, ζ, En].
fn e4_published() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(fixture("iso13528_e4_mercury.csv")).expect("fixture");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("lab,"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_owned(),
                f[4..9].iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect()
}

#[test]
fn e4_mercury_every_score() {
    let f = fixture("iso13528_e4_mercury.csv");
    let r = json(&[
        "compare",
        "--input",
        &f,
        "--assigned",
        "0.044",
        "--assigned-u",
        "0.0041",
        "--sigma-pt",
        "0.0066",
    ]);
    assert_eq!(r["method"], "assigned");
    assert_eq!(r["consistency"], Value::Null);
    printed(num(&r["reference"]["U"]), "0.0082");
    let published = e4_published();
    assert_eq!(published.len(), 21);
    assert_eq!(r["labs"].as_array().expect("labs").len(), 21);
    for (id, fig) in &published {
        let l = lab(&r, id);
        printed(num(&l["d_percent"]), &fig[0]);
        printed(num(&l["z"]), &fig[1]);
        printed(num(&l["z_prime"]), &fig[2]);
        printed(num(&l["zeta"]), &fig[3]);
        printed(num(&l["en"]), &fig[4]);
        // En = d/U(d), ζ = d/u(d).
        close(num(&l["en"]), num(&l["d"]) / num(&l["U_d"]), 1e-12);
        close(num(&l["zeta"]), num(&l["d"]) / num(&l["u_d"]), 1e-12);
        let en = num(&l["en"]);
        let expected = if en.abs() < 1.0 {
            "satisfactory"
        } else {
            "unsatisfactory"
        };
        assert_eq!(l["verdict"], expected, "{id}");
    }
    // L23 reports k = 1.732: u = U/k.
    close(num(&lab(&r, "L23")["u"]), 0.00108 / 1.732, 1e-12);

    let o = jiliang(&[
        "compare",
        "--input",
        &f,
        "--assigned",
        "0.044",
        "--assigned-u",
        "0.0041",
        "--sigma-pt",
        "0.0066",
    ]);
    let text = stdout(&o);
    let l04 = text
        .lines()
        .find(|l| l.starts_with("L04"))
        .expect("L04 row");
    for figure in [
        "-3.55",
        "-4.70",
        "-3.99",
        "-7.10",
        "-70.5",
        "unsatisfactory",
    ] {
        assert!(l04.contains(figure), "{figure} missing from {l04:?}");
    }
}

#[test]
fn en_rule_decides_the_boundary() {
    // d = 5, U = 3, U(x_pt) = 4: En = 5/√(9 + 16) = 1 exactly.
    let t = Temp::new("b.csv", b"lab,value,U\nA,5,3\n");
    let run = |rule: &str| {
        json(&[
            "compare",
            "--input",
            &t.p(),
            "--assigned",
            "0",
            "--assigned-u",
            "2",
            "--en-rule",
            rule,
        ])
    };
    let iso = run("iso13528");
    assert_eq!(num(&iso["labs"][0]["en"]), 1.0);
    assert_eq!(iso["labs"][0]["verdict"], "unsatisfactory");
    assert_eq!(iso["en_rule"], "iso13528");
    assert_eq!(run("jjf1117")["labs"][0]["verdict"], "satisfactory");
}

// ---------------------------------------------------------------------------
// Key-comparison reference values
// ---------------------------------------------------------------------------

/// (lab, x, u) of kc_consistent.csv, u = U/k where U is given.
fn kc_consistent() -> Vec<(&'static str, f64, f64)> {
    vec![
        ("NIM", 0.012, 0.010),
        ("PTB", 0.020, 0.012),
        ("NMIJ", 0.005, 0.030 / 2.0),
        ("KRISS", 0.018, 0.0242 / 2.2),
        ("INRIM, Torino", 0.009, 0.013),
    ]
}

fn kc_inconsistent() -> Vec<(&'static str, f64, f64)> {
    vec![
        ("A", 10.0, 0.1),
        ("B", 10.5, 0.1),
        ("C", 9.7, 0.15),
        ("D", 10.2, 0.1),
        ("E", 9.9, 0.12),
        ("F", 10.8, 0.2),
        ("G", 10.1, 0.1),
    ]
}

/// P(χ²_ν > x) for even ν: e^{−x/2} Σ_{j<ν/2} (x/2)^j / j!.
fn chi2_sf_even(x: f64, nu: usize) -> f64 {
    assert!(nu.is_multiple_of(2));
    let h = x / 2.0;
    let mut term = 1.0;
    let mut sum = 0.0;
    for j in 0..nu / 2 {
        if j > 0 {
            term *= h / j as f64;
        }
        sum += term;
    }
    (-h).exp() * sum
}

/// Weighted mean, its u, χ² of (x, u) with weights 1/(u² + τ²).
fn weighted(data: &[(&str, f64, f64)], tau2: f64) -> (f64, f64) {
    let sw: f64 = data.iter().map(|d| 1.0 / (d.2 * d.2 + tau2)).sum();
    let y = data.iter().map(|d| d.1 / (d.2 * d.2 + tau2)).sum::<f64>() / sw;
    (y, 1.0 / sw.sqrt())
}

fn chi2(data: &[(&str, f64, f64)], y: f64) -> f64 {
    data.iter().map(|d| ((d.1 - y) / d.2).powi(2)).sum()
}

#[test]
fn weighted_mean_consistency_and_degrees_of_equivalence() {
    let f = fixture("kc_consistent.csv");
    let r = json(&["compare", "--input", &f, "--method", "weighted-mean"]);
    let data = kc_consistent();
    let (y, uy) = weighted(&data, 0.0);
    assert_eq!(r["method"], "weighted-mean");
    close(num(&r["reference"]["value"]), y, 1e-12);
    close(num(&r["reference"]["u"]), uy, 1e-12);
    close(num(&r["reference"]["U"]), 2.0 * uy, 1e-12);
    assert_eq!(num(&r["reference"]["k"]), 2.0);
    let q = chi2(&data, y);
    let c = &r["consistency"];
    close(num(&c["chi2"]), q, 1e-10);
    assert_eq!(c["dof"], 4);
    close(num(&c["birge_ratio"]), (q / 4.0).sqrt(), 1e-10);
    close(num(&c["p_value"]), chi2_sf_even(q, 4), 1e-9);
    assert_eq!(c["consistent"], true);
    assert_eq!(r["tau"], Value::Null);
    assert_eq!(r["robust"], Value::Null);
    for (id, x, u) in &data {
        let l = lab(&r, id);
        close(num(&l["u"]), *u, 1e-12);
        close(num(&l["d"]), x - y, 1e-10);
        // Included in a weighted mean: u²(d) = u² − u²(y).
        close(num(&l["u_d"]), (u * u - uy * uy).sqrt(), 1e-10);
        close(num(&l["U_d"]), 2.0 * num(&l["u_d"]), 1e-12);
        close(num(&l["en"]), (x - y) / num(&l["U_d"]), 1e-10);
        // ζ = d/u(d) with the same u(d), so ζ = 2·En.
        close(num(&l["zeta"]), (x - y) / (u * u - uy * uy).sqrt(), 1e-10);
        assert_eq!(l["included"], true);
        assert_eq!(l["verdict"], "satisfactory");
    }
    // auto picks the weighted mean on a consistent set.
    let auto = json(&["compare", "--input", &f]);
    assert_eq!(auto["method"], "weighted-mean");
    assert_eq!(auto["method_requested"], "auto");
    close(num(&auto["reference"]["value"]), y, 1e-12);

    let o = jiliang(&["compare", "--input", &f]);
    let text = stdout(&o);
    assert!(
        text.starts_with("method: weighted-mean (auto: chi-squared test passed at 5 %)"),
        "{text}"
    );
    assert!(text.contains("INRIM, Torino"), "quoted lab name: {text}");
    assert!(text.contains("consistent at 5 %"), "{text}");
}

#[test]
fn excluded_lab_gets_a_degree_of_equivalence() {
    let f = fixture("kc_consistent.csv");
    let r = json(&[
        "compare",
        "--input",
        &f,
        "--method",
        "weighted-mean",
        "--exclude",
        "NMIJ",
    ]);
    let all = kc_consistent();
    let inside: Vec<_> = all.iter().copied().filter(|d| d.0 != "NMIJ").collect();
    let (y, uy) = weighted(&inside, 0.0);
    close(num(&r["reference"]["value"]), y, 1e-12);
    assert_eq!(r["consistency"]["dof"], 3);
    for (id, x, u) in &all {
        let l = lab(&r, id);
        close(num(&l["d"]), x - y, 1e-10);
        if *id == "NMIJ" {
            assert_eq!(l["included"], false);
            // Excluded: u²(d) = u² + u²(y).
            close(num(&l["u_d"]), (u * u + uy * uy).sqrt(), 1e-10);
        } else {
            assert_eq!(l["included"], true);
            close(num(&l["u_d"]), (u * u - uy * uy).sqrt(), 1e-10);
        }
    }
}

#[test]
fn auto_switches_to_dersimonian_laird_on_an_inconsistent_set() {
    let f = fixture("kc_inconsistent.csv");
    let r = json(&["compare", "--input", &f]);
    assert_eq!(r["method"], "dersimonian-laird");
    assert_eq!(r["method_requested"], "auto");
    let data = kc_inconsistent();
    let (y0, _) = weighted(&data, 0.0);
    let q = chi2(&data, y0);
    let c = &r["consistency"];
    close(num(&c["chi2"]), q, 1e-10);
    close(num(&c["p_value"]), chi2_sf_even(q, 6), 1e-8);
    assert_eq!(c["consistent"], false);
    // τ² = (Q − (n − 1))/(Σw − Σw²/Σw), w = 1/u².
    let sw: f64 = data.iter().map(|d| d.2.powi(-2)).sum();
    let sw2: f64 = data.iter().map(|d| d.2.powi(-4)).sum();
    let tau2 = (q - 6.0) / (sw - sw2 / sw);
    close(num(&r["tau"]), tau2.sqrt(), 1e-10);
    let (y, uy) = weighted(&data, tau2);
    close(num(&r["reference"]["value"]), y, 1e-12);
    close(num(&r["reference"]["u"]), uy, 1e-10);
    for (id, x, u) in &data {
        let l = lab(&r, id);
        // Included, random effects: u²(d) = u² + τ² − u²(y).
        close(num(&l["u_d"]), (u * u + tau2 - uy * uy).sqrt(), 1e-10);
        close(num(&l["en"]), (x - y) / (2.0 * num(&l["u_d"])), 1e-10);
        // ζ accounts for τ² and the correlation as u(d) does: ζ = 2·En, never
        // "En 0.65 but ζ 2.28" (B, with d/√(u² + u²(y))).
        close(num(&l["zeta"]), (x - y) / num(&l["u_d"]), 1e-10);
        close(num(&l["zeta"]), 2.0 * num(&l["en"]), 1e-10);
        assert_eq!(l["verdict_score"], "en");
    }
    let b = lab(&r, "B");
    assert!(num(&b["en"]) < 1.0 && num(&b["zeta"]) < 2.0, "{b}");
    assert_eq!(lab(&r, "F")["verdict"], "unsatisfactory");
    let text = stdout(&jiliang(&["compare", "--input", &f]));
    assert!(
        text.starts_with("method: dersimonian-laird (auto: chi-squared test failed at 5 %)"),
        "{text}"
    );
    assert!(text.contains("not consistent at 5 %"), "{text}");
}

#[test]
fn mandel_paule_solves_its_equation() {
    let f = fixture("kc_inconsistent.csv");
    let r = json(&["compare", "--input", &f, "--method", "mandel-paule"]);
    assert_eq!(r["method"], "mandel-paule");
    assert_eq!(r["method_requested"], "mandel-paule");
    let tau = num(&r["tau"]);
    assert!(tau > 0.0);
    let data = kc_inconsistent();
    let (mu, u_mu) = weighted(&data, tau * tau);
    close(num(&r["reference"]["value"]), mu, 1e-10);
    close(num(&r["reference"]["u"]), u_mu, 1e-8);
    // Σ (x − μ)²/(u² + τ²) = n − 1.
    let f_mp: f64 = data
        .iter()
        .map(|d| (d.1 - mu).powi(2) / (d.2 * d.2 + tau * tau))
        .sum();
    close(f_mp, 6.0, 1e-8);
}

#[test]
fn robust_methods_with_uncertainties_use_the_key_comparison_path() {
    let f = fixture("kc_inconsistent.csv");
    let r = json(&["compare", "--input", &f, "--method", "algorithm-a"]);
    assert_eq!(r["method"], "algorithm-a");
    assert!(r["consistency"].is_object(), "χ² is still reported");
    assert!(r["robust"].is_object());
    close(
        num(&r["robust"]["x_star"]),
        num(&r["reference"]["value"]),
        1e-15,
    );
    let r = json(&["compare", "--input", &f, "--method", "median"]);
    assert_eq!(num(&r["reference"]["value"]), 10.1);
    let y = 10.1;
    let uy = num(&r["reference"]["u"]);
    // u(y) = 1.25·nIQR/√n: quartiles 9.95 and 10.35 (linear interpolation of
    // 9.7 9.9 10.0 10.1 10.2 10.5 10.8), nIQR = 0.7413·0.4. (1.25·MADe/√n
    // would be 1.25·1.483·0.2/√7, 3e-4 relatively larger.)
    close(uy, 1.25 * 0.7413 * 0.4 / 7f64.sqrt(), 1e-9);
    // Not linear: u²(d) = u² + u²(y) for every lab.
    close(num(&lab(&r, "A")["u_d"]), (0.01f64 + uy * uy).sqrt(), 1e-10);
    close(num(&lab(&r, "A")["d"]), 10.0 - y, 1e-10);
}

#[test]
fn compare_json_shape() {
    let f = fixture("kc_consistent.csv");
    let r = json(&["compare", "--input", &f, "--sigma-pt", "0.01"]);
    assert_eq!(
        keys(&r),
        set(&[
            "method",
            "method_requested",
            "en_rule",
            "sigma_pt",
            "reference",
            "consistency",
            "tau",
            "robust",
            "labs"
        ])
    );
    assert_eq!(keys(&r["reference"]), set(&["value", "u", "U", "k"]));
    assert_eq!(
        keys(&r["consistency"]),
        set(&["chi2", "dof", "p_value", "birge_ratio", "consistent"])
    );
    let lab_keys = set(&[
        "lab",
        "value",
        "u",
        "included",
        "d",
        "u_d",
        "U_d",
        "en",
        "z",
        "z_prime",
        "zeta",
        "d_percent",
        "verdict",
        "verdict_score",
    ]);
    for l in r["labs"].as_array().expect("labs") {
        assert_eq!(keys(l), lab_keys);
        assert!(l["z"].is_number() && l["z_prime"].is_number());
    }
    let a = json(&[
        "compare",
        "--input",
        &fixture("iso13528_e3_atrazine.csv"),
        "--method",
        "algorithm-a",
    ]);
    assert_eq!(
        keys(&a["robust"]),
        set(&["x_star", "s_star", "iterations", "converged"])
    );
    assert_eq!(a["robust"]["converged"], true);
    assert_eq!(keys(&a["labs"][0]), lab_keys);
    let dl = json(&["compare", "--input", &fixture("kc_inconsistent.csv")]);
    assert!(dl["tau"].is_number());
}

// ---------------------------------------------------------------------------
// Budget and conformity
// ---------------------------------------------------------------------------

#[test]
fn gum_h1_end_gauge_budget() {
    let f = fixture("gum_h1_end_gauge.csv");
    let r = json(&["budget", "--input", &f]);
    assert_eq!(
        keys(&r),
        set(&["u_c", "nu_eff", "k95", "U95", "k99", "U99", "contributions"])
    );
    printed(num(&r["u_c"]), "32");
    let nu = num(&r["nu_eff"]);
    assert!((16.0..17.0).contains(&nu), "{nu}");
    printed(num(&r["k99"]), "2.92");
    printed(num(&r["U99"]), "93");
    close(num(&r["k95"]), 2.119_905_3, 1e-7);
    let lines = r["contributions"].as_array().expect("contributions");
    assert_eq!(lines.len(), 6);
    for l in lines {
        assert_eq!(keys(l), set(&["name", "ci_ui", "share"]));
    }
    assert_eq!(lines[0]["name"], "u(l_s), calibration of the standard");
    // δθ: rectangular ±0.05 → u = 0.05/√3, c = −575: |c·u| = 16.6 nm.
    printed(num(&lines[5]["ci_ui"]), "16.6");
    close(num(&lines[5]["ci_ui"]), 575.0 * 0.05 / 3f64.sqrt(), 1e-12);
    let shares: f64 = lines.iter().map(|l| num(&l["share"])).sum();
    close(shares, 1.0, 1e-12);

    let text = stdout(&jiliang(&["budget", "--input", &f]));
    assert!(text.contains("u_c = 32"), "{text}");
    assert!(text.contains("U99 = 93 (k99 = 2.92)"), "{text}");
}

#[test]
fn budget_infinite_dof_and_correlations() {
    let t = Temp::new("b.csv", b"name,u,c,dof\na,3,1,\nb,4,1,inf\n");
    let r = json(&["budget", "--input", &t.p()]);
    // Infinite ν_eff is null, so the field is always a number or null.
    assert_eq!(r["nu_eff"], Value::Null);
    close(num(&r["u_c"]), 5.0, 1e-15);
    printed(num(&r["k95"]), "1.960");
    // Fully correlated: u_c = 3 + 4.
    let c = Temp::new("r.csv", b"a,b,r\n# by name\nb,a,1\n");
    let r = json(&["budget", "--input", &t.p(), "--correlations", &c.p()]);
    close(num(&r["u_c"]), 7.0, 1e-12);
    let text = stdout(&jiliang(&[
        "budget",
        "--input",
        &t.p(),
        "--correlations",
        &c.p(),
    ]));
    assert!(text.contains("nu_eff = inf"), "{text}");
    assert!(text.contains("correlation"), "{text}");
}

#[test]
fn budget_expanded_uncertainty_with_k() {
    // A certificate's U = 0.5 with k = 2 → u = 0.25; k defaults to 2; an
    // explicit k = 2.5 → 0.4.
    let t = Temp::new(
        "b.csv",
        b"name,u,U,k,distribution
cert,,0.5,2,normal
default,,0.5,,
wide,,1.0,2.5,
plain,0.1,,,
",
    );
    let r = json(&["budget", "--input", &t.p()]);
    let l = r["contributions"].as_array().expect("lines");
    close(num(&l[0]["ci_ui"]), 0.25, 1e-15);
    close(num(&l[1]["ci_ui"]), 0.25, 1e-15);
    close(num(&l[2]["ci_ui"]), 0.4, 1e-15);
    close(num(&l[3]["ci_ui"]), 0.1, 1e-15);
    close(
        num(&r["u_c"]),
        (0.0625f64 + 0.0625 + 0.16 + 0.01).sqrt(),
        1e-14,
    );
}

#[test]
fn budget_rejects_correlations_that_cannot_hold_together() {
    let t = Temp::new(
        "b.csv",
        b"name,u
a,1
b,1
c,1
",
    );
    let run = |corr: &str| {
        let c = Temp::new("corr.csv", corr.as_bytes());
        jiliang(&["budget", "--input", &t.p(), "--correlations", &c.p()])
    };
    // Each |r| ≤ 1 and u_c² = 4.8 > 0, but no three quantities correlate so.
    input_error(
        &run("a,b,r
a,b,0.9
a,c,0.9
b,c,-0.9
"),
        &["corr.csv", "positive semi-definite"],
    );
    // Singular is possible (a fully correlated with b and c).
    let c = Temp::new(
        "corr.csv",
        b"a,b,r
a,b,1
a,c,1
b,c,1
",
    );
    let r = json(&["budget", "--input", &t.p(), "--correlations", &c.p()]);
    close(num(&r["u_c"]), 3.0, 1e-12);
}

#[test]
fn budget_type_b_distributions() {
    let t = Temp::new(
        "b.csv",
        "name,u,distribution,half_width\nr,,rectangular,3\nt,,triangular,6\na,,arcsine,2\nushape,,u,2\nn,1,normal,\n"
            .as_bytes(),
    );
    let r = json(&["budget", "--input", &t.p()]);
    let l = r["contributions"].as_array().expect("lines");
    close(num(&l[0]["ci_ui"]), 3.0 / 3f64.sqrt(), 1e-12);
    close(num(&l[1]["ci_ui"]), 6.0 / 6f64.sqrt(), 1e-12);
    close(num(&l[2]["ci_ui"]), 2.0 / 2f64.sqrt(), 1e-12);
    close(num(&l[3]["ci_ui"]), 2.0 / 2f64.sqrt(), 1e-12);
    close(num(&l[4]["ci_ui"]), 1.0, 1e-12);
}

fn conformity(args: &[&str]) -> Value {
    let mut all = vec!["conformity"];
    all.extend_from_slice(args);
    json(&all)
}

#[test]
fn conformity_both_rule_branches() {
    // Simple acceptance: U95 = 0.005 ≤ 0.02/3.
    let r = conformity(&["--error", "0.012", "--mpe", "0.02", "--U95", "0.005"]);
    assert_eq!(
        (&r["verdict"], &r["rule"]),
        (&"pass".into(), &"simple".into())
    );
    assert_eq!(
        keys(&r),
        set(&[
            "verdict",
            "rule",
            "error",
            "U95",
            "mpe",
            "reading",
            "mpev",
            "uncertainty_negligible",
            "acceptance_limit",
            "rejection_limit"
        ])
    );
    let r = conformity(&["--error", "-0.021", "--mpe", "0.02", "--U95", "0.005"]);
    assert_eq!(
        (&r["verdict"], &r["rule"]),
        (&"fail".into(), &"simple".into())
    );
    // On the limit passes.
    let r = conformity(&["--error", "0.02", "--mpe", "0.02", "--U95", "0.005"]);
    assert_eq!(r["verdict"], "pass");
    // Guard band: U95 = 0.01 > 0.02/3.
    let r = conformity(&["--error", "0.009", "--mpe", "0.02", "--U95", "0.01"]);
    assert_eq!(
        (&r["verdict"], &r["rule"]),
        (&"pass".into(), &"guard-band".into())
    );
    let r = conformity(&["--error", "-0.015", "--mpe", "0.02", "--U95", "0.01"]);
    assert_eq!(r["verdict"], "indeterminate");
    close(num(&r["acceptance_limit"]), 0.01, 1e-12);
    close(num(&r["rejection_limit"]), 0.03, 1e-12);
    let r = conformity(&["--error=-0.031", "--mpe", "0.02", "--U95", "0.01"]);
    assert_eq!(r["verdict"], "fail");
    // Relative MPE: ±0.5 % of a reading of 10 → MPEV = 0.05.
    let r = conformity(&[
        "--error",
        "0.04",
        "--mpe-relative",
        "0.5",
        "--reading",
        "10",
        "--U95",
        "0.01",
    ]);
    close(num(&r["mpev"]), 0.05, 1e-12);
    assert_eq!(r["verdict"], "pass");

    let o = jiliang(&[
        "conformity",
        "--error",
        "-0.015",
        "--mpe",
        "0.02",
        "--U95",
        "0.01",
    ]);
    assert!(o.status.success(), "a verdict is not an error");
    let text = stdout(&o);
    assert!(text.starts_with("verdict: indeterminate"), "{text}");
    assert!(text.contains("guard band"), "{text}");
}

#[test]
fn conformity_every_mpe_form() {
    // Absolute: the MPE is echoed, no reading.
    let r = conformity(&["--error", "0.012", "--mpe", "0.02", "--U95", "0.005"]);
    assert_eq!(
        r["mpe"],
        serde_json::json!({"form": "absolute", "value": 0.02})
    );
    assert_eq!(r["reading"], Value::Null);
    // Relative: ±0.5 % of 10 = 0.05.
    let r = conformity(&[
        "--error",
        "0.04",
        "--mpe-relative",
        "0.5",
        "--reading",
        "10",
        "--U95",
        "0.01",
    ]);
    assert_eq!(
        r["mpe"],
        serde_json::json!({"form": "relative", "percent": 0.5})
    );
    assert_eq!(num(&r["reading"]), 10.0);
    close(num(&r["mpev"]), 0.05, 1e-12);
    // Fiducial, accuracy class 0.5 on a 100 full scale: MPEV = 0.5 at any
    // reading. U95 = 0.1 ≤ 0.5/3: simple acceptance.
    let r = conformity(&[
        "--error",
        "-0.3",
        "--mpe-fiducial",
        "0.5",
        "--full-scale",
        "100",
        "--U95",
        "0.1",
    ]);
    assert_eq!(
        r["mpe"],
        serde_json::json!({"form": "fiducial", "percent": 0.5, "span": 100.0})
    );
    assert_eq!(r["reading"], Value::Null);
    close(num(&r["mpev"]), 0.5, 1e-12);
    assert_eq!(
        (&r["verdict"], &r["rule"]),
        (&"pass".into(), &"simple".into())
    );
    let r = conformity(&[
        "--error",
        "0.51",
        "--mpe-fiducial",
        "0.5",
        "--full-scale",
        "100",
        "--U95",
        "0.1",
    ]);
    assert_eq!(r["verdict"], "fail");
    // ±(0.05 % of reading + 0.01 % of range) at 50 on the 100 range:
    // 0.025 + 0.01 = 0.035; U95 = 0.01 ≤ 0.035/3.
    let args = |e: &'static str| {
        conformity(&[
            "--error",
            e,
            "--mpe-reading-percent",
            "0.05",
            "--reading",
            "50",
            "--mpe-range-percent",
            "0.01",
            "--range",
            "100",
            "--U95",
            "0.01",
        ])
    };
    let r = args("0.03");
    assert_eq!(
        r["mpe"],
        serde_json::json!({"form": "reading-plus-range", "reading_percent": 0.05,
                           "range_percent": 0.01, "range": 100.0})
    );
    close(num(&r["mpev"]), 0.035, 1e-12);
    assert_eq!(r["verdict"], "pass");
    assert_eq!(args("-0.036")["verdict"], "fail");
    // ±(0.5 % of reading + 3 digits of 0.01) at −12.00: 0.06 + 0.03 = 0.09;
    // U95 = 0.04 > 0.03: guard band [0.05, 0.13].
    let args = |e: &'static str| {
        conformity(&[
            "--error",
            e,
            "--mpe-reading-percent",
            "0.5",
            "--reading=-12",
            "--digits",
            "3",
            "--resolution",
            "0.01",
            "--U95",
            "0.04",
        ])
    };
    let r = args("0.06");
    assert_eq!(
        r["mpe"],
        serde_json::json!({"form": "reading-plus-digits", "reading_percent": 0.5,
                           "digits": 3.0, "resolution": 0.01})
    );
    assert_eq!(num(&r["reading"]), -12.0);
    close(num(&r["mpev"]), 0.09, 1e-12);
    assert_eq!(
        (&r["verdict"], &r["rule"]),
        (&"indeterminate".into(), &"guard-band".into())
    );
    assert_eq!(args("0.04")["verdict"], "pass");
    assert_eq!(args("0.13")["verdict"], "fail");

    let o = jiliang(&[
        "conformity",
        "--error",
        "0.3",
        "--mpe-fiducial",
        "0.5",
        "--full-scale",
        "100",
        "--U95",
        "0.1",
    ]);
    let text = stdout(&o);
    assert!(
        text.contains("MPE: ±0.5 % of full scale 100 (fiducial) -> MPEV = 0.5"),
        "{text}"
    );
    let text = stdout(&jiliang(&[
        "conformity",
        "--error",
        "0.06",
        "--mpe-reading-percent",
        "0.5",
        "--reading",
        "12",
        "--digits",
        "3",
        "--resolution",
        "0.01",
        "--U95",
        "0.04",
    ]));
    assert!(
        text.contains("MPE: ±(0.5 % of reading + 3 digits of 0.01) at reading 12 -> MPEV = 0.09"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// Bad input: one line, exit 2, row and column named
// ---------------------------------------------------------------------------

fn compare_file(content: &str, extra: &[&str]) -> Output {
    let t = Temp::new("input.csv", content.as_bytes());
    let mut args = vec!["compare", "--input"];
    let p = t.p();
    args.push(&p);
    args.extend_from_slice(extra);
    jiliang(&args)
}

#[test]
fn compare_bad_inputs() {
    let ok = "lab,value,u\nA,1.0,0.1\nB,1.1,0.1\n";
    input_error(
        &compare_file("lab,u\nA,0.1\n", &[]),
        &["input.csv row 1", "missing column \"value\""],
    );
    input_error(
        &compare_file("# c\nlab,value,u\nA,1,0.1\nB,2,abc\n", &[]),
        &["input.csv row 4, column \"u\": \"abc\" is not a number"],
    );
    // A `#` line among the results could be a commented-out lab or a lab
    // code: refused, never silently dropped.
    input_error(
        &compare_file("lab,value,u\nA,1,0.1\n#C,1.5,0.1\nB,2,0.1\n", &[]),
        &["input.csv row 3", "reads like a row"],
    );
    input_error(
        &compare_file("lab,value,u\nA,1,0.1\nB,2,0\n", &[]),
        &["row 3, column \"u\"", "greater than 0"],
    );
    input_error(
        &compare_file("lab,value,U\nA,1,0.1\nB,2,-0.2\n", &[]),
        &["row 3, column \"U\"", "greater than 0"],
    );
    input_error(
        &compare_file("lab,value,U,k\nA,1,0.1,0\nB,2,0.2,\n", &[]),
        &["row 2, column \"k\""],
    );
    input_error(
        &compare_file("lab,value,u\nA,1,0.1\nB,2,0.1\nA,3,0.1\n", &[]),
        &[
            "row 4, column \"lab\"",
            "\"A\" appears twice (first in row 2)",
        ],
    );
    input_error(
        &compare_file("lab,value,u\nA,1,0.1\nB,x,0.1\n", &[]),
        &["row 3, column \"value\""],
    );
    input_error(
        &compare_file("lab,value,u\nA,1,0.1\nB,NaN,0.1\n", &[]),
        &["row 3, column \"value\"", "not a finite number"],
    );
    input_error(
        &compare_file("lab,value,u\nA,1,0.1\nB,,0.1\n", &[]),
        &["row 3, column \"value\"", "empty"],
    );
    input_error(
        &compare_file("lab,value,u\nA,1,0.1\n,2,0.1\n", &[]),
        &["row 3, column \"lab\"", "empty"],
    );
    // u, U and k together must agree within the rounding of the printed U.
    input_error(
        &compare_file("lab,value,u,U,k\nA,1,0.1,,\nB,2,0.1,0.25,2\n", &[]),
        &[
            "row 3, column \"U\"",
            "U = 0.25 disagrees with k·u = 2 × 0.1 = 0.2",
            "(±0.005)",
        ],
    );
    input_error(
        &compare_file("lab,value,u\nA,1,0.1\nB,2\n", &[]),
        &["row 3", "2 fields, but the header has 3"],
    );
    input_error(
        &compare_file("lab,value,u\n\"A,1,0.1\n", &[]),
        &["row 2", "quote"],
    );
    input_error(
        &compare_file("lab,value,u,dof\nA,1,0.1,0\nB,2,0.1,\n", &[]),
        &["row 2, column \"dof\""],
    );
    input_error(&compare_file("# nothing\n", &[]), &["no header row"]);
    input_error(&compare_file("lab,value\n", &[]), &["no labs"]);
    // Fewer labs than a method needs.
    input_error(
        &compare_file("lab,value,u\nA,1,0.1\n", &["--method", "dersimonian-laird"]),
        &["input.csv", "needs at least 2 labs", "found 1"],
    );
    input_error(
        &compare_file(ok, &["--exclude", "B"]),
        &["needs at least 2 labs", "after --exclude"],
    );
    // Weighted mean without uncertainties.
    input_error(
        &compare_file("lab,value\nA,1\nB,2\n", &["--method", "weighted-mean"]),
        &["row 1", "missing column \"u\""],
    );
    input_error(
        &compare_file(
            "lab,value,u\nA,1,0.1\nB,2,\n",
            &["--method", "mandel-paule"],
        ),
        &["row 3, column \"u\"", "empty"],
    );
    // Unknown excluded lab.
    input_error(
        &compare_file(ok, &["--exclude", "A,Z"]),
        &["--exclude", "\"Z\" is not in", "input.csv"],
    );
    // --assigned without --assigned-u, and the reverse.
    input_error(&compare_file(ok, &["--assigned", "1"]), &["--assigned-u"]);
    input_error(&compare_file(ok, &["--assigned-u", "1"]), &["--assigned"]);
    input_error(
        &compare_file(ok, &["--assigned", "1", "--assigned-u", "0"]),
        &["--assigned-u", "greater than 0"],
    );
    input_error(&compare_file(ok, &["--sigma-pt", "inf"]), &["--sigma-pt"]);
    input_error(&compare_file(ok, &["--method", "mode"]), &["mode"]);
    // Case matters for u and U: "U" alone is an expanded uncertainty.
    let r = compare_file("lab,value,U\nA,1,0.2\nB,1.1,0.2\n", &["--format", "json"]);
    let v: Value = serde_json::from_slice(&r.stdout).expect("json");
    close(num(&lab(&v, "A")["u"]), 0.1, 1e-15);
}

/// A published table prints u, k and U together: the stated figures are
/// used when U agrees with k·u within the rounding of U as printed (half a
/// unit of its last digit), and refused with both figures when not.
#[test]
fn compare_accepts_u_k_and_big_u_together() {
    let run = |csv: &str| {
        let t = Temp::new("table.csv", csv.as_bytes());
        let o = jiliang(&[
            "compare",
            "--input",
            &t.p(),
            "--assigned",
            "1.0",
            "--assigned-u",
            "0.01",
            "--format",
            "json",
        ]);
        (o, t)
    };
    // A: 2 × 0.0263 = 0.0526 prints as 0.053. B: k = 2.2 exactly.
    // C: no k, so k = U/u. D: exactly half a unit off (0.0525 as 0.052).
    // E: U in exponent form, 5.3e-2 = 0.053 ± 0.0005.
    let (o, _t) = run("lab,value,u,k,U
A,1.030,0.0263,2,0.053
B,1.010,0.030,2.2,0.066
C,0.995,0.012,,0.025
D,1.020,0.02625,2,0.052
E,1.040,0.0263,2,5.3e-2
");
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).expect("json");
    let u_pt: f64 = 0.01;
    let big_u_pt = 2.0 * u_pt;
    for (id, x, u, big_u) in [
        ("A", 1.030, 0.0263, 0.053),
        ("B", 1.010, 0.030, 0.066),
        ("C", 0.995, 0.012, 0.025),
        ("D", 1.020, 0.02625, 0.052),
        ("E", 1.040, 0.0263, 0.053),
    ] {
        let l = lab(&r, id);
        // The stated u for ζ, the stated U (not k·u) for En.
        assert_eq!(num(&l["u"]), u, "{id}");
        close(num(&l["zeta"]), (x - 1.0) / u.hypot(u_pt), 1e-12);
        close(num(&l["U_d"]), f64::hypot(big_u, big_u_pt), 1e-12);
        close(
            num(&l["en"]),
            (x - 1.0) / f64::hypot(big_u, big_u_pt),
            1e-12,
        );
    }
    // One more printed digit claims ± 0.00005: 0.0526 is then 0.0004 off.
    let (o, _t) = run("lab,value,u,k,U\nA,1.03,0.0263,2,0.0530\n");
    input_error(
        &o,
        &[
            "table.csv row 2, column \"U\"",
            "U = 0.0530 disagrees with k·u = 2 × 0.0263 = 0.0526",
            "(±0.00005)",
            "leave u or U empty",
        ],
    );
    // Just beyond half a unit.
    let (o, _t) = run("lab,value,u,k,U\nA,1.03,0.02624,2,0.053\n");
    input_error(
        &o,
        &["U = 0.053 disagrees with k·u = 2 × 0.02624 = 0.05248"],
    );
    // A key comparison weighs by the stated u.
    let t = Temp::new(
        "kc.csv",
        b"lab,value,u,U,k\nA,10.0,0.1,0.2,2\nB,10.3,0.1,0.22,\nC,10.1,0.2,,\n",
    );
    let r = json(&["compare", "--input", &t.p(), "--method", "weighted-mean"]);
    let w: [f64; 3] = [100.0, 100.0, 25.0];
    let y = (10.0 * w[0] + 10.3 * w[1] + 10.1 * w[2]) / w.iter().sum::<f64>();
    close(num(&r["reference"]["value"]), y, 1e-12);
    assert_eq!(num(&lab(&r, "B")["u"]), 0.1);
}

/// `budget` reads u, U and k by the same rule as `compare`.
#[test]
fn budget_accepts_u_k_and_big_u_together() {
    let t = Temp::new(
        "b.csv",
        b"name,u,U,k
cert,0.0263,0.053,2
implied,0.1,0.2,
",
    );
    let r = json(&["budget", "--input", &t.p()]);
    let l = r["contributions"].as_array().expect("lines");
    assert_eq!(num(&l[0]["ci_ui"]), 0.0263);
    assert_eq!(num(&l[1]["ci_ui"]), 0.1);
    // u = 0 implies no k: the default applies, and only U = 0 agrees.
    let t = Temp::new("b.csv", b"name,u,U\nzero,0,0\n");
    assert_eq!(num(&json(&["budget", "--input", &t.p()])["u_c"]), 0.0);
    let t = Temp::new("b.csv", b"name,u,U\nzero,0,0.1\n");
    input_error(
        &jiliang(&["budget", "--input", &t.p()]),
        &[
            "b.csv row 2, column \"U\"",
            "U = 0.1 disagrees with k·u = 2 (the default) × 0 = 0",
        ],
    );
}

#[test]
fn unreadable_files_are_input_errors() {
    input_error(
        &jiliang(&["compare", "--input", "/nonexistent/x.csv"]),
        &["cannot read /nonexistent/x.csv", "no such file"],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    input_error(
        &jiliang(&["compare", "--input", &dir.path().display().to_string()]),
        &["cannot read"],
    );
    // GBK-encoded "实验室" from a Chinese spreadsheet.
    let t = Temp::new("gbk.csv", b"lab,value\n\xca\xb5\xd1\xe9\xca\xd2,1\n");
    input_error(
        &jiliang(&["compare", "--input", &t.p(), "--method", "median"]),
        &["row 2", "not UTF-8"],
    );
}

#[test]
fn budget_bad_inputs() {
    let run = |content: &str, corr: Option<&str>| {
        let t = Temp::new("budget.csv", content.as_bytes());
        let c = corr.map(|c| Temp::new("corr.csv", c.as_bytes()));
        let mut args = vec!["budget".to_owned(), "--input".to_owned(), t.p()];
        if let Some(c) = &c {
            args.extend(["--correlations".to_owned(), c.p()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        jiliang(&refs)
    };
    let ok = "name,u,c,dof\na,1,1,\nb,2,0.5,10\n";
    input_error(
        &run("u,c\n1,1\n", None),
        &["row 1", "missing column \"name\""],
    );
    input_error(
        &run("name,u\na,1\nb,-2\n", None),
        &["row 3, column \"u\"", "negative"],
    );
    input_error(
        &run("name,u,c\na,1,x\n", None),
        &["row 2, column \"c\"", "\"x\" is not a number"],
    );
    input_error(
        &run("name,u,dof\na,1,-3\n", None),
        &["row 2, column \"dof\""],
    );
    input_error(
        &run("name,u\na,1\na,2\n", None),
        &["row 3, column \"name\"", "twice"],
    );
    input_error(
        &run("name,u\na,\n", None),
        &["row 2, column \"u\"", "empty"],
    );
    input_error(
        &run("name,u,distribution\na,1,gaussian\n", None),
        &["row 2, column \"distribution\"", "unknown distribution"],
    );
    input_error(
        &run("name,u,distribution,half_width\na,,rectangular,\n", None),
        &["row 2, column \"half_width\"", "empty"],
    );
    input_error(
        &run("name,u,half_width\na,,2\n", None),
        &["row 2, column \"half_width\"", "needs distribution"],
    );
    input_error(
        &run("name,u,distribution,half_width\na,1,rectangular,2\n", None),
        &["row 2, column \"half_width\"", "both u and half_width"],
    );
    input_error(
        &run(ok, Some("a,b,r\na,zz,0.5\n")),
        &[
            "corr.csv row 2, column \"b\"",
            "\"zz\" is not a contribution",
        ],
    );
    input_error(
        &run(ok, Some("a,b,r\na,b,1.5\n")),
        &["corr.csv row 2, column \"r\"", "between -1 and 1"],
    );
    input_error(
        &run(ok, Some("a,b,r\na,a,0.5\n")),
        &["corr.csv row 2, column \"b\"", "itself"],
    );
    input_error(
        &run(ok, Some("a,b,r\na,b,0.5\nb,a,0.1\n")),
        &["corr.csv row 3", "already given in row 2"],
    );
    input_error(
        &run(ok, Some("a,b\n")),
        &["corr.csv row 1", "missing column \"r\""],
    );
    input_error(&run("name,u\n", None), &["no contributions"]);
    input_error(
        &run("name,u,U,k\na,0.1,0.3,2\n", None),
        &[
            "row 2, column \"U\"",
            "U = 0.3 disagrees with k·u = 2 × 0.1 = 0.2",
        ],
    );
    input_error(
        &run("name,U,half_width,distribution\na,0.2,0.1,\n", None),
        &["row 2, column \"U\"", "both U and half_width"],
    );
    input_error(
        &run("name,U,distribution\na,0.2,rectangular\n", None),
        &["row 2, column \"U\"", "normal distribution"],
    );
    input_error(
        &run("name,U,k\na,0.2,0\n", None),
        &["row 2, column \"k\"", "greater than 0"],
    );
    input_error(
        &run("name,u,U,k\na,0.2,,2\n", None),
        &["row 2, column \"k\"", "U is empty"],
    );
    input_error(
        &run("name,U\na,\n", None),
        &["row 2, column \"U\"", "empty; U is needed"],
    );
}

#[test]
fn conformity_bad_mpe_combinations() {
    let c = |args: &[&str]| {
        let mut all = vec!["conformity", "--error", "0.1", "--U95", "0.01"];
        all.extend_from_slice(args);
        jiliang(&all)
    };
    // Two forms at once.
    input_error(
        &c(&["--mpe", "1", "--mpe-fiducial", "0.5", "--full-scale", "10"]),
        &["--mpe", "--mpe-fiducial"],
    );
    // A form without its companion.
    input_error(&c(&["--mpe-fiducial", "0.5"]), &["--full-scale"]);
    input_error(&c(&["--full-scale", "10"]), &["--mpe-fiducial"]);
    input_error(
        &c(&["--mpe-reading-percent", "0.05", "--reading", "10"]),
        &["--mpe-range-percent", "--digits"],
    );
    input_error(
        &c(&[
            "--mpe-reading-percent",
            "0.05",
            "--mpe-range-percent",
            "0.01",
            "--range",
            "100",
        ]),
        &["--reading"],
    );
    input_error(
        &c(&[
            "--mpe-reading-percent",
            "0.05",
            "--reading",
            "10",
            "--mpe-range-percent",
            "0.01",
        ]),
        &["--range"],
    );
    input_error(
        &c(&[
            "--mpe-reading-percent",
            "0.05",
            "--reading",
            "10",
            "--digits",
            "2",
        ]),
        &["--resolution"],
    );
    // Both combined forms.
    input_error(
        &c(&[
            "--mpe-reading-percent",
            "0.05",
            "--reading",
            "10",
            "--mpe-range-percent",
            "0.01",
            "--range",
            "100",
            "--digits",
            "2",
            "--resolution",
            "0.01",
        ]),
        &["--digits"],
    );
    // A reading that the form does not use.
    input_error(
        &c(&["--mpe", "1", "--reading", "10"]),
        &["--reading is not used"],
    );
    input_error(
        &c(&[
            "--mpe-fiducial",
            "0.5",
            "--full-scale",
            "10",
            "--reading",
            "10",
        ]),
        &["--reading is not used"],
    );
    // Bad values.
    input_error(
        &c(&["--mpe-fiducial", "0.5", "--full-scale", "0"]),
        &["--full-scale"],
    );
    input_error(
        &c(&[
            "--mpe-reading-percent",
            "0.05",
            "--reading",
            "10",
            "--digits",
            "1.5",
            "--resolution",
            "0.01",
        ]),
        &["--digits"],
    );
    input_error(
        &c(&[
            "--mpe-reading-percent",
            "0",
            "--reading",
            "10",
            "--digits",
            "0",
            "--resolution",
            "0.01",
        ]),
        &["mpev"],
    );
}

#[test]
fn conformity_bad_inputs() {
    input_error(
        &jiliang(&["conformity", "--error", "1", "--mpe", "0", "--U95", "0.1"]),
        &["--mpe", "greater than 0"],
    );
    input_error(
        &jiliang(&["conformity", "--error", "1", "--mpe", "1", "--U95", "-0.1"]),
        &["--U95"],
    );
    input_error(
        &jiliang(&["conformity", "--error", "1", "--U95", "0.1"]),
        &["--mpe"],
    );
    input_error(
        &jiliang(&["conformity", "--error", "x", "--mpe", "1", "--U95", "0.1"]),
        &["--error", "not a number"],
    );
    input_error(
        &jiliang(&[
            "conformity",
            "--error",
            "1",
            "--mpe-relative",
            "1",
            "--U95",
            "0.1",
        ]),
        &["--reading"],
    );
    input_error(
        &jiliang(&[
            "conformity",
            "--error",
            "1",
            "--mpe-relative",
            "1",
            "--reading",
            "0",
            "--U95",
            "0.1",
        ]),
        &["mpev"],
    );
}

#[test]
fn odd_input_never_panics() {
    // Exit codes 0, 1 and 2 are answers; 101 would be a panic.
    let cases: [&[u8]; 8] = [
        b"lab,value,u\nA,1e308,1e-300\nB,-1e308,1e-300\n",
        b"lab,value,u\nA,1e308,1e308\nB,-1e308,1e308\n",
        b"lab,value\nA,1\nB,1\nC,1\n",
        b"\xff\xfe\x00",
        b"lab,value,u\n\"\"\"\",1,1\nB,2,1\n",
        b"lab,value,u\nA,1,1\nB,1,1\n",
        b"\"",
        b"lab,value,u\nA,0,1e-320\nB,0,1e-320\n",
    ];
    for content in cases {
        let t = Temp::new("x.csv", content);
        for method in [
            "auto",
            "weighted-mean",
            "dersimonian-laird",
            "mandel-paule",
            "arithmetic-mean",
            "median",
            "algorithm-a",
        ] {
            for fmt in ["text", "json"] {
                let o = jiliang(&[
                    "compare",
                    "--input",
                    &t.p(),
                    "--method",
                    method,
                    "--format",
                    fmt,
                    "--sigma-pt",
                    "1",
                ]);
                let code = o.status.code();
                assert!(
                    matches!(code, Some(0 | 2)),
                    "{method} on {content:?}: {code:?} {}",
                    stderr(&o)
                );
                if code == Some(2) {
                    assert_eq!(stderr(&o).trim_end().lines().count(), 1);
                } else if fmt == "json" {
                    let v: Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
                    assert!(!v.to_string().contains("NaN"));
                }
            }
        }
        let o = jiliang(&["budget", "--input", &t.p()]);
        assert!(matches!(o.status.code(), Some(0 | 2)), "{}", stderr(&o));
    }
}

#[test]
fn help_lists_the_tools() {
    let o = jiliang(&["--help"]);
    let out = stdout(&o);
    for cmd in ["compare", "budget", "conformity", "ledger", "verify"] {
        assert!(out.contains(cmd), "{cmd} missing from --help");
    }
    let out = stdout(&jiliang(&["compare", "--help"]));
    for flag in [
        "--input",
        "--method",
        "--exclude",
        "--assigned",
        "--assigned-u",
        "--sigma-pt",
        "--en-rule",
        "--format",
        "dersimonian-laird",
    ] {
        assert!(out.contains(flag), "{flag} missing from compare --help");
    }
    assert!(stdout(&jiliang(&["conformity", "--help"])).contains("--U95"));
}
