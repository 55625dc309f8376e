"""An independent WebRTC peer (aiortc, not our code) in a Jiliang room.

It does what docs/protocol.md asks of a client: logs in through the API,
opens the room socket, joins, and signals its one peer connection to the
server's SFU with media_state / media_offer / media_answer /
media_candidate. It publishes a generated video track (moving colour bars,
as `camera`) and decodes every track the server forwards to it.

Usage:
  webrtc_peer.py --base http://127.0.0.1:PORT --login tech --password PW \
                 --session ID [--seconds 60] [--any-interface]

One JSON object per line on stdout:
  {"event": "joined", "you": ID, "others_publish": bool}
  {"event": "publishing", "track_id": ID}
  {"event": "track", "kind": "video", "id": TRACK_ID}
  {"event": "frames", "sent": N, "received": {TRACK_ID: N, ...}}  (every second)
and {"event": "error", "message": ...} before a non-zero exit. It stops
after --seconds, or when stdin closes (the test that started it ended).

aiortc has no rollback, so it cannot be the polite peer of perfect
negotiation when offers cross; it avoids crossing instead: when others
already publish it starts media declaring nothing, answers the server's
offer of their tracks, and only then adds its own track and offers.
"""
import argparse
import asyncio
import json
import os
import stat
import sys
import time
import urllib.request
from fractions import Fraction

import aioice.ice
import av
import websockets
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp

WIDTH, HEIGHT = 320, 240


def say(**fields):
    print(json.dumps(fields), flush=True)


class ColourBars(VideoStreamTrack):
    """Generated video: vertical colour bars sliding by 4 px a frame."""

    kind = "video"

    def __init__(self):
        super().__init__()
        bars = [(255, 255, 255, 255), (255, 255, 0, 255), (0, 255, 255, 255), (0, 255, 0, 255),
                (255, 0, 255, 255), (255, 0, 0, 255), (0, 0, 255, 255), (0, 0, 0, 255)]
        row = b"".join(bytes(bars[x * len(bars) // WIDTH]) for x in range(WIDTH))
        self._row2 = row + row
        self.sent = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        shift = (self.sent * 4 % WIDTH) * 4
        row = self._row2[shift:shift + WIDTH * 4]
        frame = av.VideoFrame.from_bytes(row * HEIGHT, WIDTH, HEIGHT, format="rgba")
        frame.pts = pts
        frame.time_base = time_base or Fraction(1, 90000)
        self.sent += 1
        return frame


def login(base, name, password):
    req = urllib.request.Request(
        f"{base}/api/v1/auth/login",
        data=json.dumps({"login": name, "password": password}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        cookie = res.headers.get("set-cookie", "").split(";")[0]
    if not cookie:
        raise RuntimeError("the login answered without a session cookie")
    return cookie


def configuration(ice):
    servers = [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in (ice or {}).get("ice_servers", [])
    ]
    policy = RTCIceTransportPolicy.RELAY if (ice or {}).get("ice_transport_policy") == "relay" \
        else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers or None, iceTransportPolicy=policy)


class Peer:
    def __init__(self, ws, snapshot):
        self.ws = ws
        self.you = snapshot["you"]
        self.pc = RTCPeerConnection(configuration(snapshot.get("ice")))
        self.source = ColourBars()
        self.received = {}
        self.readers = []
        self.published = False
        self.pc.on("track", self.on_track)

    async def send(self, frame):
        await self.ws.send(json.dumps(frame))

    def on_track(self, track):
        say(event="track", kind=track.kind, id=track.id)
        self.received.setdefault(track.id, 0)
        self.readers.append(asyncio.ensure_future(self.read(track)))

    async def read(self, track):
        while True:
            try:
                await track.recv()
            except Exception:  # the track ended (MediaStreamError)
                return
            self.received[track.id] += 1

    async def state(self, publish):
        tracks = [{"track_id": self.source.id, "source": "camera", "muted": False}] if publish else []
        await self.send({"type": "media_state", "tracks": tracks, "receive_video": True})

    async def publish(self):
        """Add the generated camera, declare it, offer it."""
        self.pc.addTransceiver(self.source, direction="sendonly")
        await self.state(publish=True)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.send({"type": "media_offer", "sdp": self.pc.localDescription.sdp})
        self.published = True
        say(event="publishing", track_id=self.source.id)

    async def on_frame(self, f):
        kind = f.get("type")
        if kind == "media_offer":
            if self.pc.signalingState != "stable":
                raise RuntimeError("a server offer crossed ours (aiortc cannot roll back)")
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=f["sdp"], type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.send({"type": "media_answer", "sdp": self.pc.localDescription.sdp})
            if not self.published:
                await self.publish()
        elif kind == "media_answer":
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=f["sdp"], type="answer"))
        elif kind == "media_candidate":
            c = f["candidate"]
            text = c["candidate"].removeprefix("candidate:")
            if not text:
                return
            candidate = candidate_from_sdp(text)
            candidate.sdpMid = c.get("sdp_mid")
            candidate.sdpMLineIndex = c.get("sdp_m_line_index")
            await self.pc.addIceCandidate(candidate)
        elif kind == "media_closed":
            raise RuntimeError(f"the server closed our media: {f.get('reason')}")
        elif kind == "error":
            raise RuntimeError(f"error frame: {f.get('message')}")


async def stdin_closed():
    """Returns when stdin closes; never, when stdin is no pipe."""
    if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
        await asyncio.Event().wait()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(1024):
        pass


async def run(args):
    cookie = login(args.base, args.login, args.password)
    url = args.base.replace("http://", "ws://", 1) + f"/api/v1/sessions/{args.session}/ws"
    async with websockets.connect(
        url, additional_headers={"Cookie": cookie, "Origin": args.base}, max_size=1 << 20
    ) as ws:
        # The room protocol's version (PROTOCOL_VERSION in crates/protocol).
        await ws.send(json.dumps({"type": "join", "protocol": 2, "last_seq": 0}))
        while True:
            snapshot = json.loads(await ws.recv())
            if snapshot.get("type") == "snapshot":
                break
        others = any(p["user_id"] != snapshot["you"] and p["tracks"] for p in snapshot.get("media", []))
        say(event="joined", you=snapshot["you"], others_publish=others)
        peer = Peer(ws, snapshot)
        if others:
            # Receive first: the server offers the others' tracks; our own
            # offer follows the answer (see the module's comment).
            await peer.state(publish=False)
        else:
            await peer.publish()

        async def frames():
            async for text in ws:
                await peer.on_frame(json.loads(text))

        async def report():
            while True:
                await asyncio.sleep(1)
                say(event="frames", sent=peer.source.sent, received=dict(peer.received))

        tasks = [asyncio.ensure_future(t) for t in (frames(), report(), stdin_closed())]
        try:
            done, _ = await asyncio.wait(tasks, timeout=args.seconds, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t.exception():
                    raise t.exception()
        finally:
            for t in tasks + peer.readers:
                t.cancel()
            await peer.pc.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, help="the server, e.g. http://127.0.0.1:8080")
    p.add_argument("--login", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--session", required=True)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--verbose", action="store_true", help="aiortc's debug log on stderr")
    p.add_argument("--any-interface", action="store_true",
                   help="gather host candidates on every interface (default: loopback only)")
    args = p.parse_args()
    if args.verbose:
        import logging
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    if not args.any_interface:
        # Tests keep media on loopback; aioice skips 127.0.0.1 by default.
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    started = time.monotonic()
    try:
        asyncio.run(run(args))
    except Exception as e:  # one line, for the test's failure message
        say(event="error", message=f"{type(e).__name__}: {e}", after_s=round(time.monotonic() - started, 1))
        sys.exit(1)


if __name__ == "__main__":
    main()
