// An impaired network path for one page's WebRTC media, in user space (this
// machine's kernel has no netem): a UDP relay per server media port that
// delays, drops at random and rate-limits each direction, and a WebSocket
// route that rewrites the server's host candidates (in SDP and trickled) so
// that the page sends its media to the relay instead of the server, and
// keeps the page's candidates from the server (else the server's own checks
// would find the page directly, around the relay).
//
// Rate limiting is a token bucket with a bounded queue, as `tc tbf … latency
// 400ms`: a packet that would wait longer than `queueMs` is dropped.
import dgram from 'node:dgram';

/** A routed socket and its server side close together, each passing on the
 *  other's code where a page may send it (1000, 3000–4999), else 1000. */
function closeTogether(ws, server) {
  const closeCode = (code) => (code >= 3000 && code <= 4999) || code === 1000 ? code : 1000;
  ws.onClose((code, reason) => server.close({ code: closeCode(code), reason }));
  server.onClose((code, reason) => ws.close({ code: closeCode(code), reason }));
}

/** Start an impaired path; `route(context)` sends that browser context's media
 *  through it. Every option applies to each direction; `up` (page → server)
 *  and `down` (server → page) override them for one direction, e.g.
 *  `impairedPath({ down: { kbps: 300 }, up: { kbps: 10_000, loss: 0, delayMs: 0 } })`.
 *  `set({ down: {...} })` changes a direction while the path runs. */
export function impairedPath({ kbps = 300, loss = 0.05, delayMs = 150, queueMs = 400, up = {}, down = {} } = {}) {
  const relays = new Map(); // "ip:port" of the server → { socket, port, ready }
  let closed = false;
  const stats = { up: { sent: 0, dropped: 0 }, down: { sent: 0, dropped: 0 }, frames: 0, candidates: [] };
  const base = { kbps, loss, delayMs, queueMs };
  const params = { up: { ...base, ...up }, down: { ...base, ...down } };

  function shaper(dir) {
    let nextFree = 0;
    return (bytes, send) => {
      const { kbps, loss, delayMs, queueMs } = params[dir];
      const now = Date.now();
      if (Math.random() < loss) { stats[dir].dropped++; return; }
      const start = Math.max(now, nextFree);
      if (start - now > queueMs) { stats[dir].dropped++; return; }
      nextFree = start + (bytes * 8) / kbps; // kbit/s = bits per ms
      stats[dir].sent++;
      setTimeout(() => {
        // Packets still queued when the path closes are lost with it.
        if (closed) return;
        try { send(); } catch { /* the socket closed meanwhile */ }
      }, nextFree - now + delayMs);
    };
  }

  /** The relay for the server's media address, started if need be. */
  function relayFor(ip, port) {
    const key = `${ip}:${port}`;
    let relay = relays.get(key);
    if (relay) return relay;
    const socket = dgram.createSocket('udp4');
    const upstreams = new Map(); // browser "addr:port" → socket towards the server
    const up = shaper('up');
    const down = shaper('down');
    socket.on('message', (msg, from) => {
      const id = `${from.address}:${from.port}`;
      let u = upstreams.get(id);
      if (!u) {
        u = dgram.createSocket('udp4');
        u.on('message', (back) => down(back.length, () => socket.send(back, from.port, from.address)));
        u.on('error', () => {});
        u.bind(0);
        upstreams.set(id, u);
      }
      up(msg.length, () => u.send(msg, port, ip));
    });
    socket.on('error', () => {});
    const ready = new Promise((ok) => socket.bind(0, ip, ok));
    relay = { socket, ready, upstreams, port: () => socket.address().port };
    relays.set(key, relay);
    return relay;
  }

  /** A host candidate line's address and port replaced by its relay's;
   *  `null` for any other candidate (it would bypass the relay). */
  async function rewriteCandidate(line) {
    const f = line.split(' ');
    stats.candidates.push(line);
    // candidate:F C udp PRIO IP PORT typ host …
    if (f.length < 8 || f[6] !== 'typ' || f[7] !== 'host' || f[2].toLowerCase() !== 'udp') return null;
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(f[4])) return null;
    const relay = relayFor(f[4], Number(f[5]));
    await relay.ready;
    f[5] = String(relay.port());
    return f.join(' ');
  }

  async function rewriteSdp(sdp) {
    const out = [];
    for (const line of sdp.split('\r\n')) {
      if (!line.startsWith('a=candidate:')) { out.push(line); continue; }
      const rewritten = await rewriteCandidate(line.slice(2));
      if (rewritten) out.push(`a=${rewritten}`);
    }
    return out.join('\r\n');
  }

  async function rewriteFrame(text) {
    stats.frames++;
    let frame;
    try { frame = JSON.parse(text); } catch { return text; }
    if ((frame.type === 'media_offer' || frame.type === 'media_answer') && typeof frame.sdp === 'string') {
      frame.sdp = await rewriteSdp(frame.sdp);
    } else if (frame.type === 'media_candidate' && frame.candidate?.candidate) {
      const rewritten = await rewriteCandidate(frame.candidate.candidate);
      if (!rewritten) return null;
      frame.candidate.candidate = rewritten;
    } else {
      return text;
    }
    return JSON.stringify(frame);
  }

  /** A client frame without ICE candidates (`null`: drop it). */
  function withoutCandidates(text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return text; }
    if (frame.type === 'media_candidate') return null;
    if ((frame.type === 'media_offer' || frame.type === 'media_answer') && typeof frame.sdp === 'string') {
      frame.sdp = frame.sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:')).join('\r\n');
      return JSON.stringify(frame);
    }
    return text;
  }

  /** Route the room sockets of `context` through the rewriting proxy. */
  async function route(context) {
    await context.routeWebSocket(/\/ws(\?|$)/, (ws) => {
      const server = ws.connectToServer();
      // Frames keep their order although rewriting one may wait for a relay.
      let chain = Promise.resolve();
      server.onMessage((m) => {
        chain = chain.then(async () => {
          const out = typeof m === 'string' ? await rewriteFrame(m) : m;
          if (out !== null) ws.send(out);
        }).catch(() => {});
      });
      // The page's own candidates are kept from the server: it learns the
      // page's address from the checks the relay forwards, and never
      // reaches the page around the relay.
      ws.onMessage((m) => {
        const out = typeof m === 'string' ? withoutCandidates(m) : m;
        if (out !== null) server.send(out);
      });
      closeTogether(ws, server);
    });
  }

  function close() {
    closed = true;
    for (const r of relays.values()) {
      for (const u of r.upstreams.values()) u.close();
      r.socket.close();
    }
    relays.clear();
  }

  /** Change one or both directions' parameters from now on. */
  function set({ up = {}, down = {} } = {}) {
    Object.assign(params.up, up);
    Object.assign(params.down, down);
  }

  return { route, close, set, stats, relays, params };
}

/** A county link for one browser context's room sockets: every frame waits
 *  its turn on a `kbps` link each way (a bucket without drops, as TCP
 *  delivers), plus `delayMs`. Answers running totals: bytes each way, frames
 *  down, and the longest a frame waited (a link the room saturates shows as
 *  a wait that keeps growing). */
export async function slowRoomSockets(context, { kbps = 300, delayMs = 150 } = {}) {
  const stats = { down: 0, up: 0, frames: 0, maxWaitMs: 0, since: Date.now() };
  // One queue per direction, sent in order by one timer: frames a
  // fraction of a millisecond apart keep their order.
  const shaper = () => {
    let nextFree = 0;
    const queue = [];
    let timer = null;
    const pump = () => {
      timer = null;
      while (queue.length && queue[0].at <= Date.now()) {
        const { send } = queue.shift();
        try { send(); } catch { /* closed meanwhile */ }
      }
      if (queue.length) timer = setTimeout(pump, Math.max(0, queue[0].at - Date.now()));
    };
    return (bytes, send) => {
      const now = Date.now();
      nextFree = Math.max(now, nextFree) + (bytes * 8) / kbps;
      stats.maxWaitMs = Math.max(stats.maxWaitMs, nextFree - now + delayMs);
      queue.push({ at: nextFree + delayMs, send });
      if (!timer) timer = setTimeout(pump, Math.max(0, nextFree + delayMs - now));
    };
  };
  const size = (m) => (typeof m === 'string' ? Buffer.byteLength(m) : m.length);
  await context.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    const server = ws.connectToServer();
    const down = shaper();
    const up = shaper();
    server.onMessage((m) => {
      stats.down += size(m);
      stats.frames += 1;
      down(size(m), () => ws.send(m));
    });
    ws.onMessage((m) => {
      stats.up += size(m);
      up(size(m), () => server.send(m));
    });
    closeTogether(ws, server);
  });
  return stats;
}
