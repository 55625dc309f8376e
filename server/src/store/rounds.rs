//! Comparison rounds (issue 11): the round, its invited labs with their
//! codes, their results and attachments, and the published report with its
//! `round_report` ledger leaf (one transaction). The rules — who may, when —
//! are in `crate::rounds`; the conditions that must hold at the moment of
//! writing (the round still open, the deadline not passed, the round
//! closed) are checked inside the writing statement or its transaction, so
//! two nodes cannot both win a race.

use jiliang_ledger::Record;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::Store;
use crate::store::time::db_time;
use crate::store::users::escape_like;

/// A round to create.
#[derive(Debug, Clone)]
pub struct NewRound<'a> {
    pub id: Uuid,
    pub title: &'a str,
    pub artefact: &'a str,
    pub quantity: &'a str,
    pub unit: &'a str,
    pub protocol: &'a str,
    pub deadline: OffsetDateTime,
    pub method: &'a str,
    /// JSON of `RoundOptions`.
    pub options: &'a str,
    pub blind: bool,
    pub institution_id: Uuid,
    pub created_by: Uuid,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredRound {
    pub id: Uuid,
    pub title: String,
    pub artefact: String,
    pub quantity: String,
    pub unit: String,
    pub protocol: String,
    pub deadline: OffsetDateTime,
    pub method: String,
    pub options: String,
    pub blind: bool,
    pub state: String,
    pub institution_id: Uuid,
    /// The coordinating institution's path.
    pub path: String,
    pub created_by: Uuid,
    pub creator_name: String,
    pub created_at: OffsetDateTime,
    pub closed_at: Option<OffsetDateTime>,
    pub published_at: Option<OffsetDateTime>,
    pub names_published: bool,
    pub record: Option<String>,
}

/// An invited lab with its result, if any.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredRoundLab {
    pub lab_id: Uuid,
    pub code: String,
    pub position: i64,
    pub name: String,
    pub path: String,
    pub excluded_reason: Option<String>,
    pub value: Option<f64>,
    pub expanded_uncertainty: Option<f64>,
    pub k: Option<f64>,
    pub method_notes: Option<String>,
    pub submitted_by: Option<Uuid>,
    pub submitter_name: Option<String>,
    pub submitted_at: Option<OffsetDateTime>,
}

/// A round in a list, with its counts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoundRow {
    pub id: Uuid,
    pub title: String,
    pub quantity: String,
    pub unit: String,
    pub deadline: OffsetDateTime,
    pub state: String,
    pub labs: i64,
    pub submitted: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredAttachmentInfo {
    pub id: Uuid,
    pub lab_id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub uploaded_at: OffsetDateTime,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredAttachment {
    pub id: Uuid,
    pub lab_id: Uuid,
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Which rounds a list shows.
pub enum RoundScope<'a> {
    /// Coordinated in this subtree, or inviting a lab in it.
    Subtree(&'a str),
    /// Inviting this lab.
    Lab(Uuid),
}

/// Why a write that depends on the round's state did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The round is not in the state the write needs (its state now).
    State(&'static str),
    /// The deadline has passed.
    Deadline,
    /// The lab is not invited to the round.
    NotInvited,
    /// Too many attachments already.
    TooMany,
}

fn state_name(s: &str) -> &'static str {
    match s {
        "open" => "open",
        "closed" => "closed",
        _ => "published",
    }
}

const ROUND_COLUMNS: &str = "r.id, r.title, r.artefact, r.quantity, r.unit, r.protocol, r.deadline, \
    r.method, r.options, r.blind, r.state, r.institution_id, i.path AS path, r.created_by, \
    u.display_name AS creator_name, r.created_at, r.closed_at, r.published_at, r.names_published, r.record";

/// In `$tx`: lock round `$round` and return from the calling function
/// unless lab `$lab` may still submit to it at `$at` (open, before the
/// deadline, invited). The lock holds the round's state until commit, so a
/// close cannot slip between this check and the write.
macro_rules! may_submit {
    ($tx:ident, $round:expr, $lab:expr, $at:expr) => {{
        let row: Option<(String, OffsetDateTime)> = sqlx::query_as(
            "UPDATE rounds SET state = state WHERE id = $1 RETURNING state, deadline",
        )
        .bind($round)
        .fetch_optional(&mut *$tx)
        .await?;
        let Some((state, deadline)) = row else {
            return Err(sqlx::Error::RowNotFound);
        };
        if state != "open" {
            return Ok(Err(Refused::State(state_name(&state))));
        }
        if $at >= deadline {
            return Ok(Err(Refused::Deadline));
        }
        let invited: Option<i64> = sqlx::query_scalar(
            "SELECT position FROM round_labs WHERE round_id = $1 AND lab_id = $2",
        )
        .bind($round)
        .bind($lab)
        .fetch_optional(&mut *$tx)
        .await?;
        if invited.is_none() {
            return Ok(Err(Refused::NotInvited));
        }
    }};
}

impl Store {
    pub async fn insert_round(&self, r: &NewRound<'_>) -> Result<(), sqlx::Error> {
        with_db!(self, "rounds.insert", |p| {
            sqlx::query(
            "INSERT INTO rounds (id, title, artefact, quantity, unit, protocol, deadline, method, options, \
             blind, state, institution_id, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11, $12, $13)"
        )
        .bind(r.id)
        .bind(r.title)
        .bind(r.artefact)
        .bind(r.quantity)
        .bind(r.unit)
        .bind(r.protocol)
        .bind(db_time(r.deadline))
        .bind(r.method)
        .bind(r.options)
        .bind(r.blind)
        .bind(r.institution_id)
        .bind(r.created_by)
        .bind(db_time(r.created_at))
        .execute(p)
        .await
        .map(|_| ())
        })
    }

    pub async fn get_round(&self, id: Uuid) -> Result<Option<StoredRound>, sqlx::Error> {
        let sql = format!(
            "SELECT {ROUND_COLUMNS} FROM rounds r JOIN institutions i ON i.id = r.institution_id \
             JOIN users u ON u.id = r.created_by WHERE r.id = $1"
        );
        with_db!(self, "rounds.get", |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)
    }

    /// The rounds of a scope, newest deadline first, at most `limit`.
    pub async fn list_rounds(
        &self,
        scope: RoundScope<'_>,
        limit: i64,
    ) -> Result<Vec<RoundRow>, sqlx::Error> {
        let counts = "(SELECT COUNT(*) FROM round_labs c WHERE c.round_id = r.id) AS labs, \
             (SELECT COUNT(*) FROM round_results c WHERE c.round_id = r.id) AS submitted";
        match scope {
            RoundScope::Subtree(path) => {
                let like = format!("{}%", escape_like(path));
                let sql = format!(
                    "SELECT r.id, r.title, r.quantity, r.unit, r.deadline, r.state, {counts} \
                     FROM rounds r JOIN institutions i ON i.id = r.institution_id \
                     WHERE i.path LIKE $1 OR EXISTS (SELECT 1 FROM round_labs rl \
                       JOIN institutions li ON li.id = rl.lab_id \
                       WHERE rl.round_id = r.id AND li.path LIKE $1) \
                     ORDER BY r.deadline DESC, r.id LIMIT $2"
                );
                with_db!(self, "rounds.list_subtree", |p| sqlx::query_as(&sql)
                    .bind(&like)
                    .bind(limit)
                    .fetch_all(p)
                    .await)
            }
            RoundScope::Lab(lab) => {
                let sql = format!(
                    "SELECT r.id, r.title, r.quantity, r.unit, r.deadline, r.state, {counts} \
                     FROM rounds r JOIN round_labs rl ON rl.round_id = r.id AND rl.lab_id = $1 \
                     ORDER BY r.deadline DESC, r.id LIMIT $2"
                );
                with_db!(self, "rounds.list_lab", |p| sqlx::query_as(&sql)
                    .bind(lab)
                    .bind(limit)
                    .fetch_all(p)
                    .await)
            }
        }
    }

    /// The invited labs in invitation order, each with its result.
    pub async fn round_labs(&self, round: Uuid) -> Result<Vec<StoredRoundLab>, sqlx::Error> {
        with_db!(self, "rounds.labs", |p| {
            sqlx::query_as(
            "SELECT rl.lab_id, rl.code, rl.position, i.name_zh AS name, i.path, rl.excluded_reason, \
             rr.value, rr.expanded_uncertainty, rr.k, rr.method_notes, rr.submitted_by, \
             u.display_name AS submitter_name, rr.submitted_at \
             FROM round_labs rl JOIN institutions i ON i.id = rl.lab_id \
             LEFT JOIN round_results rr ON rr.round_id = rl.round_id AND rr.lab_id = rl.lab_id \
             LEFT JOIN users u ON u.id = rr.submitted_by \
             WHERE rl.round_id = $1 ORDER BY rl.position"
        )
        .bind(round)
        .fetch_all(p)
        .await
        })
    }

    /// Invite labs not yet invited, numbering them after the last; only
    /// while the round is open.
    pub async fn invite_round_labs(
        &self,
        round: Uuid,
        labs: &[Uuid],
        by: Uuid,
        at: OffsetDateTime,
    ) -> Result<Result<(), Refused>, sqlx::Error> {
        let begin = self.begin_write();
        let _turn = self.write_turn().await;
        with_db!(self, "rounds.invite", |p| {
            let mut tx = p.begin_with(begin).await?;
            // Touch the round first: serialises concurrent invitations.
            let state: Option<String> =
                sqlx::query_scalar("UPDATE rounds SET state = state WHERE id = $1 RETURNING state")
                    .bind(round)
                    .fetch_optional(&mut *tx)
                    .await?;
            match state.as_deref() {
                Some("open") => {}
                Some(other) => return Ok(Err(Refused::State(state_name(other)))),
                None => return Err(sqlx::Error::RowNotFound),
            }
            let mut last: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(position), 0) FROM round_labs WHERE round_id = $1",
            )
            .bind(round)
            .fetch_one(&mut *tx)
            .await?;
            for lab in labs {
                let exists: Option<i64> = sqlx::query_scalar(
                    "SELECT position FROM round_labs WHERE round_id = $1 AND lab_id = $2",
                )
                .bind(round)
                .bind(lab)
                .fetch_optional(&mut *tx)
                .await?;
                if exists.is_some() {
                    continue;
                }
                last += 1;
                let code = jiliang_protocol::rounds::lab_code(usize::try_from(last).unwrap_or(0));
                sqlx::query(
                    "INSERT INTO round_labs (round_id, lab_id, position, code, invited_at, invited_by) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(round)
                .bind(lab)
                .bind(last)
                .bind(code)
                .bind(db_time(at))
                .bind(by)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    /// Store or replace a lab's result, if the round is open, the deadline
    /// (compared with `at`) not passed and the lab invited.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_round_result(
        &self,
        round: Uuid,
        lab: Uuid,
        value: f64,
        big_u: f64,
        k: f64,
        notes: &str,
        by: Uuid,
        at: OffsetDateTime,
    ) -> Result<Result<(), Refused>, sqlx::Error> {
        let begin = self.begin_write();
        let _turn = self.write_turn().await;
        with_db!(self, "rounds.put_result", |p| {
            let mut tx = p.begin_with(begin).await?;
            may_submit!(tx, round, lab, at);
            sqlx::query(
                "INSERT INTO round_results (round_id, lab_id, value, expanded_uncertainty, k, method_notes, \
                 submitted_by, submitted_at, first_submitted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (round_id, lab_id) DO UPDATE SET value = excluded.value, \
                 expanded_uncertainty = excluded.expanded_uncertainty, k = excluded.k, \
                 method_notes = excluded.method_notes, submitted_by = excluded.submitted_by, \
                 submitted_at = excluded.submitted_at",
            )
            .bind(round)
            .bind(lab)
            .bind(value)
            .bind(big_u)
            .bind(k)
            .bind(notes)
            .bind(by)
            .bind(db_time(at))
            .bind(db_time(at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    /// Close an open round; `Err(state)` when it is not open.
    pub async fn close_round(
        &self,
        round: Uuid,
        by: Uuid,
        at: OffsetDateTime,
    ) -> Result<Result<(), Refused>, sqlx::Error> {
        let done = with_db!(self, "rounds.close", |p| {
            sqlx::query(
            "UPDATE rounds SET state = 'closed', closed_at = $2, closed_by = $3 WHERE id = $1 AND state = 'open'"
        )
        .bind(round)
        .bind(db_time(at))
        .bind(by)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        if done == 1 {
            return Ok(Ok(()));
        }
        let state = self
            .get_round(round)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?
            .state;
        Ok(Err(Refused::State(state_name(&state))))
    }

    /// Exclude a lab from the reference value (`Some(reason)`) or include it
    /// again (`None`), while the round is closed.
    pub async fn set_round_exclusion(
        &self,
        round: Uuid,
        lab: Uuid,
        reason: Option<&str>,
        by: Uuid,
    ) -> Result<Result<(), Refused>, sqlx::Error> {
        let done = with_db!(self, "rounds.exclude", |p| sqlx::query(
            "UPDATE round_labs SET excluded_reason = $3, excluded_by = $4 \
             WHERE round_id = $1 AND lab_id = $2 \
             AND EXISTS (SELECT 1 FROM rounds WHERE id = $1 AND state = 'closed')"
        )
        .bind(round)
        .bind(lab)
        .bind(reason)
        .bind(reason.map(|_| by))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        if done == 1 {
            return Ok(Ok(()));
        }
        let state = self
            .get_round(round)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?
            .state;
        if state != "closed" {
            Ok(Err(Refused::State(state_name(&state))))
        } else {
            Ok(Err(Refused::NotInvited))
        }
    }

    /// Publish a closed round: its state, the record content and the
    /// ledger leaf in one transaction. Returns the leaf's index.
    pub async fn publish_round(
        &self,
        round: Uuid,
        by: Uuid,
        at: OffsetDateTime,
        names: bool,
        content: &str,
        record: &Record,
    ) -> Result<Result<u64, Refused>, sqlx::Error> {
        let begin = self.begin_write();
        let _turn = self.write_turn().await;
        with_db!(self, "rounds.publish", |p| {
            let mut tx = p.begin_with(begin).await?;
            let done = sqlx::query(
                "UPDATE rounds SET state = 'published', published_at = $2, published_by = $3, \
                 names_published = $4, record = $5 WHERE id = $1 AND state = 'closed'",
            )
            .bind(round)
            .bind(db_time(at))
            .bind(by)
            .bind(names)
            .bind(content)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                let state: Option<String> =
                    sqlx::query_scalar("SELECT state FROM rounds WHERE id = $1")
                        .bind(round)
                        .fetch_optional(&mut *tx)
                        .await?;
                return match state {
                    Some(s) => Ok(Err(Refused::State(state_name(&s)))),
                    None => Err(sqlx::Error::RowNotFound),
                };
            }
            let idx: i64 = append_leaf!(tx, record);
            tx.commit().await?;
            Ok(Ok(u64::try_from(idx).unwrap_or(0)))
        })
    }

    /// Add an attachment to a lab's result, under the same conditions as
    /// the result itself, and at most `max` per lab.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_round_attachment(
        &self,
        id: Uuid,
        round: Uuid,
        lab: Uuid,
        name: &str,
        content_type: &str,
        data: &[u8],
        by: Uuid,
        at: OffsetDateTime,
        max: i64,
    ) -> Result<Result<(), Refused>, sqlx::Error> {
        let begin = self.begin_write();
        let _turn = self.write_turn().await;
        with_db!(self, "rounds.attach", |p| {
            let mut tx = p.begin_with(begin).await?;
            may_submit!(tx, round, lab, at);
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM round_attachments WHERE round_id = $1 AND lab_id = $2",
            )
            .bind(round)
            .bind(lab)
            .fetch_one(&mut *tx)
            .await?;
            if n >= max {
                return Ok(Err(Refused::TooMany));
            }
            sqlx::query(
                "INSERT INTO round_attachments (id, round_id, lab_id, name, content_type, size, data, \
                 uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id)
            .bind(round)
            .bind(lab)
            .bind(name)
            .bind(content_type)
            .bind(i64::try_from(data.len()).unwrap_or(i64::MAX))
            .bind(data)
            .bind(by)
            .bind(db_time(at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    /// Descriptions of a round's attachments, oldest first.
    pub async fn round_attachments(
        &self,
        round: Uuid,
    ) -> Result<Vec<StoredAttachmentInfo>, sqlx::Error> {
        with_db!(self, "rounds.attachments", |p| sqlx::query_as(
            "SELECT id, lab_id, name, content_type, size, uploaded_at FROM round_attachments \
             WHERE round_id = $1 ORDER BY uploaded_at, id"
        )
        .bind(round)
        .fetch_all(p)
        .await)
    }

    pub async fn round_attachment(
        &self,
        round: Uuid,
        id: Uuid,
    ) -> Result<Option<StoredAttachment>, sqlx::Error> {
        with_db!(self, "rounds.attachment", |p| sqlx::query_as(
            "SELECT id, lab_id, name, content_type, data FROM round_attachments \
             WHERE round_id = $1 AND id = $2"
        )
        .bind(round)
        .bind(id)
        .fetch_optional(p)
        .await)
    }
}
