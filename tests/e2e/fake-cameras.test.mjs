// What Chromium's fake cameras deliver, without Jiliang: a plain page, a
// loopback pair of peer connections, a camera swapped into the sender with
// `replaceTrack` (as the room does when the person chooses another camera).
//
// Chromium's fake capture (`--use-fake-device-for-media-stream=
// device-count=N`) makes `fake_device_0` an I420 camera, `fake_device_1` a
// *depth* camera (16-bit Y16 frames: media/capture/video/
// fake_video_capture_device_factory.cc, `GetPixelFormatFromDeviceIndex`)
// and `fake_device_2` an MJPEG camera. WebRTC's encoder takes no Y16 frame,
// so a sender that swaps to fake_device_1 stops encoding — Chromium's fake
// device, not the swap: the same swap to fake_device_2 goes on encoding.
// This is why e2e media-room switches the technician to a colour camera
// (fake_device_2), and what this file keeps true (a Chromium that changes
// its fake devices fails here first, with the reason).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import { chromiumArgs } from './harness.mjs';

let http;
let url;
let browser;

before(async () => {
  // getUserMedia needs a secure context: a page from 127.0.0.1.
  http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>fake cameras</title><video id="v" autoplay muted playsinline></video>');
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${http.address().port}/`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [...chromiumArgs, '--use-fake-device-for-media-stream=device-count=3', '--use-fake-ui-for-media-stream'],
  });
});
after(async () => {
  await browser?.close();
  await new Promise((r) => http?.close(r) ?? r());
});

test('fake cameras: the depth camera is never encoded, a swap to a colour camera is', async () => {
  const page = await browser.newPage();
  await page.goto(url);
  const report = await page.evaluate(async () => {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    await navigator.mediaDevices.getUserMedia({ video: true }).then((s) => s.getTracks().forEach((t) => t.stop()));
    const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
    const open = async (label) => {
      const id = cameras.find((d) => d.label === label)?.deviceId;
      const s = await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: id } } });
      return s.getVideoTracks()[0];
    };
    // Frames the page itself shows from a track (no WebRTC involved).
    const shown = async (track) => {
      const v = document.getElementById('v');
      v.srcObject = new MediaStream([track]);
      let n = 0;
      const count = () => { n += 1; v.requestVideoFrameCallback(count); };
      v.requestVideoFrameCallback(count);
      await sleep(1500);
      return n;
    };
    // A loopback call sending `track`: its sender and a counter of the
    // frames it encoded.
    const call = async (track) => {
      const a = new RTCPeerConnection();
      const b = new RTCPeerConnection();
      a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
      b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
      const sender = a.addTransceiver(track, { direction: 'sendonly', sendEncodings: [{ maxBitrate: 500_000 }] }).sender;
      await a.setLocalDescription();
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription();
      await a.setRemoteDescription(b.localDescription);
      const encoded = async () => {
        let frames = 0;
        (await a.getStats()).forEach((s) => { if (s.type === 'outbound-rtp') frames += s.framesEncoded ?? 0; });
        return frames;
      };
      for (let i = 0; i < 40 && a.connectionState !== 'connected'; i++) await sleep(250);
      return { sender, encoded, close: () => { a.close(); b.close(); } };
    };
    // Frames encoded over two seconds with `track` in the sender.
    const encodes = async ({ sender, encoded }, track) => {
      if (track !== sender.track) await sender.replaceTrack(track);
      await sleep(1000);
      const start = await encoded();
      await sleep(2000);
      return (await encoded()) - start;
    };
    const out = { labels: cameras.map((d) => d.label) };
    const first = await open('fake_device_0');
    const swapped = await call(first);
    out.device0 = { encoded: await encodes(swapped, first), shown: await shown(first) };
    const depth = await open('fake_device_1');
    out.device1 = { encoded: await encodes(swapped, depth), shown: await shown(depth), settings: depth.getSettings(), readyState: depth.readyState };
    const mjpeg = await open('fake_device_2');
    out.device2 = { encoded: await encodes(swapped, mjpeg), shown: await shown(mjpeg), settings: mjpeg.getSettings() };
    out.encodings = swapped.sender.getParameters().encodings.map((e) => ({ maxBitrate: e.maxBitrate, active: e.active }));
    swapped.close();
    // The depth camera in a sender of its own from the start: no swap.
    const fresh = await call(depth);
    out.depthAlone = await encodes(fresh, depth);
    fresh.close();
    for (const t of [first, depth, mjpeg]) t.stop();
    return out;
  });
  console.log(JSON.stringify(report));
  assert.deepEqual(report.labels, ['fake_device_0', 'fake_device_1', 'fake_device_2']);
  // 20 fps: about 40 frames in two seconds; a loaded machine encodes fewer.
  assert.ok(report.device0.encoded >= 10, `fake_device_0 is encoded (${report.device0.encoded})`);
  assert.ok(report.device1.encoded <= 2, `fake_device_1 (depth) is not encoded (${report.device1.encoded})`);
  assert.ok(report.device2.encoded >= 10, `fake_device_2 is encoded after the swap (${report.device2.encoded})`);
  assert.ok(report.depthAlone <= 2, `fake_device_1 is not encoded without a swap either (${report.depthAlone})`);
  // The depth camera does deliver frames: the page shows them.
  assert.ok(report.device1.shown >= 10, `fake_device_1 delivers frames (${report.device1.shown})`);
  assert.deepEqual(report.encodings, [{ maxBitrate: 500_000, active: true }], 'the encodings survive both swaps');
});
