//! Accepting connections as `jiliang serve` does: HTTPS with the configured
//! certificate (and HSTS), the connection cap, and the header timeout that
//! closes connections a silent client holds open.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiliang_server::listen::{Listen, tls_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, RootCertStore};

use crate::common::{TestDb, TestServer};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn tls_listen() -> Listen {
    let config = tls_config(&fixture("cert.pem"), &fixture("key.pem")).expect("test cert loads");
    Listen {
        tls: Some(Arc::new(config)),
        ..Listen::default()
    }
}

/// A client that trusts the test certificate only.
fn connector() -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixture("cert.pem")).expect("read") {
        roots.add(cert.expect("cert")).expect("add root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Reads until the peer closes (or `within` passes); the bytes read.
async fn read_to_close<R: AsyncReadExt + Unpin>(r: &mut R, within: Duration) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(all)
}

#[tokio::test]
async fn https_serves_the_api_with_hsts() {
    let server = TestServer::start_listening(TestDb::sqlite(), |_| {}, tls_listen()).await;
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let mut tls = connector()
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake with the configured certificate");
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let reply = read_to_close(&mut tls, Duration::from_secs(10))
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&reply).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(
        text.contains("strict-transport-security: max-age=31536000"),
        "{text}"
    );

    // Plain HTTP on the TLS port gets no answer worth reading, and the
    // node keeps serving.
    let mut plain = TcpStream::connect(server.addr).await.expect("connect");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let reply = read_to_close(&mut plain, Duration::from_secs(10))
        .await
        .expect("closed");
    assert!(!String::from_utf8_lossy(&reply).contains("200 OK"));
    server.stop().await;
}

#[test]
fn unusable_tls_files_are_named_in_the_error() {
    let missing = tls_config(&fixture("nope.pem"), &fixture("key.pem")).expect_err("missing");
    assert!(missing.contains("nope.pem"), "{missing}");
    // A key given as the certificate: no certificate in it.
    let swapped = tls_config(&fixture("key.pem"), &fixture("key.pem")).expect_err("no cert");
    assert!(swapped.contains("holds no certificate"), "{swapped}");
    let no_key = tls_config(&fixture("cert.pem"), &fixture("cert.pem")).expect_err("no key");
    assert!(no_key.contains("TLS key"), "{no_key}");
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_header_timeout() {
    let listen = Listen {
        header_timeout: Duration::from_millis(300),
        ..Listen::default()
    };
    let server = TestServer::start_listening(TestDb::sqlite(), |_| {}, listen).await;
    // Half a request line, then nothing.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(b"GET /healthz HT").await.expect("write");
    let started = Instant::now();
    read_to_close(&mut tcp, Duration::from_secs(5))
        .await
        .expect("the server closes a connection whose headers never come");
    assert!(started.elapsed() >= Duration::from_millis(250));

    // An idle keep-alive connection is closed too.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let reply = read_to_close(&mut tcp, Duration::from_secs(5))
        .await
        .expect("idle keep-alive connection closed");
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200"));
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let listen = Listen {
        max_connections: 2,
        ..Listen::default()
    };
    let server = TestServer::start_listening(TestDb::sqlite(), |_| {}, listen).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 12];
        tcp.read_exact(&mut buf).await.expect("answered");
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(tcp);
    }
    let mut third = TcpStream::connect(server.addr).await.expect("connect");
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let reply = read_to_close(&mut third, Duration::from_secs(5))
        .await
        .expect("closed at once");
    assert!(reply.is_empty(), "{}", String::from_utf8_lossy(&reply));
    // A held connection ends: there is room again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let _ = tcp
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let reply = read_to_close(&mut tcp, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        if reply.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no room after a connection ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}
