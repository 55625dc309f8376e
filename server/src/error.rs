//! The server's one error type and how it becomes an HTTP response.
//!
//! Clients always get `{code, message, details?}` with a status that matches
//! the code. Internal failures are logged with their cause chain and a
//! reference id; the client sees only the reference, never the cause (it may
//! hold SQL or paths).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiliang_protocol::{ErrorBody, ErrorCode, FieldError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::i18n::{self, Text};

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is well-formed but its content is not acceptable.
    #[error("invalid input: {}", .message.en)]
    Invalid {
        message: Text,
        details: Vec<FieldError>,
    },
    #[error("malformed request body: {0}")]
    MalformedJson(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("forbidden")]
    Forbidden,
    /// Forbidden, with the reason spelled out.
    #[error("forbidden: {}", .0.en)]
    ForbiddenBecause(Text),
    /// Named by what was looked for, so the message says what is missing.
    #[error("not found: {}", .0.en)]
    NotFound(Text),
    #[error("expired: {}", .0.en)]
    Expired(Text),
    /// Login failed, or a session ended: says why in the person's terms.
    #[error("unauthenticated: {}", .0.en)]
    UnauthenticatedBecause(Text),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {}", .0.en)]
    Conflict(Text),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("WebSocket upgrade required")]
    UpgradeRequired,
    #[error("rate limited; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("unavailable: {}", .0.en)]
    Unavailable(Text),
    /// Too much work of one kind at once (password hashing): try again
    /// shortly. 503 with `Retry-After`, not 429: the caller did nothing wrong.
    #[error("busy; retry after {retry_after_s} s")]
    Busy { retry_after_s: u64 },
    /// A ledger record newer than every signed tree head.
    #[error("no signed tree head covers the record yet; retry after {retry_after_s} s")]
    LedgerHeadPending { retry_after_s: u64 },
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(zh: &'static str, en: &'static str) -> Self {
        Self::Invalid {
            message: Text::new(zh, en),
            details: Vec::new(),
        }
    }

    pub fn not_found(zh: &'static str, en: &'static str) -> Self {
        Self::NotFound(Text::new(zh, en))
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::InvalidInput,
            Self::MalformedJson(_) => ErrorCode::MalformedJson,
            Self::Unauthenticated | Self::UnauthenticatedBecause(_) => ErrorCode::Unauthenticated,
            Self::Expired(_) => ErrorCode::Expired,
            Self::Forbidden | Self::ForbiddenBecause(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::UpgradeRequired => ErrorCode::UpgradeRequired,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) | Self::Busy { .. } => ErrorCode::Unavailable,
            Self::LedgerHeadPending { .. } => ErrorCode::LedgerHeadPending,
            Self::Database(e) => match classify_db_error(e) {
                DbErrorClass::NotFound => ErrorCode::NotFound,
                DbErrorClass::Conflict => ErrorCode::Conflict,
                DbErrorClass::Unavailable => ErrorCode::Unavailable,
                DbErrorClass::Other => ErrorCode::Internal,
            },
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        status_for(self.code())
    }

    /// The body a client gets, in the current request's language.
    pub fn body(&self) -> ErrorBody {
        let lang = i18n::current();
        let text = match self {
            Self::Invalid { message, .. } => message.clone(),
            Self::MalformedJson(detail) => Text::owned(
                format!("请求内容不是有效的 JSON：{detail}"),
                format!("The request body is not valid JSON: {detail}"),
            ),
            Self::Unauthenticated => Text::new("请先登录。", "Please log in first."),
            Self::Forbidden => Text::new("您无权执行此操作。", "You are not allowed to do this."),
            Self::ForbiddenBecause(why) | Self::UnauthenticatedBecause(why) => why.clone(),
            Self::Expired(what) => what.clone(),
            Self::NotFound(what) => what.clone(),
            Self::MethodNotAllowed => Text::new(
                "此地址不支持该请求方法。",
                "This method is not allowed on this resource.",
            ),
            Self::Conflict(what) => what.clone(),
            Self::PayloadTooLarge => Text::new("请求内容过大。", "The request body is too large."),
            Self::UpgradeRequired => Text::new(
                "此地址需要 WebSocket 连接。",
                "This address expects a WebSocket upgrade.",
            ),
            Self::UnsupportedMediaType => Text::new(
                "请求内容类型必须是 application/json。",
                "The request body must be application/json.",
            ),
            Self::RateLimited { retry_after_s } => Text::owned(
                format!("请求过于频繁，请在 {retry_after_s} 秒后重试。"),
                format!("Too many requests; try again in {retry_after_s} s."),
            ),
            Self::Unavailable(what) => what.clone(),
            Self::Busy { retry_after_s } => Text::owned(
                format!("服务器正忙，请在 {retry_after_s} 秒后重试。"),
                format!("The server is busy; try again in {retry_after_s} s."),
            ),
            Self::LedgerHeadPending { retry_after_s } => Text::owned(
                format!("该记录刚刚写入，尚无签名树头覆盖它，请在 {retry_after_s} 秒后重试。"),
                format!(
                    "The record was stored moments ago and no signed tree head covers it yet; try again in {retry_after_s} s."
                ),
            ),
            Self::Database(e) => match classify_db_error(e) {
                DbErrorClass::NotFound => Text::new("未找到该记录。", "No such record."),
                DbErrorClass::Conflict => Text::new(
                    "该记录与已有记录冲突。",
                    "This conflicts with an existing record.",
                ),
                DbErrorClass::Unavailable => Text::new(
                    "数据库暂时不可用，请稍后重试。",
                    "The database is unavailable; try again shortly.",
                ),
                DbErrorClass::Other => internal_text(),
            },
            Self::Internal(_) => internal_text(),
        };
        let details = match self {
            Self::Invalid { details, .. } => details.clone(),
            _ => Vec::new(),
        };
        ErrorBody {
            code: self.code().as_str().to_owned(),
            message: text.get(lang).to_owned(),
            details,
        }
    }
}

fn internal_text() -> Text {
    Text::new(
        "服务器内部错误，已记录，请稍后重试。",
        "Internal server error; it has been logged. Please try again later.",
    )
}

pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::MalformedJson => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Expired => StatusCode::GONE,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable | ErrorCode::LedgerHeadPending => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

enum DbErrorClass {
    NotFound,
    Conflict,
    Unavailable,
    Other,
}

fn classify_db_error(e: &sqlx::Error) -> DbErrorClass {
    match e {
        sqlx::Error::RowNotFound => DbErrorClass::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => DbErrorClass::Conflict,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            DbErrorClass::Unavailable
        }
        _ => DbErrorClass::Other,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        } else {
            tracing::debug!(error = %self, "request rejected");
        }
        let mut res = (status, axum::Json(self.body())).into_response();
        if let Self::RateLimited { retry_after_s }
        | Self::LedgerHeadPending { retry_after_s }
        | Self::Busy { retry_after_s } = self
        {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
        }
        res
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            JsonRejection::JsonSyntaxError(e) => Self::MalformedJson(e.body_text()),
            JsonRejection::JsonDataError(e) => Self::Invalid {
                message: Text::owned(
                    format!("请求字段有误：{}", e.body_text()),
                    format!("Invalid field: {}", e.body_text()),
                ),
                details: Vec::new(),
            },
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge
            }
            other => Self::MalformedJson(other.body_text()),
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> Self {
        Self::Invalid {
            message: Text::owned(
                format!("查询参数有误：{}", r.body_text()),
                format!("Invalid query parameters: {}", r.body_text()),
            ),
            details: Vec::new(),
        }
    }
}

/// `Json` whose rejections use the app's error shape.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct AppJson<T>(pub T);

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Path` whose rejections use the app's error shape: an id that does not
/// parse names nothing that exists, so it is a 404.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(_) => Err(AppError::not_found(
                "找不到该资源（编号无效）。",
                "No such resource (the id is not valid).",
            )),
        }
    }
}

/// `Query` whose rejections use the app's error shape.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct AppQuery<T>(pub T);

/// Parse JSON from a body already read (WebSocket frames, CLI input).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    serde_json::from_slice(bytes).map_err(|e| AppError::MalformedJson(e.to_string()))
}

/// Fallback for unknown routes under `/api`.
pub async fn api_not_found(req: Request) -> AppError {
    AppError::NotFound(Text::owned(
        format!("没有这个接口：{} {}", req.method(), req.uri().path()),
        format!("No such endpoint: {} {}", req.method(), req.uri().path()),
    ))
}

pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{Lang, scope};

    #[tokio::test]
    async fn messages_follow_the_request_language() {
        let e = AppError::not_found("会话不存在。", "No such session.");
        assert_eq!(
            scope(Lang::Zh, async { e.body() }).await.message,
            "会话不存在。"
        );
        let b = scope(Lang::En, async { e.body() }).await;
        assert_eq!(b.message, "No such session.");
        assert_eq!(b.code, "not_found");
    }

    #[test]
    fn every_code_has_a_fitting_status() {
        for c in ErrorCode::ALL {
            let s = status_for(c);
            assert!(s.is_client_error() || s.is_server_error(), "{c} -> {s}");
        }
        assert_eq!(
            AppError::PayloadTooLarge.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            AppError::Database(sqlx::Error::RowNotFound).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let b = AppError::internal("SELECT secret FROM t").body();
        assert!(!b.message.contains("secret"));
        assert_eq!(b.code, "internal");
    }
}
