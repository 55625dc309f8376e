//! The host's comparison setup: unit under test and reference (two of the
//! attached devices), test points, readings per point, the MPE in any
//! form the metrology crate knows, the reference's U and k (empty: from
//! its registered certificate) and the UUT's resolution (empty: the
//! registered one). Numbers are checked here (JSON has no NaN); the rest
//! — units that do not match, a missing certificate — is the server's to
//! refuse, and its message shows beside the field it names.

use jiliang_app_core::comparison::{MPE_FORMS, build_mpe, mpe_arity, mpe_fields, parse_points};
use jiliang_app_core::instruments::{format_value, parse_number};
use jiliang_metrology::conformity::Mpe;
use jiliang_protocol::comparison::{ComparisonSetup, ComparisonView};
use jiliang_protocol::devices::Device;
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use crate::api::{V1, use_api};
use crate::components::forms::{Errors, FormAlert, SelectField, SubmitButton, TextField, opt};
use crate::i18n::{I18n, Msg, use_i18n};
use crate::pages::devices::local_problem;

const FIELDS: &[&str] = &[
    "uut_device_id",
    "ref_device_id",
    "points",
    "readings_per_point",
    "mpe",
    "ref_expanded_uncertainty",
    "ref_k",
    "resolution",
];

fn form_msg(form: &str) -> Msg {
    match form {
        "absolute" => Msg::MpeFormAbsolute,
        "relative" => Msg::MpeFormRelative,
        "fiducial" => Msg::MpeFormFiducial,
        "reading-plus-range" => Msg::MpeFormReadingRange,
        _ => Msg::MpeFormReadingDigits,
    }
}

/// Labels of the MPE form's numbers.
fn number_labels(form: &str) -> [Msg; 3] {
    match form {
        "absolute" => [Msg::MpeValue, Msg::MpeValue, Msg::MpeValue],
        "relative" => [Msg::MpePercent, Msg::MpePercent, Msg::MpePercent],
        "fiducial" => [Msg::MpePercent, Msg::MpeSpan, Msg::MpeSpan],
        "reading-plus-range" => [Msg::MpeReadingPercent, Msg::MpeRangePercent, Msg::MpeRange],
        _ => [Msg::MpeReadingPercent, Msg::MpeDigits, Msg::MpeDigitValue],
    }
}

/// The MPE in words, in the reader's language.
pub(super) fn mpe_text(m: &Mpe, unit: &str, i18n: I18n) -> String {
    let f = |v: f64| format_value(v, None);
    match *m {
        Mpe::Absolute { value } => {
            i18n.tf(Msg::MpeTextAbsolute, &[("a", &f(value)), ("unit", unit)])
        }
        Mpe::Relative { percent } => i18n.tf(Msg::MpeTextRelative, &[("a", &f(percent))]),
        Mpe::Fiducial { percent, span } => i18n.tf(
            Msg::MpeTextFiducial,
            &[("a", &f(percent)), ("b", &f(span)), ("unit", unit)],
        ),
        Mpe::ReadingPlusRange {
            reading_percent,
            range_percent,
            range,
        } => i18n.tf(
            Msg::MpeTextReadingRange,
            &[
                ("a", &f(reading_percent)),
                ("b", &f(range_percent)),
                ("c", &f(range)),
                ("unit", unit),
            ],
        ),
        Mpe::ReadingPlusDigits {
            reading_percent,
            digits,
            resolution,
        } => i18n.tf(
            Msg::MpeTextReadingDigits,
            &[
                ("a", &f(reading_percent)),
                ("b", &f(digits)),
                ("c", &f(resolution)),
                ("unit", unit),
            ],
        ),
    }
}

#[component]
pub(super) fn SetupForm(
    session_id: Uuid,
    attached: RwSignal<Vec<Device>>,
    /// The comparison as set up now (fills the form), if any.
    current: Option<ComparisonView>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let spec = current.as_ref().map(|v| v.spec.clone());
    // Defaults: the first reference standard as reference, the first
    // other device as the unit under test.
    let (def_uut, def_ref) = attached.with_untracked(|ds| {
        let r = ds.iter().find(|d| d.reference.is_some()).map(|d| d.id);
        let u = ds.iter().find(|d| Some(d.id) != r).map(|d| d.id);
        (u, r)
    });
    let id_text = |id: Option<Uuid>| id.map(|i| i.to_string()).unwrap_or_default();
    let uut = RwSignal::new(id_text(spec.as_ref().map(|s| s.uut_device_id).or(def_uut)));
    let reference = RwSignal::new(id_text(spec.as_ref().map(|s| s.ref_device_id).or(def_ref)));
    let cal = spec.as_ref().map(|s| s.calibration.clone());
    let points = RwSignal::new(cal.as_ref().map_or_else(String::new, |c| {
        c.points
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }));
    let per_point = RwSignal::new(
        cal.as_ref()
            .map_or_else(|| "5".to_owned(), |c| c.readings_per_point.to_string()),
    );
    let (form0, nums0) = cal
        .as_ref()
        .map_or(("absolute", [None, None, None]), |c| mpe_fields(&c.mpe));
    let mpe_form = RwSignal::new(form0.to_owned());
    let text = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let nums = [
        RwSignal::new(text(nums0[0])),
        RwSignal::new(text(nums0[1])),
        RwSignal::new(text(nums0[2])),
    ];
    let ref_u = RwSignal::new(String::new());
    let ref_k = RwSignal::new(String::new());
    let resolution = RwSignal::new(String::new());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let device_options = Signal::derive(move || {
        attached
            .get()
            .into_iter()
            .map(|d| (d.id.to_string(), format!("{} ({})", d.name, d.unit)))
            .collect::<Vec<_>>()
    });
    let form_options = Signal::derive(move || {
        MPE_FORMS
            .iter()
            .map(|f| ((*f).to_owned(), i18n.t(form_msg(f)).to_owned()))
            .collect::<Vec<_>>()
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut problems = Vec::new();
        let uut_id = crate::util::parse_id::<Uuid>(&uut.get_untracked());
        let ref_id = crate::util::parse_id::<Uuid>(&reference.get_untracked());
        if uut_id.is_none() {
            problems.push(("uut_device_id", Msg::ChooseDevice));
        }
        if ref_id.is_none() {
            problems.push(("ref_device_id", Msg::ChooseDevice));
        }
        let pts = parse_points(&points.get_untracked());
        if pts.is_none() {
            problems.push(("points", Msg::PointsInvalid));
        }
        let n = per_point
            .get_untracked()
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0);
        if n.is_none() {
            problems.push(("readings_per_point", Msg::WholeNumber));
        }
        let form = mpe_form.get_untracked();
        let mpe = build_mpe(
            &form,
            &nums[0].get_untracked(),
            &nums[1].get_untracked(),
            &nums[2].get_untracked(),
        );
        if mpe.is_none() {
            problems.push(("mpe", Msg::NotANumber));
        }
        let optional =
            |s: RwSignal<String>, field: &'static str, problems: &mut Vec<(&'static str, Msg)>| {
                opt(s).and_then(|t| {
                    let v = parse_number(&t);
                    if v.is_none() {
                        problems.push((field, Msg::NotANumber));
                    }
                    v
                })
            };
        let u = optional(ref_u, "ref_expanded_uncertainty", &mut problems);
        let k = optional(ref_k, "ref_k", &mut problems);
        let res = optional(resolution, "resolution", &mut problems);
        let (Some(uut_id), Some(ref_id), Some(pts), Some(n), Some(mpe)) =
            (uut_id, ref_id, pts, n, mpe)
        else {
            errors.set(Some(local_problem(i18n, problems)));
            return;
        };
        if !problems.is_empty() {
            errors.set(Some(local_problem(i18n, problems)));
            return;
        }
        let body = ComparisonSetup {
            uut_device_id: uut_id,
            ref_device_id: ref_id,
            points: pts,
            readings_per_point: n,
            mpe,
            ref_expanded_uncertainty: u,
            ref_k: k,
            resolution: res,
            coverage: None,
            dof_rounding: None,
            conformity: None,
            en_rule: None,
        };
        busy.set(true);
        errors.set(None);
        spawn_local(async move {
            let r = api
                .put::<_, ComparisonView>(&format!("{V1}/sessions/{session_id}/comparison"), &body)
                .await;
            busy.set(false);
            match r {
                Ok(_) => on_saved.run(()),
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    view! {
        <form class="card comparison-setup" on:submit=submit data-testid="comparison-setup" novalidate>
            <h3>{move || i18n.t(Msg::ComparisonSetup)}</h3>
            <div class="field-row">
                <SelectField label=Msg::ChannelUut value=uut options=device_options errors=errors field="uut_device_id"
                    empty=Msg::ChooseDevice testid="setup-uut" required=true/>
                <SelectField label=Msg::ChannelReference value=reference options=device_options errors=errors field="ref_device_id"
                    empty=Msg::ChooseDevice testid="setup-ref" required=true/>
            </div>
            <div class="field-row">
                <TextField label=Msg::TestPoints value=points errors=errors field="points" required=true
                    hint=Msg::TestPointsHint testid="setup-points" inputmode="decimal"/>
                <TextField label=Msg::ReadingsPerPoint value=per_point errors=errors field="readings_per_point" required=true
                    inputmode="numeric" testid="setup-per-point"/>
            </div>
            <div class="field-row">
                <SelectField label=Msg::MpeForm value=mpe_form options=form_options errors=errors field="mpe" testid="setup-mpe-form"/>
                {move || {
                    let form = mpe_form.get();
                    let labels = number_labels(&form);
                    (0..mpe_arity(&form)).map(|i| view! {
                        <TextField label=labels[i] value=nums[i] errors=errors inputmode="decimal" required=true
                            testid=["setup-mpe-a", "setup-mpe-b", "setup-mpe-c"][i]/>
                    }).collect_view()
                }}
            </div>
            <div class="field-row">
                <TextField label=Msg::RefU value=ref_u errors=errors field="ref_expanded_uncertainty" inputmode="decimal"
                    hint=Msg::RefUHint testid="setup-ref-u"/>
                <TextField label=Msg::DeviceCertK value=ref_k errors=errors field="ref_k" inputmode="decimal" testid="setup-ref-k"/>
                <TextField label=Msg::DeviceResolution value=resolution errors=errors field="resolution" inputmode="decimal"
                    hint=Msg::UutResolutionHint testid="setup-resolution"/>
            </div>
            <FormAlert errors=errors fields=FIELDS/>
            <div class="button-row">
                <SubmitButton label=Msg::ComparisonSave busy=busy testid="setup-submit"/>
            </div>
        </form>
    }
}
