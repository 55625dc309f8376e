//! Accepting connections: plain TCP or TLS, with the limits that keep a
//! node answering when clients misbehave.
//!
//! # What it guarantees
//! - **No connection is held forever by a silent client**: request headers
//!   must arrive within `--header-timeout-ms` (this also closes idle
//!   keep-alive connections, and a TLS handshake gets the same time), and a
//!   request must be answered within `--request-timeout-ms` (the handler is
//!   dropped, with its database connection, and the client gets a JSON 503).
//!   Room sockets, once upgraded, are the rooms' business: they have their
//!   own heartbeats and limits.
//! - **At most `--max-connections` connections** are open at once; one more
//!   is closed at once rather than queued, so a flood costs the node a file
//!   descriptor for a moment, never memory or a task. The count is in
//!   `/metrics` (`jiliang_http_connections`).
//! - **A slow TLS handshake never delays the others**: each connection,
//!   handshake included, runs on its own task.
//! - **Shutdown is graceful**: no new connections; open ones finish the
//!   request in flight and close (keep-alive ends), bounded by the request
//!   timeout.
//!
//! TLS (`--tls-cert`, `--tls-key`: PEM files, rustls with the ring
//! provider) is for labs that serve Jiliang directly without a reverse
//! proxy; with it on, responses carry `Strict-Transport-Security`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::AppError;
use crate::i18n::Text;

/// Flags of `jiliang serve` that shape how connections are accepted.
#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// Serve HTTPS with this certificate chain (PEM). Needs --tls-key.
    #[arg(long, env = "JILIANG_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM, PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, env = "JILIANG_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Connections open at once; more are closed at once.
    #[arg(long, env = "JILIANG_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Time a client has to send a request's headers (and to finish a TLS
    /// handshake); also how long an idle keep-alive connection stays open.
    #[arg(long, env = "JILIANG_HEADER_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub header_timeout_ms: u64,

    /// Time a request may take before it is answered 503 and its work is
    /// dropped.
    #[arg(long, env = "JILIANG_REQUEST_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub request_timeout_ms: u64,
}

/// How to listen, checked: the TLS configuration loaded, the limits set.
#[derive(Clone)]
pub struct Listen {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            tls: None,
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listen")
            .field("tls", &self.tls.is_some())
            .field("max_connections", &self.max_connections)
            .field("header_timeout", &self.header_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl Listen {
    /// Loads the certificate and key named by the flags; an unreadable or
    /// unusable file is an error naming it, before the node starts.
    pub fn from_args(args: &ListenArgs) -> Result<Self, String> {
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(Arc::new(tls_config(cert, key)?)),
            _ => None,
        };
        Ok(Self {
            tls,
            max_connections: args.max_connections as usize,
            header_timeout: Duration::from_millis(args.header_timeout_ms),
            request_timeout: Duration::from_millis(args.request_timeout_ms),
        })
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// A rustls server configuration from PEM files.
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "the TLS certificate file {} holds no certificate",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the TLS certificate and key do not fit together: {e}"))?;
    // HTTP/1.1 only: the server speaks nothing else.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves `app` on `listener` until `shutdown` fires, then waits for the
/// open connections to finish their request (at most the request timeout).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    listen: Listen,
    connections: Gauge,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let request_timeout = listen.request_timeout;
    // Inside the language scope, so the 503 speaks the client's language.
    let app = app
        .layer(middleware::from_fn(
            move |req: Request<Body>, next: Next| answer_within(request_timeout, req, next),
        ))
        .layer(middleware::from_fn(crate::i18n::negotiate));
    let app = if listen.tls.is_some() {
        // Browsers that once reached the node over HTTPS never try plain
        // HTTP again for a year, so a hostile network cannot strip TLS.
        app.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ))
    } else {
        app
    };
    let acceptor = listen.tls.clone().map(TlsAcceptor::from);
    let permits = Arc::new(Semaphore::new(listen.max_connections));
    let tasks = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of
                    // spinning, then keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached; closing");
            drop(tcp);
            continue;
        };
        // Room frames are small and latency matters more than packet count:
        // without TCP_NODELAY, Nagle and delayed ACKs hold frames ~40 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let app = app.clone();
        let acceptor = acceptor.clone();
        let shutdown = shutdown.clone();
        let connections = connections.clone();
        let header_timeout = listen.header_timeout;
        tasks.spawn(async move {
            connections.inc();
            handle(tcp, peer, acceptor, app, header_timeout, shutdown).await;
            connections.dec();
            drop(permit);
        });
    }
    drop(listener);
    tasks.close();
    if tokio::time::timeout(listen.request_timeout, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = tasks.len(),
            "connections still open after the request timeout; closing them"
        );
    }
    Ok(())
}

/// Answers 503 when the handler has not answered within `limit`; dropping
/// the handler's future releases whatever it held (a database connection,
/// a lock), so a stuck query cannot pin the pool.
async fn answer_within(limit: Duration, req: Request<Body>, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => AppError::Unavailable(Text::new(
            "服务器未能及时处理请求，请稍后重试",
            "the server could not answer in time; try again later",
        ))
        .into_response(),
    }
}

async fn handle(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    app: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) {
    match acceptor {
        None => serve_http(tcp, peer, app, header_timeout, shutdown).await,
        Some(acceptor) => match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => serve_http(tls, peer, app, header_timeout, shutdown).await,
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        },
    }
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        // Handlers read the client's address as axum's `ConnectInfo`.
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    #[tokio::test]
    async fn a_request_past_its_time_is_answered_503_and_dropped() {
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = finished.clone();
        let app = Router::new()
            .route(
                "/slow",
                get(move || async move {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    "late"
                }),
            )
            .route("/quick", get(|| async { "ok" }))
            .layer(middleware::from_fn(|req: Request<Body>, next: Next| {
                answer_within(Duration::from_millis(50), req, next)
            }));
        let res = app
            .clone()
            .oneshot(Request::get("/slow").body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(res.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(res.into_body(), 4096)
            .await
            .expect("body");
        let doc: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(doc["code"], "unavailable");
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert!(
            !finished.load(std::sync::atomic::Ordering::SeqCst),
            "the handler kept running after its answer"
        );
        let res = app
            .oneshot(Request::get("/quick").body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(res.status(), axum::http::StatusCode::OK);
    }
}
