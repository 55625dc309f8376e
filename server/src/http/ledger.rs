//! The log, from outside: the latest signed head and proofs (public — they
//! reveal hashes only), and record exports (for people who may see the
//! records) that anyone can then verify offline or in the browser.

use std::time::Duration;

use axum::extract::State;
use jiliang_ledger::{Bundle, Record, RecordKind, Scope, hex};
use jiliang_protocol::ErrorBody;
use jiliang_protocol::ledger::{
    ConsistencyParams, ConsistencyView, HeadView, InclusionParams, InclusionView,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{AppError, AppPath, AppQuery, AppResult};
use crate::i18n::Text;
use crate::ledger::StoredHead;
use crate::state::AppState;
use crate::store::ledger::StoredLeaf;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_head))
        .routes(routes!(inclusion_proof))
        .routes(routes!(consistency_proof))
        .routes(routes!(get_record))
        .routes(routes!(export_session))
}

fn head_view(h: &StoredHead) -> HeadView {
    let head = &h.head;
    HeadView {
        size: head.size,
        timestamp_ms: head.timestamp_ms,
        timestamp: jiliang_ledger::format_rfc3339_ms(head.timestamp_ms).unwrap_or_default(),
        root_hash: head.root_hash.to_hex(),
        signature: head.signature.to_hex(),
        public_key: hex::encode(&h.public_key),
        key_fingerprint: h.key_fingerprint(),
    }
}

fn no_head() -> AppError {
    AppError::Unavailable(Text::new(
        "尚未签发树头，请稍后重试。",
        "No tree head has been signed yet; try again shortly.",
    ))
}

/// The latest signed tree head.
#[utoipa::path(get, path = "/api/v1/ledger/head", tag = "ledger", responses(
    (status = 200, body = HeadView), (status = 503, body = ErrorBody)))]
async fn get_head(State(state): State<AppState>) -> AppResult<axum::Json<HeadView>> {
    let head = state.ledger.latest_stored_head().ok_or_else(no_head)?;
    Ok(axum::Json(head_view(&head)))
}

async fn signed_size(state: &AppState, size: Option<u64>) -> AppResult<u64> {
    let latest = state.ledger.latest_head().ok_or_else(no_head)?;
    match size {
        None => Ok(latest.size),
        Some(s) if s == latest.size => Ok(s),
        Some(s) => match state.ledger.head_at(s).await.map_err(AppError::internal)? {
            Some(_) => Ok(s),
            None => Err(AppError::not_found(
                "没有该大小的已签名树头。",
                "No signed tree head has that size.",
            )),
        },
    }
}

/// Inclusion proof of leaf `index` in the tree of a signed size.
#[utoipa::path(get, path = "/api/v1/ledger/proof/inclusion", tag = "ledger", params(InclusionParams), responses(
    (status = 200, body = InclusionView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn inclusion_proof(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<InclusionParams>,
) -> AppResult<axum::Json<InclusionView>> {
    let size = signed_size(&state, q.size).await?;
    let (leaf, proof) = state
        .ledger
        .with_tree(|t| (t.leaf_hash(q.index), t.inclusion_proof(q.index, size)));
    let (Some(leaf), Ok(proof)) = (leaf.filter(|_| q.index < size), proof) else {
        return Err(AppError::invalid(
            "index 必须小于树的大小。",
            "index must be below the tree size.",
        ));
    };
    Ok(axum::Json(InclusionView {
        index: q.index,
        size,
        leaf_hash: leaf.to_hex(),
        proof: proof.iter().map(|h| h.to_hex()).collect(),
    }))
}

/// Consistency proof between two signed sizes: the log was only appended to.
#[utoipa::path(get, path = "/api/v1/ledger/proof/consistency", tag = "ledger", params(ConsistencyParams), responses(
    (status = 200, body = ConsistencyView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn consistency_proof(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ConsistencyParams>,
) -> AppResult<axum::Json<ConsistencyView>> {
    let size = signed_size(&state, q.size).await?;
    if q.old_size > size {
        return Err(AppError::invalid(
            "old_size 不能大于 size。",
            "old_size must not exceed size.",
        ));
    }
    let proof = state
        .ledger
        .with_tree(|t| t.consistency_proof(q.old_size, size))
        .map_err(|e| AppError::Invalid {
            message: Text::owned(e.to_string(), e.to_string()),
            details: Vec::new(),
        })?;
    Ok(axum::Json(ConsistencyView {
        old_size: q.old_size,
        size,
        proof: proof.iter().map(|h| h.to_hex()).collect(),
    }))
}

fn record_of(leaf: &StoredLeaf) -> AppResult<(u64, Record)> {
    let record = leaf.record().map_err(AppError::internal)?;
    Ok((leaf.index, record))
}

/// How long an export waits for a head covering its records before it
/// answers `ledger_head_pending`: a head is normally signed on the spot, so
/// this only runs out when the log cannot be followed (a leaf of an earlier
/// index not yet visible) or no head of this node's key covers the records.
const HEAD_WAIT: Duration = Duration::from_millis(1500);
const HEAD_POLL: Duration = Duration::from_millis(100);
/// `Retry-After` of a `ledger_head_pending` answer, in seconds.
const HEAD_RETRY_AFTER_S: u64 = 2;

/// Make a selection export of `rows`, signed at a head of this node's key
/// that covers every one of them — never a bundle that silently leaves a
/// just-stored record out. Waits briefly for that head (signing it if this
/// node can), then answers `ledger_head_pending`.
pub(crate) async fn export(state: &AppState, rows: Vec<StoredLeaf>) -> AppResult<Bundle> {
    let needed = rows.iter().map(|r| r.index).max().map_or(0, |i| i + 1);
    let deadline = tokio::time::Instant::now() + HEAD_WAIT;
    let head = loop {
        state.ledger.publish().await.map_err(AppError::internal)?;
        let head = state
            .ledger
            .own_head_covering(needed)
            .await
            .map_err(AppError::internal)?;
        if let Some(head) = head {
            break head;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AppError::LedgerHeadPending {
                retry_after_s: HEAD_RETRY_AFTER_S,
            });
        }
        tokio::time::sleep(HEAD_POLL).await;
    };
    let mut records = Vec::with_capacity(rows.len());
    for r in &rows {
        records.push(record_of(r)?);
    }
    let bundle = state.ledger.with_tree(|t| {
        Bundle::from_tree(
            t,
            state.ledger.signing_key(),
            &head,
            Scope::Selection,
            records.iter().map(|(i, r)| (*i, r)),
            &[],
        )
    });
    bundle.map_err(AppError::internal)
}

/// One record with its inclusion proof and the signed head: a verifiable
/// export of a single record (what a certificate links to). Room events
/// and finished comparisons (`raw_record`) need access to their session,
/// reading batches to their device.
#[utoipa::path(get, path = "/api/v1/ledger/records/{kind}/{id}", tag = "ledger",
    params(("kind" = String, Path), ("id" = String, Path)), responses(
    (status = 200, description = "A `jiliang-ledger-export/1` bundle"),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 503, body = ErrorBody, description = "`ledger_head_pending`: the record is newer than every signed head; `Retry-After` says when to ask again")))]
async fn get_record(
    State(state): State<AppState>,
    p: Principal,
    AppPath((kind, id)): AppPath<(String, String)>,
) -> AppResult<axum::Json<Bundle>> {
    let not_found = || AppError::not_found("找不到该记录。", "No such record.");
    let row = state
        .store
        .ledger_leaf(&kind, &id)
        .await?
        .ok_or_else(not_found)?;
    // Who may see a record is decided by what it belongs to.
    if row.kind == RecordKind::ROOM_EVENT.as_str() {
        let event: Uuid = id.parse().map_err(|_| not_found())?;
        let session = state.store.event_session(event).await?;
        crate::http::sessions::visible(&state, &p, session.ok_or_else(not_found)?).await?;
    } else if row.kind == RecordKind::READING_BATCH.as_str() {
        let batch: Uuid = id.parse().map_err(|_| not_found())?;
        let device = state.store.reading_batch_device(batch).await?;
        crate::http::devices::device_checked(&state, device.ok_or_else(not_found)?, |path| {
            crate::authz::view_devices_of(&p, path)
        })
        .await?;
    } else if row.kind == RecordKind::RAW_RECORD.as_str() {
        // A finished comparison: whoever may see its session.
        let comparison: Uuid = id.parse().map_err(|_| not_found())?;
        let session = state.store.comparison_session(comparison).await?;
        crate::http::sessions::visible(&state, &p, session.ok_or_else(not_found)?).await?;
    } else if row.kind == RecordKind::ROUND_REPORT.as_str() {
        // A published round report: whoever may read the round's report.
        let round: Uuid = id.parse().map_err(|_| not_found())?;
        let (l, rel) = crate::rounds::load(&state.store, &p, round).await?;
        if !l.report_readable(rel) {
            return Err(not_found());
        }
    } else if row.kind == RecordKind::RECORDING.as_str() {
        // A recorded file: whoever may see its session.
        let file: Uuid = id.parse().map_err(|_| not_found())?;
        let (f, _) = state
            .store
            .recording_file(file)
            .await?
            .ok_or_else(not_found)?;
        crate::http::sessions::visible(&state, &p, f.session_id).await?;
    } else {
        return Err(not_found());
    }
    Ok(axum::Json(export(&state, vec![row]).await?))
}

/// Every record of a session's log — its events and its finished
/// comparisons (`raw_record`) — as one verifiable export.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/export", tag = "ledger", params(("id" = Uuid, Path)), responses(
    (status = 200, description = "A `jiliang-ledger-export/1` bundle of the session's events"),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 503, body = ErrorBody, description = "`ledger_head_pending`: some event is newer than every signed head; `Retry-After` says when to ask again")))]
async fn export_session(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<Bundle>> {
    crate::http::sessions::visible(&state, &p, id).await?;
    let mut rows = state.store.session_event_leaves(id).await?;
    // Its finished comparisons' records (原始记录) belong to its record too.
    rows.extend(state.store.session_comparison_leaves(id).await?);
    rows.sort_by_key(|l| l.index);
    Ok(axum::Json(export(&state, rows).await?))
}
