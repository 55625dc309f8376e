//! The one way a time goes into the database: [`db_time`].
//!
//! SQLite has no time type; sqlx writes `OffsetDateTime` there as RFC 3339
//! text with the value's own offset and a variable number of fraction
//! digits (`…:05Z`, `…:05.5Z`, `…:05.123456+08:00`). Those strings do not
//! sort as the times they name, so `expires_at < $1` on text gave wrong
//! answers across offsets and across whole seconds. Every time bound into a
//! statement goes through [`db_time`] instead: converted to UTC, cut to
//! microseconds (PostgreSQL's precision, so a value read back compares
//! equal), and on SQLite written as fixed-width
//! `YYYY-MM-DDTHH:MM:SS.ffffffZ`, which sorts as time does. PostgreSQL gets
//! a `timestamptz` as before. Reading needs nothing special: sqlx parses
//! the text back.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo};
use sqlx::{Encode, Postgres, Sqlite, Type};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// A time in the database's canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DbTime(OffsetDateTime);

const SQLITE_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// `t` in UTC at microsecond precision, ready to bind.
pub fn db_time(t: OffsetDateTime) -> DbTime {
    let t = t.to_offset(UtcOffset::UTC);
    DbTime(
        t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
            .unwrap_or(t),
    )
}

impl DbTime {
    /// The text SQLite stores.
    pub fn sqlite_text(&self) -> Result<String, time::error::Format> {
        self.0.format(SQLITE_FORMAT)
    }
}

impl Type<Sqlite> for DbTime {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for DbTime {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.sqlite_text()?, buf)
    }
}

impl Type<Postgres> for DbTime {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for DbTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn text_is_utc_fixed_width_and_sorts_as_time() {
        let t = |v: OffsetDateTime| db_time(v).sqlite_text().expect("format");
        assert_eq!(
            t(datetime!(2026-03-01 08:00:05.5 +08:00)),
            "2026-03-01T00:00:05.500000Z"
        );
        assert_eq!(
            t(datetime!(2026-03-01 00:00:05 UTC)),
            "2026-03-01T00:00:05.000000Z"
        );
        // Each pair: earlier, later — as RFC 3339 text they sort the other way.
        let pairs = [
            (
                datetime!(2026-03-01 00:00:05 UTC),
                datetime!(2026-03-01 00:00:05.1 UTC),
            ),
            (
                datetime!(2026-03-01 09:00:00 +08:00),
                datetime!(2026-03-01 02:00:00 UTC),
            ),
        ];
        for (a, b) in pairs {
            assert!(t(a) < t(b), "{} < {}", t(a), t(b));
        }
        assert_eq!(
            t(datetime!(2026-03-01 00:00:05.123456789 UTC)),
            "2026-03-01T00:00:05.123456Z"
        );
    }
}
