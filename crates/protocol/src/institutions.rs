//! Institutions of China's metrology system and their levels.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Level in the hierarchy, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InstitutionLevel {
    /// 国家级计量院 (e.g. NIM).
    National,
    /// 大区国家计量测试中心.
    Regional,
    /// 省级计量院.
    Provincial,
    /// 市级计量所.
    City,
    /// 县级计量检定所.
    County,
}

impl InstitutionLevel {
    pub const ALL: [Self; 5] = [
        Self::National,
        Self::Regional,
        Self::Provincial,
        Self::City,
        Self::County,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::National => "national",
            Self::Regional => "regional",
            Self::Provincial => "provincial",
            Self::City => "city",
            Self::County => "county",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// A child sits strictly below its parent; levels may be skipped (a
    /// county lab reporting directly to a provincial institute exists).
    pub fn may_contain(self, child: Self) -> bool {
        child > self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Institution {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub level: InstitutionLevel,
    /// Official Chinese name.
    pub name_zh: String,
    pub name_en: Option<String>,
    /// GB/T 2260 administrative division code, e.g. `620000`.
    pub region_code: String,
    pub contact: String,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_top_down() {
        assert!(InstitutionLevel::Provincial.may_contain(InstitutionLevel::County));
        assert!(!InstitutionLevel::County.may_contain(InstitutionLevel::City));
        assert!(!InstitutionLevel::City.may_contain(InstitutionLevel::City));
        for l in InstitutionLevel::ALL {
            assert_eq!(InstitutionLevel::parse(l.as_str()), Some(l));
            let json = serde_json::to_string(&l).expect("serialises");
            assert_eq!(json, format!("\"{}\"", l.as_str()));
        }
    }
}
