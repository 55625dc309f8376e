//! JSON spelling of options and results, which the server, the browser and
//! the CLI exchange.

use jiliang_metrology::MetrologyError;
use jiliang_metrology::budget::{Budget, BudgetOptions, Contribution, CoverageRule};
use jiliang_metrology::conformity::{ConformityOptions, Mpe, Verdict};
use jiliang_metrology::montecarlo::{Input, McOptions};
use jiliang_metrology::pt::{AssignedMethod, PtOptions, SigmaPtMethod};
use jiliang_metrology::reference::{KcLab, KcrvMethod, KcrvOptions, reference_value};
use jiliang_metrology::robust::StoppingRule;
use jiliang_metrology::scores::EnRule;
use serde_json::json;

fn json_close(a: &serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().expect("f64"), y.as_f64().expect("f64"));
            assert!(
                (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()),
                "{x} vs {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).for_each(|(p, q)| json_close(p, q));
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.len(), y.len());
            for (k, v) in x {
                json_close(v, y.get(k).expect("same keys"));
            }
        }
        _ => assert_eq!(a, b),
    }
}

#[test]
fn enum_spellings() {
    assert_eq!(
        serde_json::to_value(StoppingRule::ThirdSignificantFigure).expect("json"),
        json!("third-significant-figure")
    );
    assert_eq!(
        serde_json::to_value(EnRule::Jjf1117).expect("json"),
        json!("jjf1117")
    );
    assert_eq!(
        serde_json::to_value(KcrvMethod::DersimonianLaird).expect("json"),
        json!("dersimonian-laird")
    );
    assert_eq!(
        serde_json::to_value(Verdict::Indeterminate).expect("json"),
        json!("indeterminate")
    );
    assert_eq!(
        serde_json::to_value(CoverageRule::StudentT { coverage: 0.95 }).expect("json"),
        json!({"method": "student-t", "coverage": 0.95})
    );
    assert_eq!(
        serde_json::to_value(SigmaPtMethod::Horwitz {
            mass_fraction_per_unit: 1e-6
        })
        .expect("json"),
        json!({"method": "horwitz", "mass_fraction_per_unit": 1e-6})
    );
    let m: Mpe = serde_json::from_value(json!({"form": "reading-plus-digits", "reading_percent": 0.5, "digits": 2, "resolution": 0.01}))
        .expect("mpe");
    assert_eq!(
        m,
        Mpe::ReadingPlusDigits {
            reading_percent: 0.5,
            digits: 2.0,
            resolution: 0.01
        }
    );
    let e = MetrologyError::NonPositiveUncertainty {
        field: "labs.u".into(),
        index: Some(3),
    };
    assert_eq!(
        serde_json::to_value(&e).expect("json"),
        json!({"non_positive_uncertainty": {"field": "labs.u", "index": 3}})
    );
    assert_eq!(e.to_string(), "labs.u[3] must be a positive uncertainty");
}

#[test]
fn infinite_dof_round_trips_as_inf() {
    let b: Budget = serde_json::from_value(json!({
        "contributions": [
            {"name": "standard", "u": 0.5},
            {"name": "repeatability", "u": 0.2, "dof": 9},
            {"name": "resolution", "u": 0.1, "c": 2.0, "dof": "inf"}
        ]
    }))
    .expect("budget");
    assert!(b.contributions[0].dof.is_infinite() && b.contributions[2].dof.is_infinite());
    let r = b.evaluate(&BudgetOptions::default()).expect("evaluate");
    let v = serde_json::to_value(&r).expect("json");
    assert_eq!(v["lines"][0]["dof"], json!("inf"));
    let back: jiliang_metrology::budget::BudgetResult =
        serde_json::from_value(v.clone()).expect("back");
    json_close(&serde_json::to_value(&back).expect("json"), &v);
    assert!(back.lines[0].dof.is_infinite());
    let c = Contribution::new("x", 1.0);
    let s = serde_json::to_string(&c).expect("json");
    assert_eq!(serde_json::from_str::<Contribution>(&s).expect("back"), c);
}

#[test]
fn options_and_results_round_trip() {
    let o = PtOptions {
        assigned: AssignedMethod::Given {
            x_pt: 1.0,
            u_x_pt: 0.1,
        },
        ..PtOptions::default()
    };
    let s = serde_json::to_string(&o).expect("json");
    assert_eq!(serde_json::from_str::<PtOptions>(&s).expect("back"), o);
    for o in [
        KcrvOptions::default(),
        KcrvOptions {
            method: KcrvMethod::MandelPaule,
            ..KcrvOptions::default()
        },
    ] {
        let s = serde_json::to_string(&o).expect("json");
        assert_eq!(serde_json::from_str::<KcrvOptions>(&s).expect("back"), o);
    }
    let labs: Vec<KcLab> = serde_json::from_value(json!([
        {"id": "A", "value": 1.0, "u": 0.1},
        {"id": "B", "value": 1.2, "u": 0.1, "included": false},
        {"id": "C", "value": 0.9, "u": 0.2}
    ]))
    .expect("labs");
    let r = reference_value(&labs, &KcrvOptions::default()).expect("kcrv");
    let s = serde_json::to_string(&r).expect("json");
    let back = serde_json::from_str::<jiliang_metrology::reference::Kcrv>(&s).expect("back");
    // serde_json's default float parser may be 1 ulp off.
    json_close(
        &serde_json::to_value(&back).expect("json"),
        &serde_json::to_value(&r).expect("json"),
    );
    let mc = McOptions::default();
    assert_eq!(
        serde_json::from_str::<McOptions>(&serde_json::to_string(&mc).expect("json"))
            .expect("back"),
        mc
    );
    let i: Input =
        serde_json::from_value(json!({"kind": "student-t", "mean": 1.0, "scale": 0.1, "dof": 4}))
            .expect("input");
    assert_eq!(
        i,
        Input::StudentT {
            mean: 1.0,
            scale: 0.1,
            dof: 4.0
        }
    );
    let c = ConformityOptions::default();
    assert_eq!(
        serde_json::to_value(c).expect("json"),
        json!({"policy": "jjf1094", "ratio": 3.0})
    );
}
