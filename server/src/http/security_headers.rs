//! Response headers that tell browsers what this site's pages may do.
//!
//! - `Content-Security-Policy`: scripts only from this origin, plus the one
//!   inline bootstrap script Trunk writes into `index.html` and the
//!   first-load shell's `shell.html` (allowed by its
//!   SHA-256: its text names the hashed bundle and changes with every
//!   build, so `static_files` computes the policy of each page from the
//!   `index.html` it serves; other responses carry the one computed at
//!   start); WebAssembly compilation
//!   (`'wasm-unsafe-eval'`), no other eval; connections (fetch, WebSocket)
//!   to this origin only; no plugins, no `<base>`, and no framing by anyone
//!   (`frame-ancestors 'none'`, with `X-Frame-Options: DENY` for older
//!   browsers) so the app cannot be clickjacked.
//! - `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`.
//!
//! Styles allow `'unsafe-inline'`: the components set `style` attributes;
//! CSS cannot run script, so the rest of the policy is what matters.

use std::path::Path;

use sha2::{Digest, Sha256};

/// The policy for a front end in `static_dir`.
pub fn content_security_policy(static_dir: &Path) -> String {
    // The full app's page and the first-load shell's (static_files picks
    // one per request; one policy allows the bootstrap script of either).
    let html: String = ["index.html", super::static_files::SHELL_PAGE]
        .iter()
        .map(|page| std::fs::read_to_string(static_dir.join(page)).unwrap_or_default())
        .collect();
    let hashes: String = inline_scripts(&html)
        .map(|s| format!(" 'sha256-{}'", base64(&Sha256::digest(s.as_bytes()))))
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The bodies of `<script>` elements without `src` (what a CSP hash covers:
/// the exact text between the tags).
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find("<script")?;
            let after = &rest[start..];
            let open_end = after.find('>')?;
            let attrs = &after[..open_end];
            let body_start = start + open_end + 1;
            let close = rest[body_start..].find("</script>")?;
            let body = &rest[body_start..body_start + close];
            rest = &rest[body_start + close + "</script>".len()..];
            if !attrs.contains("src=") {
                return Some(body);
            }
        }
    })
}

/// Standard base64 with padding (what CSP hash sources use).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(
                    ALPHABET[usize::try_from((n >> shift) & 63).unwrap_or(0)],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn inline_scripts_are_hashed_external_ones_not() {
        let dir = tempfile::tempdir().expect("dir");
        let boot =
            "import init from '/app-0123456789abcdef.js';init('/app-0123456789abcdef_bg.wasm');";
        std::fs::write(
            dir.path().join("index.html"),
            format!(
                "<html><head><script src=\"/x.js\"></script><script type=\"module\">{boot}</script></head></html>"
            ),
        )
        .expect("write");
        let csp = content_security_policy(dir.path());
        let want = base64(&Sha256::digest(boot.as_bytes()));
        assert!(csp.contains(&format!("'sha256-{want}'")), "{csp}");
        assert_eq!(csp.matches("'sha256-").count(), 1, "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"));
        // No front end: still a policy, just no hashes.
        let none = content_security_policy(&dir.path().join("missing"));
        assert!(!none.contains("sha256") && none.contains("script-src 'self'"));
    }
}
