//! A round's report: the reference value, the consistency check, τ,
//! Algorithm A, the options, the charts (SVG from
//! `jiliang_protocol::rounds`, the same drawing the server could export)
//! and the per-lab table.

use jiliang_metrology::interlab::{CompareReport, Verdict, VerdictScore};
use jiliang_metrology::scores::EnRule;
use jiliang_protocol::rounds::{chart_en, chart_values, chart_z};
use leptos::prelude::*;

use crate::i18n::{Msg, use_i18n};

fn sig(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - mag).clamp(0, 15) as usize;
    format!("{x:.decimals$}")
}

fn opt(v: Option<f64>, d: usize) -> String {
    v.map(|x| format!("{x:.d$}")).unwrap_or_else(|| "—".into())
}

fn verdict_msg(v: Verdict) -> Msg {
    match v {
        Verdict::Satisfactory => Msg::VerdictSatisfactory,
        Verdict::Questionable => Msg::VerdictQuestionable,
        Verdict::Unsatisfactory => Msg::VerdictUnsatisfactory,
    }
}

#[component]
pub(super) fn ReportView(report: CompareReport, unit: String, csv_href: String) -> impl IntoView {
    let i18n = use_i18n();
    let r = report.reference;
    // The value to the last digit its uncertainty (two significant digits) reaches.
    let decimals = if r.u > 0.0 && r.u.is_finite() {
        (1 - r.u.log10().floor() as i32).clamp(0, 15) as usize
    } else {
        6
    };
    let reference = format!(
        "{:.decimals$} {unit}, u = {} {unit}, U = {} {unit} (k = {})",
        r.value,
        sig(r.u, 2),
        sig(r.big_u, 2),
        r.k
    );
    let method = if report.method == report.method_requested {
        report.method.to_string()
    } else {
        format!("{} → {}", report.method_requested, report.method)
    };
    let consistency = report.consistency;
    let tau = report.tau.map(|t| sig(t, 2));
    let robust = report.robust.map(|a| {
        format!(
            "x* = {}, s* = {} ({} iterations)",
            sig(a.x_star, 5),
            sig(a.s_star, 4),
            a.iterations
        )
    });
    let options = format!(
        "en_rule = {}{}",
        match report.en_rule {
            EnRule::Iso13528 => "iso13528",
            EnRule::Jjf1117 => "jjf1117",
        },
        report
            .sigma_pt
            .map(|s| format!(", σ_pt = {s} {unit}"))
            .unwrap_or_default()
    );
    let values_svg = chart_values(&report, &unit);
    let en_svg = chart_en(&report);
    let z_svg = chart_z(&report);
    let rows = report.labs.clone();
    view! {
        <section class="dash-section round-report" data-testid="round-report">
            <h2>{move || i18n.t(Msg::RoundReport)}</h2>
            <dl class="facts">
                <dt>{move || i18n.t(Msg::RoundReference)}</dt>
                <dd data-testid="round-reference" class="mono">{reference}</dd>
                <dt>{move || i18n.t(Msg::RoundMethodUsed)}</dt>
                <dd class="mono">{method}</dd>
                {consistency.map(|c| {
                    let args = [
                        ("chi2", format!("{:.2}", c.chi2)),
                        ("dof", c.dof.to_string()),
                        ("p", sig(c.p_value, 2)),
                        ("birge", format!("{:.2}", c.birge_ratio)),
                    ];
                    view! {
                        <dt>{move || i18n.t(Msg::RoundConsistency)}</dt>
                        <dd data-testid="round-consistency">{move || {
                            let a: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                            i18n.tf(if c.consistent { Msg::RoundConsistent } else { Msg::RoundInconsistent }, &a)
                        }}</dd>
                    }
                })}
                {tau.map(|t| view! { <dt>"τ"</dt><dd class="mono">{t}</dd> })}
                {robust.map(|a| view! { <dt>"Algorithm A"</dt><dd class="mono">{a}</dd> })}
                <dt>{move || i18n.t(Msg::RoundOptionsUsed)}</dt>
                <dd class="mono">{options}</dd>
            </dl>
            <div class="chart" data-testid="chart-values" inner_html=values_svg></div>
            {en_svg.map(|s| view! { <div class="chart" data-testid="chart-en" inner_html=s></div> })}
            {z_svg.map(|s| view! { <div class="chart" data-testid="chart-z" inner_html=s></div> })}
            <div class="table-scroll">
                <table class="data" data-testid="round-table">
                    <thead><tr>
                        <th>{move || i18n.t(Msg::ColLab)}</th>
                        <th>{move || i18n.t(Msg::ColValue)}</th>
                        <th>"u"</th>
                        <th>{move || i18n.t(Msg::ColIncluded)}</th>
                        <th>"D"</th>
                        <th>"U(D)"</th>
                        <th>"En"</th>
                        <th>"z"</th>
                        <th>"z′"</th>
                        <th>"ζ"</th>
                        <th>"D%"</th>
                        <th>{move || i18n.t(Msg::ColVerdict)}</th>
                    </tr></thead>
                    <tbody>
                        {rows.into_iter().map(|l| {
                            let by = match l.verdict_score {
                                Some(VerdictScore::En) => " (En)",
                                Some(VerdictScore::Z) => " (z)",
                                Some(VerdictScore::ZPrime) => " (z′)",
                                None => "",
                            };
                            let verdict = l.verdict;
                            let included = l.included;
                            let reason = l.exclusion_reason.clone();
                            view! {
                                <tr data-testid="round-row" data-lab=l.lab.clone()>
                                    <th scope="row">{l.lab.clone()}</th>
                                    <td class="num">{l.value.to_string()}</td>
                                    <td class="num">{l.u.map(|u| sig(u, 2)).unwrap_or_else(|| "—".into())}</td>
                                    <td title=reason.unwrap_or_default()>{move || i18n.t(if included { Msg::Yes } else { Msg::No })}</td>
                                    <td class="num">{sig(l.d, 3)}</td>
                                    <td class="num">{l.big_u_d.map(|u| sig(u, 2)).unwrap_or_else(|| "—".into())}</td>
                                    <td class="num">{opt(l.en, 2)}</td>
                                    <td class="num">{opt(l.z, 2)}</td>
                                    <td class="num">{opt(l.z_prime, 2)}</td>
                                    <td class="num">{opt(l.zeta, 2)}</td>
                                    <td class="num">{opt(l.d_percent, 1)}</td>
                                    <td class=format!("verdict verdict-{}", verdict.map(|v| match v {
                                        Verdict::Satisfactory => "ok", Verdict::Questionable => "warn", Verdict::Unsatisfactory => "bad" }).unwrap_or("none"))>
                                        {move || verdict.map(|v| i18n.t(verdict_msg(v))).unwrap_or("—")}{by}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <p><a href=csv_href download="" data-testid="round-csv">{move || i18n.t(Msg::RoundDownloadCsv)}</a></p>
        </section>
    }
}
