//! Comparison rounds (计量比对, proficiency testing; issue 11): what the
//! routes in `http::rounds` do. The report is
//! `jiliang_protocol::rounds::build_report` — the browser runs the same
//! function — over the stored results; publishing stores it as a
//! `round_report` ledger record with the round's state in one transaction.
//!
//! Who reads a round decides what they see ([`Relation`]): its coordinators
//! (experts and administrators of the coordinating institution or above it,
//! or above one of its labs) see every lab named and the report at any
//! time; a participating lab sees its own result named and the others by
//! code, and the report only once the round is published (blind) or closed
//! (open), named only when published with names.

pub mod demo;

use jiliang_ledger::{Record, RecordKind};
use jiliang_metrology::interlab::{CompareReport, MethodName};
use jiliang_protocol::rooms::Author;
use jiliang_protocol::rounds::{
    self, AttachmentInfo, Entry, Reader, RoundAbilities, RoundLab, RoundOptions, RoundResult,
    RoundState, RoundView,
};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::Principal;
use crate::authz::{self, Access};
use crate::clock::now;
use crate::error::{AppError, AppResult};
use crate::i18n::Text;
use crate::ledger::records::{rfc3339_micros, truncate_micros, unix_ms};
use crate::store::Store;
use crate::store::rounds::{Refused, StoredAttachmentInfo, StoredRound, StoredRoundLab};

/// How the reader stands to a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Sees everything; `manage` when they may also run it.
    Coordinator { manage: bool },
    /// Takes part for this lab.
    Participant { lab_id: Uuid },
}

/// A round with its labs, as loaded for one request.
pub struct Loaded {
    pub round: StoredRound,
    pub labs: Vec<StoredRoundLab>,
    pub state: RoundState,
    pub method: MethodName,
    pub options: RoundOptions,
    /// Whether the round is coordinated in, or involves a lab of, the
    /// reader's directory (decides 403 or 404).
    in_directory: bool,
}

pub fn not_found() -> AppError {
    AppError::not_found("找不到该比对。", "No such comparison round.")
}

fn not_found_text() -> Text {
    Text::new("找不到该比对。", "No such comparison round.")
}

pub fn invalid_field(field: &str, zh: String, en: String) -> AppError {
    AppError::Invalid {
        message: Text::owned(zh.clone(), en),
        details: vec![jiliang_protocol::FieldError {
            field: field.to_owned(),
            message: zh,
        }],
    }
}

/// Load a round and decide how `p` stands to it (or refuse: 403/404).
pub async fn load(store: &Store, p: &Principal, id: Uuid) -> AppResult<(Loaded, Relation)> {
    let round = store.get_round(id).await?.ok_or_else(not_found)?;
    let labs = store.round_labs(id).await?;
    let state = RoundState::parse(&round.state).ok_or_else(|| {
        AppError::internal(format!("round {id}: unknown state {:?}", round.state))
    })?;
    let method: MethodName =
        serde_json::from_value(serde_json::Value::String(round.method.clone()))
            .map_err(|e| AppError::internal(format!("round {id}: method: {e}")))?;
    let options: RoundOptions = serde_json::from_str(&round.options)
        .map_err(|e| AppError::internal(format!("round {id}: options: {e}")))?;
    let in_directory = round.path.starts_with(&p.directory)
        || labs.iter().any(|l| l.path.starts_with(&p.directory));
    let touches = labs.iter().any(|l| l.path.starts_with(&p.path));
    let relation = if authz::oversee_round(p, &round.path, touches) {
        Relation::Coordinator {
            manage: authz::manage_round(p, &round.path, in_directory).allowed(),
        }
    } else if labs.iter().any(|l| authz::round_participant(p, l.lab_id)) {
        Relation::Participant {
            lab_id: p.institution.id,
        }
    } else {
        authz::deny_round(p, &round.path, in_directory).require(not_found_text())?;
        return Err(not_found());
    };
    Ok((
        Loaded {
            round,
            labs,
            state,
            method,
            options,
            in_directory,
        },
        relation,
    ))
}

impl Loaded {
    /// Refuse unless `p` may coordinate the round.
    pub fn require_manage(&self, p: &Principal) -> AppResult<()> {
        match authz::manage_round(p, &self.round.path, self.in_directory) {
            Access::Allow => Ok(()),
            Access::Forbidden => Err(AppError::ForbiddenBecause(Text::new(
                "只有组织该比对的专家可以执行此操作。",
                "Only the experts coordinating this round can do this.",
            ))),
            Access::Hidden => Err(not_found()),
        }
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.labs
            .iter()
            .map(|l| Entry {
                lab_id: l.lab_id,
                code: l.code.clone(),
                name: l.name.clone(),
                result: match (l.value, l.expanded_uncertainty, l.k) {
                    (Some(v), Some(u), Some(k)) => Some((v, u, k)),
                    _ => None,
                },
                excluded: l.excluded_reason.clone(),
            })
            .collect()
    }

    /// How the report names labs for a reader with `relation`.
    pub fn reader(&self, relation: Relation) -> Reader {
        match relation {
            Relation::Coordinator { .. } => Reader::Coordinator,
            Relation::Participant { lab_id } => Reader::Lab {
                lab_id,
                names_published: self.state == RoundState::Published && self.round.names_published,
            },
        }
    }

    /// Whether a reader with `relation` may read the report now.
    pub fn report_readable(&self, relation: Relation) -> bool {
        match relation {
            Relation::Coordinator { .. } => true,
            Relation::Participant { .. } => match self.state {
                RoundState::Open => false,
                RoundState::Closed => !self.round.blind,
                RoundState::Published => true,
            },
        }
    }

    /// The report for `relation`, or why there is none (409 before the
    /// reader may see it, 422 when the results do not give one).
    pub fn report(&self, relation: Relation) -> AppResult<CompareReport> {
        if !self.report_readable(relation) {
            return Err(AppError::Conflict(if self.round.blind {
                Text::new(
                    "这是盲样比对：报告发布后参加实验室才能查看。",
                    "This is a blind round: participants see the report once it is published.",
                )
            } else {
                Text::new(
                    "比对结束后参加实验室才能查看报告。",
                    "Participants see the report once the round is closed.",
                )
            }));
        }
        rounds::build_report(
            &self.entries(),
            self.method,
            &self.options,
            self.reader(relation),
        )
        .map_err(|e| AppError::Invalid {
            message: Text::owned(e.zh.clone(), e.en),
            details: vec![jiliang_protocol::FieldError {
                field: "labs".into(),
                message: e.zh,
            }],
        })
    }

    /// The round as `p` may see it.
    pub fn view(
        &self,
        p: &Principal,
        relation: Relation,
        attachments: &[StoredAttachmentInfo],
    ) -> RoundView {
        let now = now();
        let open_for_results = self.state == RoundState::Open && now < self.round.deadline;
        let labs = self
            .labs
            .iter()
            .map(|l| {
                let visible = match relation {
                    Relation::Coordinator { .. } => true,
                    Relation::Participant { lab_id } => lab_id == l.lab_id,
                };
                let named =
                    visible || (self.state == RoundState::Published && self.round.names_published);
                let result = match (visible, l.value, l.expanded_uncertainty, l.k) {
                    (true, Some(value), Some(big_u), Some(k)) => Some(RoundResult {
                        value,
                        expanded_uncertainty: big_u,
                        k,
                        method_notes: l.method_notes.clone().unwrap_or_default(),
                        submitted_by: Author {
                            id: l.submitted_by.unwrap_or_default(),
                            name: l.submitter_name.clone().unwrap_or_default(),
                        },
                        submitted_at: l.submitted_at.unwrap_or(self.round.created_at),
                        attachments: attachments
                            .iter()
                            .filter(|a| a.lab_id == l.lab_id)
                            .map(attachment_info)
                            .collect(),
                    }),
                    _ => None,
                };
                RoundLab {
                    code: l.code.clone(),
                    lab_id: named.then_some(l.lab_id),
                    name: named.then(|| l.name.clone()),
                    submitted: l.value.is_some(),
                    result,
                    excluded: l.excluded_reason.clone(),
                }
            })
            .collect();
        let manage = matches!(relation, Relation::Coordinator { manage: true });
        let submit_for = if open_for_results {
            self.labs
                .iter()
                .filter(|l| authz::round_participant(p, l.lab_id))
                .map(|l| l.lab_id)
                .collect()
        } else {
            Vec::new()
        };
        RoundView {
            id: self.round.id,
            title: self.round.title.clone(),
            artefact: self.round.artefact.clone(),
            quantity: self.round.quantity.clone(),
            unit: self.round.unit.clone(),
            protocol: self.round.protocol.clone(),
            deadline: self.round.deadline,
            method: self.method,
            options: self.options,
            blind: self.round.blind,
            state: self.state,
            institution_id: self.round.institution_id,
            created_by: Author {
                id: self.round.created_by,
                name: self.round.creator_name.clone(),
            },
            created_at: self.round.created_at,
            closed_at: self.round.closed_at,
            published_at: self.round.published_at,
            names_published: self.round.names_published,
            labs,
            abilities: RoundAbilities {
                manage,
                submit_for,
                report: self.report_readable(relation),
            },
            report_number: None,
        }
    }
}

pub fn attachment_info(a: &StoredAttachmentInfo) -> AttachmentInfo {
    AttachmentInfo {
        id: a.id,
        name: a.name.clone(),
        content_type: a.content_type.clone(),
        size: u64::try_from(a.size).unwrap_or(0),
        uploaded_at: a.uploaded_at,
    }
}

/// A refused write in the user's terms: 409 for the round's state or the
/// deadline, 422 for a lab that is not invited.
pub fn refused(r: Refused, deadline: OffsetDateTime) -> AppError {
    match r {
        Refused::State("open") => AppError::Conflict(Text::new(
            "比对仍在进行中，请先结束比对。",
            "The round is still open; close it first.",
        )),
        Refused::State("closed") => AppError::Conflict(Text::new(
            "比对已结束，不再接受结果。",
            "The round is closed; results are no longer accepted.",
        )),
        Refused::State(_) => AppError::Conflict(Text::new(
            "比对报告已发布，不能再更改。",
            "The round's report is published; nothing can change any more.",
        )),
        Refused::Deadline => {
            let at = rfc3339_micros(deadline);
            AppError::Conflict(Text::owned(
                format!("提交截止时间（{at}）已过，不再接受结果。"),
                format!("The deadline ({at}) has passed; results are no longer accepted."),
            ))
        }
        Refused::NotInvited => invalid_field(
            "lab_id",
            "该实验室未受邀参加此比对。".into(),
            "That lab is not invited to this round.".into(),
        ),
        Refused::TooMany => invalid_field(
            "attachments",
            format!(
                "每个实验室最多 {} 个附件。",
                jiliang_protocol::rounds::MAX_ATTACHMENTS
            ),
            format!(
                "At most {} attachments per lab.",
                jiliang_protocol::rounds::MAX_ATTACHMENTS
            ),
        ),
    }
}

#[derive(Serialize)]
struct LabLine<'a> {
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lab_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    value: Option<f64>,
    expanded_uncertainty: Option<f64>,
    k: Option<f64>,
    excluded: Option<&'a str>,
}

#[derive(Serialize)]
struct Content<'a> {
    record: &'static str,
    round: Uuid,
    title: &'a str,
    artefact: &'a str,
    quantity: &'a str,
    unit: &'a str,
    method: MethodName,
    options: &'a RoundOptions,
    blind: bool,
    deadline: String,
    published_by: &'a Author,
    published_at: String,
    names: bool,
    labs: Vec<LabLine<'a>>,
    report: &'a CompareReport,
}

/// The published report's record content (and the report it holds: named
/// when published with names, by code otherwise).
pub fn record_content(
    l: &Loaded,
    by: &Author,
    at: OffsetDateTime,
    names: bool,
) -> AppResult<serde_json::Value> {
    let report = rounds::build_report(
        &l.entries(),
        l.method,
        &l.options,
        Reader::Anonymous {
            names_published: names,
        },
    )
    .map_err(|e| {
        AppError::Conflict(Text::owned(
            format!("无法发布：{}", e.zh),
            format!("Cannot publish: {}", e.en),
        ))
    })?;
    let labs = l
        .labs
        .iter()
        .map(|x| LabLine {
            code: &x.code,
            lab_id: names.then_some(x.lab_id),
            name: names.then_some(x.name.as_str()),
            value: x.value,
            expanded_uncertainty: x.expanded_uncertainty,
            k: x.k,
            excluded: x.excluded_reason.as_deref(),
        })
        .collect();
    serde_json::to_value(Content {
        record: "round_report",
        round: l.round.id,
        title: &l.round.title,
        artefact: &l.round.artefact,
        quantity: &l.round.quantity,
        unit: &l.round.unit,
        method: l.method,
        options: &l.options,
        blind: l.round.blind,
        deadline: rfc3339_micros(l.round.deadline),
        published_by: by,
        published_at: rfc3339_micros(at),
        names,
        labs,
        report: &report,
    })
    .map_err(AppError::internal)
}

/// The `round_report` ledger record of a published round.
pub fn record(
    id: Uuid,
    at: OffsetDateTime,
    content: &serde_json::Value,
) -> Result<Record, jiliang_ledger::RecordError> {
    Record::new(
        RecordKind::ROUND_REPORT,
        id.to_string(),
        unix_ms(truncate_micros(at)),
        content,
    )
}

fn text_field(field: &str, v: &str, max: usize, required: bool) -> AppResult<String> {
    let t = v.trim();
    if required && t.is_empty() {
        return Err(invalid_field(
            field,
            format!("{field} 不能为空。"),
            format!("{field} must not be empty."),
        ));
    }
    if t.chars().count() > max {
        return Err(invalid_field(
            field,
            format!("{field} 最长 {max} 个字符。"),
            format!("{field} is longer than {max} characters."),
        ));
    }
    Ok(t.to_owned())
}

/// Create a round coordinated from `institution` by `by` (checks every
/// field; the caller checked that `by` may create rounds).
pub async fn create(
    store: &Store,
    req: &rounds::RoundCreate,
    by: Uuid,
    institution: Uuid,
    at: OffsetDateTime,
) -> AppResult<Uuid> {
    let title = text_field("title", &req.title, rounds::MAX_TITLE, true)?;
    let artefact = text_field("artefact", &req.artefact, rounds::MAX_TITLE, false)?;
    let quantity = text_field("quantity", &req.quantity, rounds::MAX_TITLE, true)?;
    let protocol = text_field("protocol", &req.protocol, rounds::MAX_TEXT, false)?;
    let unit = req.unit.trim();
    if let Err(e) = jiliang_metrology::ucum::validate(unit) {
        return Err(invalid_field(
            "unit",
            format!("unit：“{unit}”不是可识别的 UCUM 单位（{e}）。"),
            format!("unit: \"{unit}\" is not a known UCUM unit ({e})."),
        ));
    }
    if req.deadline <= at {
        return Err(invalid_field(
            "deadline",
            "deadline：截止时间必须在将来。".into(),
            "deadline: the deadline must be in the future.".into(),
        ));
    }
    rounds::compare_options(req.method, &req.options)
        .map_err(|e| invalid_field(e.field, e.zh, e.en))?;
    let id = Uuid::now_v7();
    let options = serde_json::to_string(&req.options).map_err(AppError::internal)?;
    store
        .insert_round(&crate::store::rounds::NewRound {
            id,
            title: &title,
            artefact: &artefact,
            quantity: &quantity,
            unit,
            protocol: &protocol,
            deadline: req.deadline,
            method: req.method.as_str(),
            options: &options,
            blind: req.blind,
            institution_id: institution,
            created_by: by,
            created_at: at,
        })
        .await?;
    Ok(id)
}

/// Store a lab's result (the caller checked who may).
pub async fn submit(
    store: &Store,
    l: &Loaded,
    lab: Uuid,
    req: &rounds::ResultSubmit,
    by: Uuid,
    at: OffsetDateTime,
) -> AppResult<()> {
    rounds::check_result(req.value, req.expanded_uncertainty, req.k)
        .map_err(|e| invalid_field(e.field, e.zh, e.en))?;
    let notes = text_field("method_notes", &req.method_notes, rounds::MAX_NOTES, false)?;
    store
        .put_round_result(
            l.round.id,
            lab,
            req.value,
            req.expanded_uncertainty,
            req.k,
            &notes,
            by,
            at,
        )
        .await?
        .map_err(|r| refused(r, l.round.deadline))
}

/// Publish a closed round: the report becomes a `round_report` record.
pub async fn publish(
    store: &Store,
    l: &Loaded,
    by: &Author,
    names: bool,
    at: OffsetDateTime,
) -> AppResult<u64> {
    if l.state != RoundState::Closed {
        return Err(refused(Refused::State(l.state.as_str()), l.round.deadline));
    }
    let content = record_content(l, by, at, names)?;
    let rec = record(l.round.id, at, &content).map_err(AppError::internal)?;
    let text = serde_json::to_string(&content).map_err(AppError::internal)?;
    store
        .publish_round(l.round.id, by.id, at, names, &text, &rec)
        .await?
        .map_err(|r| refused(r, l.round.deadline))
}

/// Decodes standard base64 (RFC 4648 alphabet, padding optional, ASCII
/// whitespace ignored); `None` for anything else.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    }
    let bytes: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let body = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="))
        .unwrap_or(&bytes);
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for chunk in body.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let [_, a, b, c] = acc.to_be_bytes();
        out.push(a);
        if chunk.len() > 2 {
            out.push(b);
        }
        if chunk.len() > 3 {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_padded_and_unpadded_and_refuses_junk() {
        assert_eq!(decode_base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("aGVs\nbG8h").as_deref(), Some(&b"hello!"[..]));
        assert_eq!(decode_base64("").as_deref(), Some(&b""[..]));
        assert!(decode_base64("aGVsbG8*").is_none());
        assert!(decode_base64("a").is_none());
    }
}
