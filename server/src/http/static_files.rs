//! The built front end (Trunk's `dist/`), with SPA fallback and caching.
//!
//! Trunk names assets with a content hash (`app-1a2b…_bg.wasm`), so those can
//! be cached forever; `index.html` names the current hashes and must always be
//! revalidated, or a deploy would leave browsers on the old bundle.

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
                // scripts/ writes `*.gz` beside the hashed assets.
                .precompressed_gzip()
                .append_index_html_on_directories(true)
                .fallback(ServeFile::new(index)),
        }
    }

    pub async fn serve(&self, req: Request) -> Response {
        let path = req.uri().path().to_owned();
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
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    res
}

/// `name-<16 hex>.ext` or `name-<16 hex>_bg.wasm`, as Trunk writes them.
fn is_hashed_asset(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or("");
    let Some((stem, _ext)) = file.rsplit_once('.') else {
        return false;
    };
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    match stem.rsplit_once('-') {
        Some((_, hash)) => hash.len() >= 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_trunk_hashed_names() {
        assert!(is_hashed_asset("/jiliang-app-8d2f5c1e9a7b3d40_bg.wasm"));
        assert!(is_hashed_asset("/jiliang-app-8d2f5c1e9a7b3d40.js"));
        assert!(is_hashed_asset("/main-0123456789abcdef.css"));
        assert!(!is_hashed_asset("/index.html"));
        assert!(!is_hashed_asset("/sessions/123"));
        assert!(!is_hashed_asset("/my-app.js"));
    }
}
