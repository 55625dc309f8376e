//! Typed configuration: command line flags with environment fallbacks.
//!
//! Doc comments on the fields are the `--help` text, so keep them short and
//! written for the person running the server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// 计量协作网 Jiliang — remote metrology collaboration network.
#[derive(Debug, Parser)]
#[command(name = "jiliang", version, about, propagate_version = true)]
pub struct Cli {
    /// Log output format.
    #[arg(long, global = true, env = "JILIANG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (API, rooms, static front end).
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Create the demo province (institutions, people) if it is not there yet; prints the demo logins.
    SeedDemo(SeedArgs),
    // compare, budget, conformity, ledger: the `jiliang-tools` subcommands.
    #[command(flatten)]
    Offline(OfflineCommand),
    /// Verify a ledger export bundle offline.
    Verify(VerifyArgs),
    /// Copy a running server's SQLite database and its ledger key, consistently, while it serves.
    Backup(BackupArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The server's ledger signing key (default: beside the SQLite file).
    #[arg(long, env = "JILIANG_LEDGER_KEY")]
    pub ledger_key: Option<PathBuf>,

    /// New directory to write `jiliang.db` and `ledger-key.hex` into; it
    /// must not exist yet. A server started on `sqlite://DIR/jiliang.db`
    /// runs from it as it is.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Only seed a database that has no people yet (what `scripts/run` does),
    /// so a demo that has been used and changed is left as it is.
    #[arg(long)]
    pub if_empty: bool,
    /// Also set up the demo lab at work (its devices, a live and an ended
    /// session, an open help request) and write an agent configuration per
    /// device into this directory (what `scripts/run` starts agents with).
    /// Runs even when `--if-empty` leaves the people as they are; idempotent.
    #[arg(long, value_name = "DIR")]
    pub demo_lab: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "JILIANG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub connections: crate::listen::ListenArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Directory of the built front end (Trunk's `dist/`).
    #[arg(long, env = "JILIANG_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Largest accepted request body on the upload routes (reading batches),
    /// in bytes.
    #[arg(long, env = "JILIANG_MAX_BODY", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest accepted request body on every other route (JSON forms), in
    /// bytes. The largest legitimate one (a session naming 50 labs and 200
    /// people with a 2 000-character description) is about 25 KiB.
    #[arg(long, env = "JILIANG_MAX_JSON_BODY", default_value_t = 64 * 1024)]
    pub max_json_body_bytes: usize,

    /// Public address of this service (e.g. https://jiliang.example.cn), used
    /// in invitation and reset links. Default: the address the client used.
    #[arg(long, env = "JILIANG_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// CJK font of the PDF certificates (a .ttf/.otf/.ttc file). Default:
    /// Debian's fonts-noto-cjk (face 2, Simplified Chinese), then
    /// fonts-wqy-microhei. Without one, PDF downloads answer 503.
    #[arg(long, env = "JILIANG_CERTIFICATE_FONT")]
    pub certificate_font: Option<PathBuf>,

    /// Face index in `--certificate-font` (a .ttc holds several).
    #[arg(long, env = "JILIANG_CERTIFICATE_FONT_INDEX")]
    pub certificate_font_index: Option<u32>,

    /// Mark cookies `Secure` (set when TLS is terminated in front of the server).
    #[arg(long, env = "JILIANG_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Trust `X-Forwarded-For`/`-Proto`/`-Host` from one reverse proxy
    /// (the same as `--trust-proxy-hops 1`).
    #[arg(long, env = "JILIANG_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// How many reverse proxies in front of the server append to
    /// `X-Forwarded-For`: the client address is the entry that many places
    /// from the right (the one our nearest trusted proxy saw). 0: none.
    #[arg(long, env = "JILIANG_TRUST_PROXY_HOPS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=16))]
    pub trust_proxy_hops: u32,

    /// Password hashes (argon2, ~19 MiB each) computed at once; more wait.
    #[arg(long, env = "JILIANG_PASSWORD_HASH_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub password_hash_concurrency: u32,

    /// How long a login may wait for a hashing slot, in ms, before it is
    /// answered 503 with `Retry-After`.
    #[arg(long, env = "JILIANG_PASSWORD_HASH_WAIT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub password_hash_wait_ms: u64,

    /// Fan-out between nodes: `nats://host:4222` to run several nodes on one
    /// PostgreSQL database; empty for a single node (in-process fan-out).
    #[arg(long, env = "JILIANG_BUS", default_value = "")]
    pub bus: String,

    #[command(flatten)]
    pub nats: NatsArgs,

    /// File holding the ledger's Ed25519 signing key (created on first
    /// start; refused if group or others may read it). Default:
    /// `ledger-key.hex` beside the SQLite file, or `data/ledger-key.hex`
    /// relative to the working directory with PostgreSQL. Every node needs
    /// the same key.
    #[arg(long, env = "JILIANG_LEDGER_KEY")]
    pub ledger_key: Option<PathBuf>,

    /// Start even though the log's latest heads were signed by another key:
    /// give it once, after deliberately replacing the key file (the server
    /// otherwise refuses, since nodes with different keys make exports that
    /// do not verify).
    #[arg(long, env = "JILIANG_LEDGER_ACCEPT_NEW_KEY")]
    pub ledger_accept_new_key: bool,

    /// How often to sign a new tree head while records arrive, in ms.
    #[arg(long, env = "JILIANG_LEDGER_INTERVAL_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub ledger_interval_ms: u64,

    /// Chat messages per second one person may send, sustained, over all
    /// their sockets on this node (bursts of four times as many are allowed).
    #[arg(long, env = "JILIANG_CHAT_RATE", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub chat_rate: u32,

    /// How often each room connection re-checks its login and that the
    /// person still takes part, in ms: a deactivated or logged-out person
    /// is disconnected within this time.
    #[arg(long, env = "JILIANG_ROOM_RECHECK_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub room_recheck_ms: u64,

    /// The public clock socket (/api/v1/time/ws) closes after this many ms
    /// without a frame from the client.
    #[arg(long, env = "JILIANG_TIME_SOCKET_IDLE_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub time_socket_idle_ms: u64,

    /// How long after a person's last socket in a room closes before their
    /// `leave` is recorded, in ms; a reconnect within it writes nothing.
    #[arg(long, env = "JILIANG_PRESENCE_GRACE_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub presence_grace_ms: u64,

    /// How often this node refreshes its presence rows and sweeps expired
    /// ones (other nodes' that died), in ms.
    #[arg(long, env = "JILIANG_PRESENCE_HEARTBEAT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub presence_heartbeat_ms: u64,

    /// How long a presence row lives without a heartbeat, in ms: a crashed
    /// node's people show offline within this plus one heartbeat. Must
    /// exceed the heartbeat (at least twice it is sensible).
    #[arg(long, env = "JILIANG_PRESENCE_TTL_MS", default_value_t = 6000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub presence_ttl_ms: u64,

    /// Sockets one person may have open to one room (on this node).
    #[arg(long, env = "JILIANG_ROOM_SOCKETS_PER_PERSON", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub room_sockets_per_person: u32,

    /// Room sockets one person may have open in all (on this node).
    #[arg(long, env = "JILIANG_SOCKETS_PER_PERSON", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sockets_per_person: u32,

    /// Sockets one room may have (on this node).
    #[arg(long, env = "JILIANG_ROOM_SOCKETS", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub room_sockets: u32,
    /// Address and first port of the media UDP ports (WebRTC). webrtc 0.21
    /// binds one socket per peer connection and has no UDP mux, so media
    /// uses `--media-udp-ports` ports from this one on: open that range in
    /// the firewall (docs/OPERATIONS.md). Port 0: any free port.
    #[arg(long, env = "JILIANG_MEDIA_UDP", default_value = "0.0.0.0:7882")]
    pub media_udp: SocketAddr,
    /// How many UDP ports media may use from `--media-udp` on: one per
    /// participant with audio or video on this node.
    #[arg(long, env = "JILIANG_MEDIA_UDP_PORTS", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub media_udp_ports: u16,
    /// The address browsers send media to, when it is not the address
    /// bound (1:1 NAT, a cloud instance's public address). Without it, a
    /// node bound to 0.0.0.0 announces the address of its outward interface.
    #[arg(long, env = "JILIANG_MEDIA_PUBLIC_IP")]
    pub media_public_ip: Option<std::net::IpAddr>,
    /// STUN and TURN servers browsers use to reach the media ports,
    /// comma-separated (`stun:HOST:3478,turn:HOST:3478?transport=udp,
    /// turns:HOST:443?transport=tcp`). Empty: host candidates only.
    #[arg(long, env = "JILIANG_ICE_SERVERS", value_delimiter = ',', value_parser = parse_ice_url)]
    pub ice_servers: Vec<crate::media::ice::IceUrl>,
    /// coturn's `static-auth-secret`: participants get TURN credentials
    /// made from it, valid for `--turn-ttl-secs`. Give it through the
    /// environment, not the command line.
    #[arg(long, env = "JILIANG_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<Secret>,
    /// How long a participant's TURN credential is valid, in seconds
    /// (renewed on an open connection at half of it).
    #[arg(long, env = "JILIANG_TURN_TTL_SECS", default_value_t = crate::media::ice::DEFAULT_TTL_SECS, value_parser = clap::value_parser!(u64).range(60..=604_800))]
    pub turn_ttl_secs: u64,
    /// `relay`: browsers send media only through the TURN servers (sites
    /// whose firewall lets nothing else out); `all`: any path that works.
    #[arg(long, env = "JILIANG_ICE_TRANSPORT_POLICY", value_enum, default_value_t = IcePolicyArg::All)]
    pub ice_transport_policy: IcePolicyArg,
    /// With several nodes: how long a node's claim on a room's media lasts
    /// without renewal, in ms. A dead node's rooms move to another node
    /// within this time (their clients start their media again).
    #[arg(long, env = "JILIANG_MEDIA_LEASE_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(300..=600_000))]
    pub media_lease_ms: u64,

    /// Where session recordings are written (raw tracks while recording,
    /// then one WebM file per publisher stream). Default: `recordings/`
    /// beside the SQLite file, else `data/recordings`.
    #[arg(long, env = "JILIANG_RECORDINGS_DIR", value_name = "DIR")]
    pub recordings_dir: Option<PathBuf>,

    /// The `ffmpeg` that remuxes recordings to WebM (copy only, never a
    /// transcode). Missing or failing: the recording is kept raw and
    /// marked failed with the reason.
    #[arg(
        long,
        env = "JILIANG_FFMPEG",
        default_value = "ffmpeg",
        value_name = "PATH"
    )]
    pub ffmpeg: PathBuf,
}

fn parse_ice_url(s: &str) -> Result<crate::media::ice::IceUrl, String> {
    crate::media::ice::IceUrl::parse(s).map_err(|e| e.to_string())
}

/// `--ice-transport-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IcePolicyArg {
    /// Host, reflexive and relayed candidates.
    All,
    /// Relayed candidates only (through TURN).
    Relay,
}

impl From<IcePolicyArg> for jiliang_protocol::rooms::IceTransportPolicy {
    fn from(p: IcePolicyArg) -> Self {
        match p {
            IcePolicyArg::All => Self::All,
            IcePolicyArg::Relay => Self::Relay,
        }
    }
}

/// A secret from the command line or the environment; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// How a node authenticates to NATS and protects the link. Give secrets
/// through the environment (or a file) rather than the command line, which
/// other users of the machine can read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct NatsArgs {
    /// NATS user name (with --nats-password).
    #[arg(long, env = "JILIANG_NATS_USER", requires = "nats_password")]
    pub nats_user: Option<String>,
    /// NATS password (with --nats-user).
    #[arg(
        long,
        env = "JILIANG_NATS_PASSWORD",
        requires = "nats_user",
        hide_env_values = true
    )]
    pub nats_password: Option<Secret>,
    /// NATS authentication token.
    #[arg(long, env = "JILIANG_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<Secret>,
    /// NATS NKey seed (`SU…`), for NKey authentication.
    #[arg(long, env = "JILIANG_NATS_NKEY_SEED", hide_env_values = true)]
    pub nats_nkey_seed: Option<Secret>,
    /// NATS credentials file (JWT and NKey seed, `.creds`), for decentralised
    /// (operator/account) authentication.
    #[arg(long, env = "JILIANG_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// Require TLS to NATS (implied by the options below and by `tls://`).
    #[arg(long, env = "JILIANG_NATS_TLS")]
    pub nats_tls: bool,
    /// PEM file of the CA(s) that signed the NATS server's certificate.
    #[arg(long, env = "JILIANG_NATS_CA")]
    pub nats_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS to NATS (with --nats-client-key).
    #[arg(long, env = "JILIANG_NATS_CLIENT_CERT", requires = "nats_client_key")]
    pub nats_client_cert: Option<PathBuf>,
    /// PEM private key of --nats-client-cert.
    #[arg(long, env = "JILIANG_NATS_CLIENT_KEY", requires = "nats_client_cert")]
    pub nats_client_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/jiliang.db";

// ---------------------------------------------------------------------------
// Offline tools: their flags are the `jiliang-tools` crate's, so both
// binaries parse them the same way; only `verify --database-url` is ours.
// ---------------------------------------------------------------------------

pub use jiliang_tools::args::{OfflineCommand, OutputFormat, VerifyOptions};

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["export", "database_url"])))]
pub struct VerifyArgs {
    /// Export bundle (`jiliang-ledger-export/1` JSON) to verify offline.
    #[arg(value_name = "EXPORT")]
    pub export: Option<PathBuf>,

    /// Instead of an export, re-verify a server's whole log: every record
    /// against its source row, every leaf, every signed head.
    #[arg(long = "database-url", value_name = "URL")]
    pub database_url: Option<String>,

    #[command(flatten)]
    pub options: VerifyOptions,
}

/// What `run` needs; built from `ServeArgs` by the CLI and directly by tests.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub static_dir: PathBuf,
    /// Body limit of the upload routes (`http::body_limit::UPLOAD_ROUTES`).
    pub max_body_bytes: usize,
    /// Body limit of every other route.
    pub max_json_body_bytes: usize,
    pub public_url: Option<String>,
    /// CJK font of the PDF certificates and its face (`None`: the defaults).
    pub certificate_font: Option<PathBuf>,
    pub certificate_font_index: Option<u32>,
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-*` headers are trusted (0: none).
    pub trust_proxy_hops: u32,
    /// Password hashes computed at once.
    pub password_hash_concurrency: u32,
    /// Longest wait for a hashing slot, in ms.
    pub password_hash_wait_ms: u64,
    /// Empty: in-process fan-out.
    pub bus: String,
    /// Sustained chat messages per second per person (on this node).
    pub chat_rate: u32,
    /// Ledger signing key file (`None`: next to the database).
    pub ledger_key: Option<PathBuf>,
    /// Accept a key other than the one that signed the latest heads.
    pub ledger_accept_new_key: bool,
    pub ledger_interval_ms: u64,
    /// How often a room connection re-checks its login and participation.
    pub room_recheck_ms: u64,
    /// Silence after which the public clock socket is closed.
    pub time_socket_idle_ms: u64,
    /// How NATS is reached (credentials, TLS).
    pub nats: NatsArgs,
    /// Presence: grace before a `leave`, heartbeat, row lifetime (ms).
    pub presence_grace_ms: u64,
    pub presence_heartbeat_ms: u64,
    pub presence_ttl_ms: u64,
    /// Socket caps (per node).
    pub room_sockets_per_person: u32,
    pub sockets_per_person: u32,
    pub room_sockets: u32,
    /// Media UDP ports and announced address.
    pub media: crate::media::MediaConfig,
    /// STUN/TURN servers and TURN credentials for participants.
    pub ice: crate::media::ice::IceSettings,
    /// Where recordings go and what remuxes them.
    pub recording: crate::recording::RecordingConfig,
}

impl From<&ServeArgs> for Config {
    fn from(a: &ServeArgs) -> Self {
        Self {
            database_url: a.database.database_url.clone(),
            static_dir: a.static_dir.clone(),
            max_body_bytes: a.max_body_bytes,
            max_json_body_bytes: a.max_json_body_bytes,
            public_url: a.public_url.clone(),
            certificate_font: a.certificate_font.clone(),
            certificate_font_index: a.certificate_font_index,
            secure_cookies: a.secure_cookies,
            trust_proxy_hops: if a.trust_proxy {
                a.trust_proxy_hops.max(1)
            } else {
                a.trust_proxy_hops
            },
            password_hash_concurrency: a.password_hash_concurrency,
            password_hash_wait_ms: a.password_hash_wait_ms,
            bus: a.bus.clone(),
            chat_rate: a.chat_rate,
            ledger_key: a.ledger_key.clone(),
            ledger_accept_new_key: a.ledger_accept_new_key,
            ledger_interval_ms: a.ledger_interval_ms,
            room_recheck_ms: a.room_recheck_ms,
            time_socket_idle_ms: a.time_socket_idle_ms,
            nats: a.nats.clone(),
            presence_grace_ms: a.presence_grace_ms,
            presence_heartbeat_ms: a.presence_heartbeat_ms,
            presence_ttl_ms: a.presence_ttl_ms,
            room_sockets_per_person: a.room_sockets_per_person,
            sockets_per_person: a.sockets_per_person,
            room_sockets: a.room_sockets,
            media: crate::media::MediaConfig {
                udp: a.media_udp,
                udp_ports: a.media_udp_ports,
                public_ip: a.media_public_ip,
                lease_ms: a.media_lease_ms,
            },
            ice: crate::media::ice::IceSettings {
                servers: a.ice_servers.clone(),
                turn_secret: a.turn_secret.clone(),
                ttl: std::time::Duration::from_secs(a.turn_ttl_secs),
                policy: a.ice_transport_policy.into(),
            },
            recording: crate::recording::RecordingConfig {
                dir: a.recordings_dir.clone(),
                ffmpeg: a.ffmpeg.clone(),
            },
        }
    }
}

impl Config {
    /// Where recordings live: as configured, else `recordings/` beside the
    /// SQLite file, else beside the ledger key file, else `data/recordings`
    /// under the working directory.
    pub fn recordings_path(&self) -> PathBuf {
        if let Some(p) = &self.recording.dir {
            return p.clone();
        }
        match self.ledger_key_path().parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join("recordings"),
            _ => PathBuf::from("data/recordings"),
        }
    }

    /// Where the ledger key lives: as configured, else beside the SQLite
    /// file, else `data/` under the working directory.
    pub fn ledger_key_path(&self) -> PathBuf {
        if let Some(p) = &self.ledger_key {
            return p.clone();
        }
        if let Some(file) = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))
        {
            let file = file.split('?').next().unwrap_or(file);
            if let Some(dir) = std::path::Path::new(file).parent() {
                return dir.join("ledger-key.hex");
            }
        }
        PathBuf::from("data/ledger-key.hex")
    }

    /// The presence settings: a TTL no longer than the heartbeat would let
    /// live rows expire between beats, so it is raised to twice it.
    pub fn presence(&self) -> crate::rooms::presence::PresenceConfig {
        use std::time::Duration;
        let heartbeat = self.presence_heartbeat_ms.max(1);
        crate::rooms::presence::PresenceConfig {
            grace: Duration::from_millis(self.presence_grace_ms),
            heartbeat: Duration::from_millis(heartbeat),
            ttl: Duration::from_millis(self.presence_ttl_ms.max(heartbeat * 2)),
            sockets_per_person_room: usize::try_from(self.room_sockets_per_person)
                .unwrap_or(usize::MAX),
            sockets_per_person: usize::try_from(self.sockets_per_person).unwrap_or(usize::MAX),
            sockets_per_room: usize::try_from(self.room_sockets).unwrap_or(usize::MAX),
            chat_rate: self.chat_rate,
        }
    }

    /// A configuration for tests and tools: given database, no front end.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            static_dir: PathBuf::from("dist"),
            max_body_bytes: 1024 * 1024,
            max_json_body_bytes: 64 * 1024,
            public_url: None,
            certificate_font: None,
            certificate_font_index: None,
            secure_cookies: false,
            trust_proxy_hops: 0,
            password_hash_concurrency: 4,
            password_hash_wait_ms: 5000,
            bus: String::new(),
            chat_rate: 5,
            ledger_key: None,
            ledger_accept_new_key: false,
            ledger_interval_ms: 2000,
            room_recheck_ms: 30_000,
            time_socket_idle_ms: 60_000,
            nats: NatsArgs::default(),
            presence_grace_ms: 5000,
            presence_heartbeat_ms: 2000,
            presence_ttl_ms: 6000,
            room_sockets_per_person: 4,
            sockets_per_person: 16,
            room_sockets: 500,
            // Tests and tools: loopback, any free port.
            media: crate::media::MediaConfig::loopback(),
            ice: crate::media::ice::IceSettings::default(),
            recording: crate::recording::RecordingConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults() {
        // Environment may set DATABASE_URL in CI; parse with explicit flags.
        let cli = Cli::try_parse_from(["jiliang", "serve", "--database-url", DEFAULT_DATABASE_URL])
            .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert_eq!(args.database.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(args.static_dir, PathBuf::from("dist"));
    }

    #[test]
    fn trust_proxy_is_one_hop() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["jiliang", "serve", "--database-url", DEFAULT_DATABASE_URL];
            argv.extend_from_slice(extra);
            let Command::Serve(args) = Cli::try_parse_from(argv).expect("parses").command else {
                panic!("expected serve");
            };
            Config::from(&*args).trust_proxy_hops
        };
        assert_eq!(parse(&[]), 0);
        assert_eq!(parse(&["--trust-proxy"]), 1);
        assert_eq!(parse(&["--trust-proxy-hops", "2"]), 2);
        assert_eq!(parse(&["--trust-proxy", "--trust-proxy-hops", "3"]), 3);
    }

    #[test]
    fn ice_settings_parse_from_flags() {
        use jiliang_protocol::rooms::IceTransportPolicy;
        let parse = |extra: &[&str]| {
            let mut argv = vec!["jiliang", "serve", "--database-url", DEFAULT_DATABASE_URL];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Serve(args) => Config::from(&*args).ice,
                _ => panic!("expected serve"),
            })
        };
        let none = parse(&[]).expect("parses");
        assert!(none.servers.is_empty());
        assert_eq!(none.policy, IceTransportPolicy::All);
        assert_eq!(none.check(), Ok(()));
        let ice = parse(&[
            "--ice-servers",
            "stun:s.example.cn:3478,turn:127.0.0.1:3478?transport=udp",
            "--turn-secret",
            "k",
            "--turn-ttl-secs",
            "600",
            "--ice-transport-policy",
            "relay",
        ])
        .expect("parses");
        assert_eq!(ice.servers.len(), 2);
        assert_eq!(ice.ttl, std::time::Duration::from_secs(600));
        assert_eq!(ice.policy, IceTransportPolicy::Relay);
        assert_eq!(ice.check(), Ok(()));
        // A malformed URL or a too short lifetime stop at the command line.
        assert!(parse(&["--ice-servers", "http://turn.example.cn"]).is_err());
        assert!(parse(&["--turn-ttl-secs", "5"]).is_err());
        // TURN without its secret parses, and is refused at start.
        let no_secret = parse(&["--ice-servers", "turn:t.example.cn"]).expect("parses");
        assert!(no_secret.check().is_err());
    }

    #[test]
    fn bad_listen_address_is_rejected() {
        let err = Cli::try_parse_from(["jiliang", "serve", "--listen", "nonsense"])
            .expect_err("must fail");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
