//! The built front end (Trunk's `dist/`), with SPA fallback and caching.
//!
//! Trunk names assets with a content hash (`app-1a2b…_bg.wasm`), so those can
//! be cached forever; `index.html` names the current hashes and must always be
//! revalidated, or a deploy would leave browsers on the old bundle.
//!
//! `build_front_end` (scripts/lib.sh) writes Brotli (`.br`) and gzip (`.gz`)
//! copies beside each asset; the copy is chosen by `Accept-Encoding` (Brotli
//! first at equal weight), so the bundle is compressed once at build time at
//! the highest level instead of per download. A file without a copy falls
//! back to the plain file, which the compression layer may still gzip.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::AppError;
use crate::i18n::Text;

#[derive(Clone, Debug)]
pub struct StaticFiles {
    dir: PathBuf,
    service: ServeDir<ServeFile>,
}

impl StaticFiles {
    pub fn new(dir: &Path) -> Self {
        let index = dir.join("index.html");
        if !index.is_file() {
            tracing::warn!(
                dir = %dir.display(),
                "front end not built (no index.html); the API works, pages answer 404 until it is built"
            );
        }
        Self {
            dir: dir.to_path_buf(),
            service: ServeDir::new(dir)
                // scripts/lib.sh writes `*.br` and `*.gz` beside the assets.
                // No zstd: tower-http would prefer it to Brotli at equal
                // weight, and its files are larger than Brotli's at level 11.
                .precompressed_br()
                .precompressed_gzip()
                .append_index_html_on_directories(true)
                // App routes get the page; its copies too.
                .fallback(
                    ServeFile::new(index)
                        .precompressed_br()
                        .precompressed_gzip(),
                ),
        }
    }

    pub async fn serve(&self, mut req: Request) -> Response {
        let path = req.uri().path().to_owned();
        if is_shell_route(&path) && self.dir.join(SHELL_PAGE).is_file() && !has_session_cookie(&req)
        {
            // A visitor's first page: the small first-load shell.
            *req.uri_mut() = axum::http::Uri::from_static("/shell.html");
        }
        let res = match self.service.clone().oneshot(req).await {
            Ok(res) => res.map(Body::new),
            Err(never) => match never {},
        };
        if is_hashed_asset(&path) && is_html(&res) {
            // A hashed asset that is not there (a browser holding an old
            // index.html after a deploy) must not get the page instead: marked
            // immutable, that wrong answer would stick for a year.
            return AppError::NotFound(Text::owned(
                format!("没有这个文件：{path}（可能是旧版本，请刷新页面）。"),
                format!("No such file: {path} (perhaps from an older version; reload the page)."),
            ))
            .into_response();
        }
        if res.status() == StatusCode::NOT_FOUND {
            return AppError::NotFound(Text::owned(
                format!("前端尚未构建（{} 中没有 index.html）。", self.dir.display()),
                format!(
                    "The front end is not built (no index.html in {}).",
                    self.dir.display()
                ),
            ))
            .into_response();
        }
        let mut res = with_cache_headers(&path, res);
        if is_shell_route(&path) {
            // Which page a shell route gets depends on the session cookie.
            res.headers_mut()
                .append(header::VARY, HeaderValue::from_static("cookie"));
        }
        if is_html(&res) {
            // The page's policy is computed from the index.html being served
            // now, so a front end deployed while the server runs keeps
            // working (its inline script has a new hash).
            let csp = super::security_headers::content_security_policy(&self.dir);
            if let Ok(v) = HeaderValue::from_str(&csp) {
                res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
        }
        res
    }
}

/// The first-load shell's page (`build_front_end` writes it beside
/// `index.html`, the full app's): the pages a visitor sees before logging
/// in, in about a quarter of the bytes. See docs/BUILD.md ("First load").
pub const SHELL_PAGE: &str = "shell.html";

/// The paths the shell has pages for (app/src/app.rs, the shell's
/// `AppRoutes`): visitor home, login, status, invitation and reset links.
/// Everything else, and everyone with a session, gets the full app.
fn is_shell_route(path: &str) -> bool {
    let one_segment = |rest: &str| !rest.is_empty() && !rest.contains('/');
    matches!(path, "/" | "/login" | "/status")
        || path.strip_prefix("/invite/").is_some_and(one_segment)
        || path.strip_prefix("/reset/").is_some_and(one_segment)
}

/// The browser holds a login session (valid or not: an expired one is the
/// full app's to report, as before the shell existed).
fn has_session_cookie(req: &Request) -> bool {
    use crate::auth::{AUTH_SESSION_COOKIE, AUTH_SESSION_COOKIE_SECURE};
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .any(|(name, _)| {
            let name = name.trim();
            name == AUTH_SESSION_COOKIE || name == AUTH_SESSION_COOKIE_SECURE
        })
}

fn is_html(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

fn with_cache_headers(path: &str, mut res: Response) -> Response {
    if !res.status().is_success() && res.status() != StatusCode::NOT_MODIFIED {
        return res;
    }
    let value = if is_hashed_asset(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    // The body depends on Accept-Encoding (a pre-compressed copy or not):
    // a shared cache must not hand a Brotli body to a client without it.
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}

/// `name-<hex>.ext` or `name-<hex>_bg.wasm`, as Trunk writes them: its hash
/// is a 64-bit number in hex without leading zeros, so usually 16 digits
/// and sometimes fewer (1 in 16 builds has 15).
fn is_hashed_asset(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or("");
    let Some((stem, _ext)) = file.rsplit_once('.') else {
        return false;
    };
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    match stem.rsplit_once('-') {
        Some((_, hash)) => hash.len() >= 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_routes_are_the_shell_pages_only() {
        for p in ["/", "/login", "/status", "/invite/abc_DEF-1", "/reset/xyz"] {
            assert!(is_shell_route(p), "{p}");
        }
        for p in [
            "/sessions",
            "/sessions/1",
            "/verify",
            "/invite/",
            "/invite/a/b",
            "/reset",
            "/login/x",
            "/index.html",
            "/shell.html",
            "/main-0123456789abcdef.css",
        ] {
            assert!(!is_shell_route(p), "{p}");
        }
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let req = |cookie: Option<&str>| {
            let mut b = Request::get("/");
            if let Some(c) = cookie {
                b = b.header(header::COOKIE, c);
            }
            b.body(Body::empty()).expect("request")
        };
        assert!(!has_session_cookie(&req(None)));
        assert!(!has_session_cookie(&req(Some(
            "theme=dark; jiliang_sessionx=1"
        ))));
        assert!(has_session_cookie(&req(Some("jiliang_session=abc"))));
        assert!(has_session_cookie(&req(Some(
            "a=1; jiliang_session=abc; b=2"
        ))));
        assert!(has_session_cookie(&req(Some("__Host-jiliang_session=abc"))));
    }

    #[test]
    fn recognises_trunk_hashed_names() {
        assert!(is_hashed_asset("/jiliang-app-8d2f5c1e9a7b3d40_bg.wasm"));
        assert!(is_hashed_asset("/jiliang-app-8d2f5c1e9a7b3d40.js"));
        assert!(is_hashed_asset("/main-0123456789abcdef.css"));
        // A hash with a leading zero digit is printed one digit shorter.
        assert!(is_hashed_asset("/jiliang-app-7363779e5ae6799.js"));
        assert!(is_hashed_asset("/jiliang-app-7363779e5ae6799_bg.wasm"));
        assert!(!is_hashed_asset("/report-2026.pdf"));
        assert!(!is_hashed_asset("/index.html"));
        assert!(!is_hashed_asset("/sessions/123"));
        assert!(!is_hashed_asset("/my-app.js"));
    }
}
