//! The live chart: both channels (unit under test and reference) over the
//! last two minutes, and the error E = UUT − reference with the ±MPE band.
//!
//! Hand-written SVG: a handful of `<path>` elements whose `d` attribute is
//! recomputed from the room's bounded traces when the room client announces
//! new readings (at most a few times a second, never per reading), so a
//! slow link or a fast instrument costs the page a few short strings, not a
//! rebuilt chart. The geometry is `jiliang_app_core::instruments`, tested
//! on the host.

use jiliang_app_core::instruments::{
    Frame, Point, Range, Trace, WINDOW_S, band, clamped, error_range, errors, format_value,
    parse_number, polyline, ticks,
};
use jiliang_metrology::conformity::mpev;
use jiliang_protocol::devices::Device;
use leptos::prelude::*;
use uuid::Uuid;

use crate::i18n::{Msg, use_i18n};
use crate::net::room::RoomHandle;
use crate::util::dom_id;

const FRAME: Frame = Frame::new(360.0, 150.0);

/// A tick: where it is drawn and its label.
#[derive(Clone, Debug, PartialEq)]
struct Tick {
    y: f64,
    label: String,
}

/// Everything one SVG plot draws.
#[derive(Clone, Debug, Default, PartialEq)]
struct Plot {
    lines: Vec<String>,
    band: String,
    zero: Option<f64>,
    ticks: Vec<Tick>,
}

/// What the chart draws from the traces now.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    values: Plot,
    error: Option<Plot>,
    /// Readings drawn (both channels), for tests and the summary.
    points: usize,
    /// Errors drawn at the plot's edge (beyond its scale).
    off_scale: usize,
    last_error: Option<f64>,
}

fn y_ticks(range: Range) -> Vec<Tick> {
    let (vals, decimals) = ticks(range, 4);
    vals.into_iter()
        .map(|v| Tick {
            y: FRAME.y(range, v),
            label: format!("{v:.decimals$}"),
        })
        .collect()
}

fn in_window<'a>(t: &'a Trace, x: Range) -> impl Iterator<Item = &'a Point> + 'a {
    t.points()
        .iter()
        .filter(move |p| p.t >= x.lo && p.t <= x.hi)
}

fn model(
    uut: Option<&Trace>,
    reference: Option<&Trace>,
    ref_factor: f64,
    mpe: Option<f64>,
) -> Model {
    // A reference in another unit (mV against V) is drawn in the UUT's.
    let scaled;
    let reference = match reference {
        Some(r) if ref_factor != 1.0 => {
            scaled = r.scaled(ref_factor);
            Some(&scaled)
        }
        other => other,
    };
    let traces: Vec<&Trace> = [uut, reference].into_iter().flatten().collect();
    let Some(t_max) = traces
        .iter()
        .filter_map(|t| t.last().map(|p| p.t))
        .max_by(f64::total_cmp)
    else {
        return Model::default();
    };
    let x = Range {
        lo: t_max - WINDOW_S,
        hi: t_max,
    };
    let Some(y) = Range::of(traces.iter().flat_map(|t| in_window(t, x)).map(|p| p.v)) else {
        return Model::default();
    };
    let points = traces.iter().map(|t| in_window(t, x).count()).sum();
    let values = Plot {
        lines: [uut, reference]
            .into_iter()
            .map(|t| {
                t.map(|t| polyline(t.points(), x, y, &FRAME))
                    .unwrap_or_default()
            })
            .collect(),
        band: String::new(),
        zero: None,
        ticks: y_ticks(y),
    };
    let (error, off_scale, last_error) = match (uut, reference) {
        (Some(u), Some(r)) => {
            // `r` is already in the UUT's unit.
            let e: Vec<Point> = errors(u, r, 1.0)
                .into_iter()
                .filter(|p| p.t >= x.lo)
                .collect();
            let last = e.last().map(|p| p.v);
            let m = mpe.filter(|m| *m > 0.0);
            match error_range(&e, m) {
                Some((ey, off)) => {
                    let band_d = m.map_or_else(String::new, |m| {
                        let up = [Point { t: x.lo, v: m }, Point { t: x.hi, v: m }];
                        let low = [Point { t: x.lo, v: -m }, Point { t: x.hi, v: -m }];
                        band(&up, &low, x, ey, &FRAME)
                    });
                    (
                        Some(Plot {
                            lines: vec![polyline(&clamped(&e, ey), x, ey, &FRAME)],
                            band: band_d,
                            zero: Some(FRAME.y(ey, 0.0)),
                            ticks: y_ticks(ey),
                        }),
                        off,
                        last,
                    )
                }
                None => (None, 0, last),
            }
        }
        _ => (None, 0, None),
    };
    Model {
        values,
        error,
        points,
        off_scale,
        last_error,
    }
}

/// One SVG plot.
#[component]
fn PlotSvg(
    plot: Signal<Plot>,
    label: Signal<String>,
    /// Class of each line, in order.
    classes: &'static [&'static str],
    testid: &'static str,
) -> impl IntoView {
    // SVG attributes as text: one decimal is finer than a pixel.
    let n = |v: f64| format!("{v:.1}");
    let w = FRAME.width;
    let h = FRAME.height;
    let left = n(FRAME.left);
    let right = n(FRAME.width - FRAME.right);
    let label_x = n(FRAME.left - 4.0);
    let base = n(h - 4.0);
    view! {
        <svg class="chart" viewBox=format!("0 0 {w} {h}") role="img" aria-label=move || label.get()
            data-testid=testid>
            <rect class="chart-bg" x=left.clone() y=n(FRAME.top) width=n(FRAME.plot_width()) height=n(FRAME.plot_height())/>
            <path class="mpe-band" d=move || plot.with(|p| p.band.clone())/>
            {
                let (left, right) = (left.clone(), right.clone());
                move || plot.with(|p| p.ticks.clone()).into_iter().map(|t| view! {
                    <line class="grid" x1=left.clone() x2=right.clone() y1=n(t.y) y2=n(t.y)/>
                    <text class="tick" x=label_x.clone() y=n(t.y + 3.0) text-anchor="end">{t.label}</text>
                }).collect_view()
            }
            {
                let (left, right) = (left.clone(), right.clone());
                move || plot.with(|p| p.zero).map(|z| view! {
                    <line class="zero" x1=left.clone() x2=right.clone() y1=n(z) y2=n(z)/>
                })
            }
            {classes.iter().enumerate().map(|(i, c)| view! {
                <path class=format!("series {c}") d=move || plot.with(|p| p.lines.get(i).cloned().unwrap_or_default())/>
            }).collect_view()}
            <text class="tick" x=left y=base.clone()>{format!("−{WINDOW_S:.0} s")}</text>
            <text class="tick" x=right y=base text-anchor="end">"0 s"</text>
        </svg>
    }
}

/// Default channels: the first reference standard as reference, the first
/// other device as the unit under test.
fn defaults(devices: &[Device]) -> (Option<Uuid>, Option<Uuid>) {
    let reference = devices.iter().find(|d| d.reference.is_some()).map(|d| d.id);
    let uut = devices
        .iter()
        .find(|d| Some(d.id) != reference)
        .map(|d| d.id);
    (uut, reference)
}

#[component]
pub(super) fn LiveChart(
    handle: RoomHandle,
    #[prop(into)] devices: Signal<Vec<Device>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let s = handle.s;
    let uut_pick = RwSignal::new(String::new());
    let ref_pick = RwSignal::new(String::new());
    let mpe_text = RwSignal::new(String::new());
    let pick = move |chosen: RwSignal<String>, fallback: fn(&[Device]) -> Option<Uuid>| {
        devices.with(|ds| {
            crate::util::parse_id::<Uuid>(&chosen.get())
                .filter(|id| ds.iter().any(|d| d.id == *id))
                .or_else(|| fallback(ds))
        })
    };
    // Once the host has set a comparison up, its channels and its MPE (at
    // the current point's nominal value) are the chart's.
    let spec = Memo::new(move |_| s.comparison.with(|c| c.spec().cloned()));
    let nominal = Memo::new(move |_| {
        s.comparison.with(|c| {
            let f = c.fold();
            f.current()
                .or_else(|| f.points().iter().rposition(|p| p.started_at_us.is_some()))
                .and_then(|i| f.points().get(i).map(|p| p.nominal))
        })
    });
    let fixed = Memo::new(move |_| spec.with(Option::is_some));
    let uut = Memo::new(move |_| {
        spec.with(|sp| sp.as_ref().map(|s| s.uut_device_id))
            .or_else(|| pick(uut_pick, |ds| defaults(ds).0))
    });
    let reference = Memo::new(move |_| {
        spec.with(|sp| sp.as_ref().map(|s| s.ref_device_id))
            .or_else(|| pick(ref_pick, |ds| defaults(ds).1))
    });
    let model = Memo::new(move |_| {
        let (u, r) = (uut.get(), reference.get());
        let factor = spec.with(|sp| sp.as_ref().map_or(1.0, |s| s.calibration.ref_factor));
        s.readings.with(|live| {
            let ut = u.and_then(|id| live.trace(id));
            let rt = r.filter(|r| Some(*r) != u).and_then(|id| live.trace(id));
            let m = match spec.get() {
                Some(sp) => {
                    // At the point's nominal value; before any point, at
                    // the newest UUT reading.
                    let at = nominal
                        .get()
                        .or_else(|| ut.and_then(Trace::last).map(|p| p.v));
                    at.and_then(|x| mpev(&sp.calibration.mpe, x).ok())
                }
                None => mpe_text.with(|t| parse_number(t)).map(f64::abs),
            };
            model(ut, rt, factor, m)
        })
    });
    let device = move |id: Option<Uuid>| {
        devices.with(|ds| id.and_then(|id| ds.iter().find(|d| d.id == id).cloned()))
    };
    let unit = move || device(uut.get()).map(|d| d.unit).unwrap_or_default();
    let values_label = Signal::derive(move || {
        i18n.tf(
            Msg::ChartValuesLabel,
            &[("points", &model.with(|m| m.points).to_string())],
        )
    });
    let error_label = Signal::derive(move || {
        let e = model
            .with(|m| m.last_error)
            .map_or_else(|| "—".to_owned(), |e| format!("{e:+.6}"));
        i18n.tf(Msg::ChartErrorLabel, &[("value", &e), ("unit", &unit())])
    });
    let options = move || {
        devices
            .get()
            .into_iter()
            .map(|d| (d.id.to_string(), d.name))
            .collect::<Vec<_>>()
    };
    let uut_id = dom_id("uut");
    let ref_id = dom_id("ref");
    let mpe_id = dom_id("mpe");
    let select = move |id: String,
                       chosen: RwSignal<String>,
                       current: Memo<Option<Uuid>>,
                       testid: &'static str| {
        view! {
            <select id=id data-testid=testid on:change=move |ev| chosen.set(event_target_value(&ev))>
                {move || options().into_iter().map(|(v, l)| {
                    let v2 = v.clone();
                    view! { <option value=v selected=move || current.get().is_some_and(|c| c.to_string() == v2)>{l}</option> }
                }).collect_view()}
            </select>
        }
    };
    let last_of = move |id: Option<Uuid>| {
        let res = device(id).and_then(|d| d.resolution);
        s.readings.with(|r| {
            id.and_then(|id| r.trace(id))
                .and_then(Trace::last)
                .map_or_else(|| "—".to_owned(), |p| format_value(p.v, res))
        })
    };
    view! {
        <div class="live-chart" data-testid="live-chart" data-points=move || model.with(|m| m.points).to_string()>
            <div class="chart-controls" class:hidden=move || fixed.get()>
                <div class="field compact">
                    <label for=uut_id.clone()>{move || i18n.t(Msg::ChannelUut)}</label>
                    {select(uut_id.clone(), uut_pick, uut, "chart-uut")}
                </div>
                <div class="field compact">
                    <label for=ref_id.clone()>{move || i18n.t(Msg::ChannelReference)}</label>
                    {select(ref_id.clone(), ref_pick, reference, "chart-ref")}
                </div>
                <div class="field compact">
                    <label for=mpe_id.clone()>{move || i18n.tf(Msg::ChartMpe, &[("unit", &unit())])}</label>
                    <input id=mpe_id type="text" inputmode="decimal" autocomplete="off" data-testid="chart-mpe"
                        prop:value=move || mpe_text.get() on:input=move |ev| mpe_text.set(event_target_value(&ev))/>
                </div>
            </div>
            <ul class="legend">
                <li><span class="swatch uut" aria-hidden="true"></span>{move || i18n.t(Msg::ChannelUut)}": "
                    <span class="mono" data-testid="legend-uut">{move || last_of(uut.get())}</span></li>
                <li><span class="swatch ref" aria-hidden="true"></span>{move || i18n.t(Msg::ChannelReference)}": "
                    <span class="mono" data-testid="legend-ref">{move || last_of(reference.get())}</span></li>
            </ul>
            <PlotSvg plot=Signal::derive(move || model.with(|m| m.values.clone())) label=values_label
                classes=&["uut", "ref"] testid="chart-values"/>
            {move || model.with(|m| m.error.is_some()).then(|| view! {
                <h3 class="chart-title">{move || i18n.t(Msg::ChartErrorTitle)}
                    " "<span class="mono" data-testid="last-error">{move || model.with(|m| m.last_error).map_or_else(|| "—".to_owned(), |e| format!("{e:+.6}"))}</span>
                </h3>
                <PlotSvg plot=Signal::derive(move || model.with(|m| m.error.clone().unwrap_or_default())) label=error_label
                    classes=&["err"] testid="chart-error"/>
                {move || (model.with(|m| m.off_scale) != 0).then(|| view! {
                    <p class="muted small" data-testid="error-off-scale">
                        {move || i18n.tf(Msg::ChartOffScale, &[("n", &model.with(|m| m.off_scale).to_string())])}
                    </p>
                })}
            })}
            {move || model.with(|m| m.points == 0).then(|| view! {
                <p class="muted small">{move || i18n.t(Msg::ChartWaiting)}</p>
            })}
        </div>
    }
}
