//! Installation-wide secrets (`server_secrets`): generated once, shared by
//! every node through the database.

use super::Store;
use super::time::db_time;
use crate::clock::now;

impl Store {
    /// The secret stored under `name`, storing `fresh` first if there is
    /// none. Two nodes starting at once both insert; the second insert does
    /// nothing and both read the winner's value.
    pub async fn server_secret(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, sqlx::Error> {
        let at = db_time(now());
        with_db!(self, "secrets.insert", |p| sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING"
        )
        .bind(name)
        .bind(fresh)
        .bind(at)
        .execute(p)
        .await
        .map(|_| ()))?;
        with_db!(self, "secrets.get", |p| sqlx::query_scalar(
            "SELECT value FROM server_secrets WHERE name = $1"
        )
        .bind(name)
        .fetch_one(p)
        .await)
    }
}
