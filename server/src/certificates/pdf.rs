//! The PDF 校准证书 of a certificate, with krilla: A4, real text in one CJK
//! font (subset embedded, so it is searchable and copyable), the results
//! table, and a QR code drawn as vector squares that links to the public
//! verification page. PDF/A-3b with the DCC XML embedded as its
//! alternative representation; if the archival checks refuse the document
//! (a character the font lacks), the same pages are written as plain PDF.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use krilla::Document;
use krilla::SerializeSettings;
use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::embed::{AssociationKind, EmbeddedFile, MimeType};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use qrcode::{Color as QrColor, EcLevel, QrCode};
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

use super::Certificate;
use super::document::{pt_verdict_zh, verdict_en, verdict_zh};

/// Where a CJK font is looked for when none is configured: Debian's
/// `fonts-noto-cjk` (face 2 = Simplified Chinese) and `fonts-wqy-microhei`.
pub const DEFAULT_FONTS: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
];

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "no CJK font: set --certificate-font (JILIANG_CERTIFICATE_FONT) or install fonts-noto-cjk or fonts-wqy-microhei (tried {0})"
    )]
    NoFont(String),
    #[error("cannot read the font {path}: {why}")]
    BadFont { path: PathBuf, why: String },
    #[error("the QR code cannot hold the verification link: {0}")]
    Qr(String),
    #[error("cannot write the PDF: {0}")]
    Write(String),
}

/// A loaded CJK font (read once, shared by every certificate).
#[derive(Clone)]
pub struct CertFont {
    data: Arc<Vec<u8>>,
    index: u32,
    font: Font,
    pub path: PathBuf,
}

impl std::fmt::Debug for CertFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertFont({}#{})", self.path.display(), self.index)
    }
}

impl CertFont {
    /// Load `path` (face `index`), or the first of [`DEFAULT_FONTS`] present.
    pub fn load(path: Option<&Path>, index: Option<u32>) -> Result<Self, PdfError> {
        let (path, index) = match path {
            Some(p) => (p.to_path_buf(), index.unwrap_or(0)),
            None => {
                let found = DEFAULT_FONTS.iter().find(|(p, _)| Path::new(p).exists());
                let Some((p, i)) = found else {
                    let tried: Vec<&str> = DEFAULT_FONTS.iter().map(|(p, _)| *p).collect();
                    return Err(PdfError::NoFont(tried.join(", ")));
                };
                (PathBuf::from(p), index.unwrap_or(*i))
            }
        };
        let bytes = std::fs::read(&path).map_err(|e| PdfError::BadFont {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let data = Arc::new(bytes);
        let font = Font::new(data.clone().into(), index).ok_or_else(|| PdfError::BadFont {
            path: path.clone(),
            why: format!("no usable face {index}"),
        })?;
        let probe = FontRef::from_index(data.as_slice(), index).map_err(|e| PdfError::BadFont {
            path: path.clone(),
            why: e.to_string(),
        })?;
        if probe.charmap().map('证').is_none() {
            return Err(PdfError::BadFont {
                path,
                why: "the face has no Chinese characters".to_owned(),
            });
        }
        Ok(Self {
            data,
            index,
            font,
            path,
        })
    }

    /// Width of `text` at `size` pt (sum of advances; no kerning).
    fn width(&self, text: &str, size: f32) -> f32 {
        let Ok(f) = FontRef::from_index(self.data.as_slice(), self.index) else {
            return 0.0;
        };
        let charmap = f.charmap();
        let metrics = f.glyph_metrics(Size::new(size), LocationRef::default());
        text.chars()
            .map(|c| {
                charmap
                    .map(c)
                    .and_then(|g| metrics.advance_width(g))
                    .unwrap_or(size * 0.5)
            })
            .sum()
    }

    /// `text` cut into lines no wider than `max` pt (at any character: CJK
    /// text has no spaces to break at).
    fn wrap(&self, text: &str, size: f32, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for c in text.chars() {
            let mut next = line.clone();
            next.push(c);
            if !line.is_empty() && self.width(&next, size) > max {
                lines.push(std::mem::take(&mut line));
                line.push(c);
            } else {
                line = next;
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }
}

const W: f32 = 595.0;
const H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const BOTTOM: f32 = 770.0;

struct Pen<'a, 'b> {
    s: &'a mut Surface<'b>,
    font: &'a CertFont,
}

impl Pen<'_, '_> {
    fn text(&mut self, x: f32, y: f32, size: f32, t: &str) {
        if t.is_empty() {
            return;
        }
        self.s.set_fill(Some(black()));
        self.s.set_stroke(None);
        self.s.draw_text(
            Point::from_xy(x, y),
            self.font.font.clone(),
            size,
            t,
            false,
            TextDirection::Auto,
        );
    }

    fn centred(&mut self, cx: f32, y: f32, size: f32, t: &str) {
        let w = self.font.width(t, size);
        self.text(cx - w / 2.0, y, size, t);
    }

    fn right(&mut self, rx: f32, y: f32, size: f32, t: &str) {
        let w = self.font.width(t, size);
        self.text(rx - w, y, size, t);
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32) {
        let mut pb = PathBuilder::new();
        pb.move_to(x1, y1);
        pb.line_to(x2, y2);
        if let Some(path) = pb.finish() {
            self.s.set_fill(None);
            self.s.set_stroke(Some(Stroke {
                width,
                ..Default::default()
            }));
            self.s.draw_path(&path);
        }
    }

    /// The QR code of `url`, `size` pt square, top-left at (x, y).
    fn qr(&mut self, url: &str, x: f32, y: f32, size: f32) -> Result<(), PdfError> {
        let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
            .map_err(|e| PdfError::Qr(e.to_string()))?;
        let n = code.width();
        let quiet = 2.0;
        #[allow(clippy::cast_precision_loss)]
        let cell = size / (n as f32 + 2.0 * quiet);
        let mut pb = PathBuilder::new();
        for (i, c) in code.to_colors().iter().enumerate() {
            if *c == QrColor::Dark {
                #[allow(clippy::cast_precision_loss)]
                let (col, row) = ((i % n) as f32, (i / n) as f32);
                if let Some(r) = Rect::from_xywh(
                    x + (quiet + col) * cell,
                    y + (quiet + row) * cell,
                    cell,
                    cell,
                ) {
                    pb.push_rect(r);
                }
            }
        }
        if let Some(path) = pb.finish() {
            self.s.set_stroke(None);
            self.s.set_fill(Some(black()));
            self.s.draw_path(&path);
        }
        Ok(())
    }
}

fn black() -> Fill {
    Fill {
        paint: rgb::Color::new(0, 0, 0).into(),
        ..Default::default()
    }
}

fn pdf_date(iso: &str) -> DateTime {
    // `YYYY-MM-DDTHH:MM:SS…Z`, as `Certificate::issued_at` is written.
    let num = |r: std::ops::Range<usize>| iso.get(r).and_then(|s| s.parse::<u8>().ok());
    let year = iso
        .get(0..4)
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(1970);
    DateTime::new(year)
        .month(num(5..7).unwrap_or(1))
        .day(num(8..10).unwrap_or(1))
        .hour(num(11..13).unwrap_or(0))
        .minute(num(14..16).unwrap_or(0))
        .second(num(17..19).unwrap_or(0))
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}

/// Everything drawn on the pages (the same with or without PDF/A).
fn draw(
    doc: &mut Document,
    c: &Certificate,
    font: &CertFont,
    verify_url: &str,
) -> Result<(), PdfError> {
    let d = &c.document;
    let page_settings =
        || PageSettings::from_wh(W, H).ok_or_else(|| PdfError::Write("page size".into()));
    let mut page = doc.start_page_with(page_settings()?);
    let mut surface = page.surface();
    let mut pen = Pen {
        s: &mut surface,
        font,
    };
    pen.centred(W / 2.0, 78.0, 28.0, &d.title_zh);
    pen.centred(W / 2.0, 100.0, 12.0, &d.title_en);
    let number_label = if d.round.is_some() {
        "报告编号 Report No."
    } else {
        "证书编号 Certificate No."
    };
    pen.text(
        MARGIN,
        132.0,
        11.0,
        &format!("{number_label}：{}", c.number),
    );
    pen.qr(verify_url, W - MARGIN - 96.0, 112.0, 96.0)?;
    pen.centred(W - MARGIN - 48.0, 218.0, 7.5, "扫码核验 Scan to verify");

    let label_x = MARGIN;
    let value_x = MARGIN + 150.0;
    let max_value = W - MARGIN - 110.0 - value_x;
    let mut y = 162.0;
    let customer = match &d.customer.name_en {
        Some(en) => format!("{} {en}", d.customer.name_zh),
        None => d.customer.name_zh.clone(),
    };
    let lab = match &d.lab.name_en {
        Some(en) => format!("{} {en}", d.lab.name_zh),
        None => d.lab.name_zh.clone(),
    };
    let dates = if d.begin_date == d.end_date {
        d.end_date.clone()
    } else {
        format!("{} – {}", d.begin_date, d.end_date)
    };
    let device_id = d
        .item
        .identifications
        .iter()
        .find(|i| i.issuer == "calibrationLaboratory")
        .map(|i| i.value.clone())
        .unwrap_or_default();
    let rows: Vec<(&str, String)> = match &d.round {
        Some(t) => vec![
            ("比对名称 Comparison", d.item.kind.clone()),
            ("传递标准 Artefact", d.item.name.clone()),
            (
                "被测量 Measurand",
                format!("{}（{}）", d.item.quantity, t.unit),
            ),
            (
                "参考值 Reference value",
                format!(
                    "{} {}，U = {} {}（k = {}）",
                    t.reference.value,
                    t.unit,
                    t.reference.expanded_uncertainty,
                    t.unit,
                    t.reference.coverage_factor
                ),
            ),
            ("比对期间 Period", dates),
            ("签发日期 Date of issue", c.issue_date.clone()),
            ("组织单位 Coordinator", lab),
            ("批准人 Signed by", c.signer.name.clone()),
        ],
        None => vec![
            ("委托单位 Customer", customer),
            ("器具名称 Instrument", d.item.name.clone()),
            ("器具类型 Type", d.item.kind.clone()),
            ("设备编号 Device id", device_id),
            ("校准日期 Date of calibration", dates),
            ("签发日期 Date of issue", c.issue_date.clone()),
            ("校准单位 Laboratory", lab),
            ("批准人 Signed by", c.signer.name.clone()),
        ],
    };
    for (label, value) in &rows {
        pen.text(label_x, y, 9.5, label);
        for (i, line) in font.wrap(value, 10.5, max_value).iter().enumerate() {
            if i > 0 {
                y += 14.0;
            }
            pen.text(value_x, y, 10.5, line);
        }
        y += 19.0;
    }

    // Results.
    for t in &d.results {
        y += 10.0;
        pen.text(
            MARGIN,
            y,
            12.0,
            &format!(
                "校准结果 Results：{} {}（{}）",
                t.name_zh, t.name_en, t.unit
            ),
        );
        y += 10.0;
        let cols: [(f32, &str, &str); 6] = [
            (MARGIN + 70.0, "标称值", "Nominal"),
            (MARGIN + 150.0, "标准值", "Reference"),
            (MARGIN + 230.0, "被校示值", "Indicated"),
            (MARGIN + 310.0, "示值误差", "Error"),
            (MARGIN + 405.0, "扩展不确定度", "U (k)"),
            (W - MARGIN - 8.0, "结论", "Verdict"),
        ];
        let header = |pen: &mut Pen<'_, '_>, y: &mut f32| {
            pen.line(MARGIN, *y, W - MARGIN, *y, 0.8);
            *y += 14.0;
            for (x, zh, _) in &cols {
                pen.right(*x, *y, 9.5, zh);
            }
            *y += 12.0;
            for (x, _, en) in &cols {
                pen.right(*x, *y, 8.0, en);
            }
            *y += 6.0;
            pen.line(MARGIN, *y, W - MARGIN, *y, 0.5);
            *y += 15.0;
        };
        header(&mut pen, &mut y);
        for r in &t.rows {
            if y > BOTTOM - 20.0 {
                // The page is full: the table goes on on a new page.
                surface.finish();
                page.finish();
                page = doc.start_page_with(page_settings()?);
                surface = page.surface();
                pen = Pen {
                    s: &mut surface,
                    font,
                };
                y = 70.0;
                pen.text(MARGIN, 50.0, 9.0, &format!("{}（续）", c.number));
                header(&mut pen, &mut y);
            }
            let verdict = r
                .verdict
                .as_deref()
                .map(|v| format!("{} {}", verdict_zh(v), verdict_en(v)))
                .unwrap_or_default();
            let cells = [
                r.nominal.clone(),
                r.reference.clone(),
                r.indicated.clone(),
                r.error.clone(),
                format!("{} (k={})", r.expanded_uncertainty, r.coverage_factor),
                verdict,
            ];
            for ((x, _, _), v) in cols.iter().zip(&cells) {
                pen.right(*x, y, 10.0, v);
            }
            y += 17.0;
        }
        pen.line(MARGIN, y - 10.0, W - MARGIN, y - 10.0, 0.8);
        y += 4.0;
        pen.text(
            MARGIN,
            y,
            8.5,
            "扩展不确定度对应约 95% 的包含概率。The expanded uncertainty corresponds to a coverage probability of about 95 %.",
        );
        y += 14.0;
    }
    if let Some(t) = &d.round {
        y += 10.0;
        pen.text(MARGIN, y, 12.0, &format!("比对结果 Results（{}）", t.unit));
        y += 10.0;
        // The score shown beside En: the first one every lab has.
        let (score_name, score_of): (&str, fn(&super::document::RoundRow) -> Option<&str>) =
            if t.rows.iter().all(|r| r.z.is_some()) {
                ("z", |r| r.z.as_deref())
            } else if t.rows.iter().all(|r| r.z_prime.is_some()) {
                ("z′", |r| r.z_prime.as_deref())
            } else {
                ("ζ", |r| r.zeta.as_deref())
            };
        let cols: [(f32, &str, &str); 7] = [
            (MARGIN + 205.0, "测得值", "Value"),
            (MARGIN + 275.0, "U (k)", "as stated"),
            (MARGIN + 335.0, "D", "x − x_ref"),
            (MARGIN + 385.0, "U(D)", "k = 2"),
            (MARGIN + 420.0, "En", ""),
            (MARGIN + 455.0, score_name, ""),
            (W - MARGIN, "结论", "Verdict"),
        ];
        let header = |pen: &mut Pen<'_, '_>, y: &mut f32| {
            pen.line(MARGIN, *y, W - MARGIN, *y, 0.8);
            *y += 14.0;
            pen.text(MARGIN, *y, 9.5, "实验室");
            for (x, zh, _) in &cols {
                pen.right(*x, *y, 9.5, zh);
            }
            *y += 12.0;
            pen.text(MARGIN, *y, 8.0, "Laboratory");
            for (x, _, en) in &cols {
                pen.right(*x, *y, 8.0, en);
            }
            *y += 6.0;
            pen.line(MARGIN, *y, W - MARGIN, *y, 0.5);
            *y += 15.0;
        };
        header(&mut pen, &mut y);
        for r in &t.rows {
            if y > BOTTOM - 20.0 {
                surface.finish();
                page.finish();
                page = doc.start_page_with(page_settings()?);
                surface = page.surface();
                pen = Pen {
                    s: &mut surface,
                    font,
                };
                y = 70.0;
                pen.text(MARGIN, 50.0, 9.0, &format!("{}（续）", c.number));
                header(&mut pen, &mut y);
            }
            let label = if r.included {
                r.lab.clone()
            } else {
                format!("{} *", r.lab)
            };
            // A long name wraps under itself; the figures stay on its first line.
            let lines = font.wrap(&label, 9.0, 140.0);
            for (i, line) in lines.iter().enumerate() {
                #[allow(clippy::cast_precision_loss)]
                pen.text(MARGIN, y + 11.0 * i as f32, 9.0, line);
            }
            let u = if r.result.expanded_uncertainty.is_empty() {
                String::new()
            } else {
                format!(
                    "{} ({})",
                    r.result.expanded_uncertainty, r.result.coverage_factor
                )
            };
            let cells = [
                r.result.value.clone(),
                u,
                r.d.clone(),
                r.big_u_d.clone().unwrap_or_default(),
                r.en.clone().unwrap_or_default(),
                score_of(r).unwrap_or_default().to_owned(),
                r.verdict
                    .as_deref()
                    .map(pt_verdict_zh)
                    .unwrap_or_default()
                    .to_owned(),
            ];
            for ((x, _, _), v) in cols.iter().zip(&cells) {
                pen.right(*x, y, 9.0, v);
            }
            #[allow(clippy::cast_precision_loss)]
            let extra = 11.0 * lines.len().saturating_sub(1) as f32;
            y += 16.0 + extra;
        }
        pen.line(MARGIN, y - 10.0, W - MARGIN, y - 10.0, 0.8);
        y += 4.0;
        for r in t.rows.iter().filter(|r| !r.included) {
            let why = r.exclusion_reason.as_deref().unwrap_or("");
            for line in font.wrap(
                &format!(
                    "* {}：未参与参考值计算 Not in the reference value — {why}",
                    r.code
                ),
                8.5,
                W - 2.0 * MARGIN,
            ) {
                pen.text(MARGIN, y, 8.5, &line);
                y += 12.0;
            }
        }
        pen.text(
            MARGIN,
            y,
            8.5,
            "满意 satisfactory · 可疑 questionable · 不满意 unsatisfactory；U 为扩展不确定度（约 95 %）。",
        );
        y += 14.0;
    }
    if let Some(v) = &d.verdict {
        pen.text(
            MARGIN,
            y + 6.0,
            11.0,
            &format!("结论 Conclusion：{} {}", verdict_zh(v), verdict_en(v)),
        );
        y += 22.0;
    }
    if !d.method.is_empty() {
        y += 6.0;
        pen.text(
            MARGIN,
            y,
            10.5,
            if d.round.is_some() {
                "比对方法 Method"
            } else {
                "校准方法与溯源 Method and traceability"
            },
        );
        y += 15.0;
        for m in &d.method {
            for line in font.wrap(m, 9.0, W - 2.0 * MARGIN) {
                if y > BOTTOM {
                    surface.finish();
                    page.finish();
                    page = doc.start_page_with(page_settings()?);
                    surface = page.surface();
                    pen = Pen {
                        s: &mut surface,
                        font,
                    };
                    y = 70.0;
                    pen.text(MARGIN, 50.0, 9.0, &format!("{}（续）", c.number));
                }
                pen.text(MARGIN, y, 9.0, &line);
                y += 13.0;
            }
        }
    }
    let _ = y;
    pen.line(MARGIN, 790.0, W - MARGIN, 790.0, 0.5);
    for (i, line) in font
        .wrap(
            &format!(
                "本{}可在 {verify_url} 核验真伪与状态（有效、已撤销、已替代）。Verify this {} and its status at the address above.",
                if d.round.is_some() { "报告" } else { "证书" },
                if d.round.is_some() { "report" } else { "certificate" }
            ),
            7.5,
            W - 2.0 * MARGIN,
        )
        .iter()
        .enumerate()
    {
        #[allow(clippy::cast_precision_loss)]
        pen.text(MARGIN, 803.0 + 10.0 * i as f32, 7.5, line);
    }
    surface.finish();
    page.finish();
    Ok(())
}

fn render(
    c: &Certificate,
    font: &CertFont,
    verify_url: &str,
    dcc: Option<&[u8]>,
) -> Result<Vec<u8>, Render> {
    let mut settings = SerializeSettings::default();
    if dcc.is_some()
        && let Ok(config) = ConfigurationBuilder::new()
            .with_archival_validator(Archival::A3_B)
            .finish()
    {
        settings.configuration = config;
    }
    let mut doc = Document::new_with(settings);
    let issued = pdf_date(&c.issued_at);
    doc.set_metadata(
        Metadata::new()
            .title(format!("{} {}", c.document.title_zh, c.number))
            .language("zh-CN".into())
            .creator("Jiliang 计量协作网".into())
            .authors(vec![c.signer.name.clone()])
            .creation_date(issued),
    );
    if let Some(xml) = dcc {
        doc.embed_file(EmbeddedFile {
            path: format!("{}.dcc.xml", c.number),
            mime_type: MimeType::new("application/xml"),
            description: Some("Digital Calibration Certificate (DCC 3.3.0)".to_owned()),
            association_kind: AssociationKind::Alternative,
            data: xml.to_vec().into(),
            modification_date: Some(issued),
            compress: None,
            location: None,
        });
    }
    draw(&mut doc, c, font, verify_url).map_err(Render::Draw)?;
    doc.finish().map_err(Render::Krilla)
}

enum Render {
    Draw(PdfError),
    Krilla(krilla::error::KrillaError),
}

/// The PDF of `c`, its QR code and footer linking to `verify_url`, with
/// `dcc` embedded (PDF/A-3b) when given.
pub fn certificate_pdf(
    c: &Certificate,
    font: &CertFont,
    verify_url: &str,
    dcc: Option<&[u8]>,
) -> Result<Vec<u8>, PdfError> {
    // Check what `draw` can refuse before krilla sees it.
    QrCode::with_error_correction_level(verify_url.as_bytes(), EcLevel::M)
        .map_err(|e| PdfError::Qr(e.to_string()))?;
    let plain = |r: Result<Vec<u8>, Render>| match r {
        Ok(pdf) => Ok(pdf),
        Err(Render::Draw(e)) => Err(e),
        Err(Render::Krilla(e)) => Err(PdfError::Write(format!("{e:?}"))),
    };
    match render(c, font, verify_url, dcc) {
        Err(Render::Krilla(krilla::error::KrillaError::Validation(why))) if dcc.is_some() => {
            tracing::warn!(number = %c.number, ?why, "PDF/A-3b refused; writing a plain PDF");
            plain(render(c, font, verify_url, None))
        }
        other => plain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::{dcc, fixture};

    fn font() -> Option<CertFont> {
        match CertFont::load(None, None) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("skipped: {e}");
                None
            }
        }
    }

    /// `pdftotext -layout` of `pdf`, or `None` (with a message) without poppler-utils.
    fn pdftotext(pdf: &[u8]) -> Option<String> {
        let file = tempfile::NamedTempFile::new().ok()?;
        std::fs::write(file.path(), pdf).ok()?;
        match std::process::Command::new("pdftotext")
            .arg("-layout")
            .arg(file.path())
            .arg("-")
            .output()
        {
            Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
            Ok(o) => panic!("pdftotext failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => {
                eprintln!("skipped: pdftotext not runnable ({e}); install poppler-utils");
                None
            }
        }
    }

    #[test]
    fn a_missing_font_is_a_clear_error() {
        let e = CertFont::load(Some(Path::new("/nonexistent/font.ttc")), None)
            .expect_err("no font there");
        assert!(e.to_string().contains("/nonexistent/font.ttc"), "{e}");
    }

    #[test]
    fn the_pdf_has_real_chinese_text_the_number_and_the_results() {
        let Some(font) = font() else { return };
        let c = fixture::certificate();
        let xml = dcc::dcc_xml(&c).expect("xml");
        let url = "https://jiliang.example.cn/verify/JL-2026-000007";
        let pdf = certificate_pdf(&c, &font, url, Some(&xml)).expect("pdf");
        assert!(pdf.starts_with(b"%PDF-"));
        // To look at it: JILIANG_CERT_PDF_OUT=/tmp/c.pdf, then pdftoppm.
        if let Some(out) = std::env::var_os("JILIANG_CERT_PDF_OUT") {
            std::fs::write(out, &pdf).expect("write the PDF");
        }
        // Subset: far smaller than the font file.
        assert!(pdf.len() < 200_000, "{} bytes", pdf.len());
        // The DCC travels inside (PDF/A-3 associated file).
        assert!(
            pdf.windows(b"JL-2026-000007.dcc.xml".len())
                .any(|w| w == b"JL-2026-000007.dcc.xml")
        );
        let Some(text) = pdftotext(&pdf) else { return };
        for needle in [
            "校准证书",
            "JL-2026-000007",
            "甘肃省计量研究院",
            "秦安县计量检定所",
            "压力变送器 PT-100",
            "王专家",
            "2026-12-04",
            "100.00",
            "100.030",
            "0.018",
            "0.020 (k=2)",
            "合格",
            url,
        ] {
            assert!(text.contains(needle), "{needle:?} not in the text:\n{text}");
        }
    }

    #[test]
    fn a_round_report_pdf_has_its_title_number_and_results() {
        let Some(font) = font() else { return };
        let c = fixture::round_report();
        let xml = dcc::dcc_xml(&c).expect("xml");
        let url = "https://jiliang.example.cn/verify/JL-2026-000008";
        let pdf = certificate_pdf(&c, &font, url, Some(&xml)).expect("pdf");
        // To look at it: JILIANG_ROUND_PDF_OUT=/tmp/r.pdf, then pdftoppm.
        if let Some(out) = std::env::var_os("JILIANG_ROUND_PDF_OUT") {
            std::fs::write(out, &pdf).expect("write the PDF");
        }
        assert!(pdf.len() < 200_000, "{} bytes", pdf.len());
        let Some(text) = pdftotext(&pdf) else { return };
        for needle in [
            "计量比对结果报告",
            "报告编号",
            "JL-2026-000008",
            "10 V 直流电压比对",
            "10.000006",
            "0.000014",
            "秦安县计量检定所 (L01)",
            "10.000095",
            "4.24",
            "不满意",
            "L03 *",
            "漂移 drift",
            "王专家",
            url,
        ] {
            assert!(text.contains(needle), "{needle:?} not in the text:\n{text}");
        }
    }

    #[test]
    fn a_long_table_goes_on_to_more_pages() {
        let Some(font) = font() else { return };
        let mut c = fixture::certificate();
        let row = c.document.results[0].rows[0].clone();
        c.document.results[0].rows = (0..60)
            .map(|i| {
                let mut r = row.clone();
                r.nominal = format!("{i}.00");
                r
            })
            .collect();
        let pdf = certificate_pdf(&c, &font, "http://localhost/verify/JL-2026-000007", None)
            .expect("pdf");
        let Some(text) = pdftotext(&pdf) else { return };
        assert!(text.contains("59.00"), "the last row is there");
        assert!(text.contains('\u{c}'), "more than one page");
        assert!(text.contains("JL-2026-000007（续）"));
    }

    #[test]
    fn a_character_the_font_lacks_still_gives_a_pdf() {
        let Some(font) = font() else { return };
        let mut c = fixture::certificate();
        // Not in the CJK fonts: PDF/A refuses it, the plain PDF is written.
        c.document.item.name = "压力表 \u{1F600}".to_owned();
        let xml = dcc::dcc_xml(&c).expect("xml");
        let pdf = certificate_pdf(&c, &font, "http://localhost/verify/x", Some(&xml)).expect("pdf");
        assert!(pdf.starts_with(b"%PDF-"));
    }
}
