// The WebSocket to /ws (docs/protocol.md): JSON messages in and out, handlers
// by message `type`, and a promise for the server's `hello`.
//
// Reconnection: if the socket drops while we are in a call (no clean close,
// not replaced by another tab), a new socket is opened with growing pauses
// and sends `resume` with the participant id and token from the last
// `hello`, so the call goes on without a new admission. Meanwhile handlers
// get `reconnecting`, then `resumed`; if the server refuses, or the grace
// period runs out, they get `close` once, as before.

const RETRY_MS = [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000];

export function openSignaling(query = '') {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${scheme}//${location.host}/ws${query}`;
  let ws = new WebSocket(url);
  const handlers = new Map();
  let closedByUs = false;
  let helloSeen = false;
  let identity = null; // { participant_id, resume_token } from the last hello
  let inCall = false;

  const emit = (type, msg) => {
    for (const fn of [...(handlers.get(type) ?? [])]) fn(msg);
  };

  const sig = {
    /** Calls fn(msg) for each message of `type` ('*' for all, 'close' when the socket ends); returns an unsubscribe. */
    on(type, fn) {
      if (!handlers.has(type)) handlers.set(type, new Set());
      handlers.get(type).add(fn);
      return () => handlers.get(type)?.delete(fn);
    },
    send(msg) {
      if (ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(msg));
      return true;
    },
    /** Sends `msg` and resolves with the first reply whose type is in `okTypes`; rejects on `error` or close. */
    request(msg, okTypes) {
      return new Promise((resolve, reject) => {
        const offs = [];
        const done = (fn, value) => { offs.forEach((off) => off()); fn(value); };
        for (const type of okTypes) offs.push(sig.on(type, (m) => done(resolve, m)));
        offs.push(sig.on('error', (m) => done(reject, Object.assign(new Error(m.message || m.code), { code: m.code }))));
        offs.push(sig.on('close', () => done(reject, Object.assign(new Error('socket closed'), { code: 'closed' }))));
        if (!sig.send(msg)) done(reject, Object.assign(new Error('socket not open'), { code: 'closed' }));
      });
    },
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    /** Set by the call: true once in the room, so a drop is resumed rather than final. */
    set inCall(value) {
      inCall = Boolean(value);
    },
    /** Asked when resuming: whether our peer connection is lost and media must restart. */
    restartMedia: () => false,
    close() {
      closedByUs = true;
      if (ws.readyState <= WebSocket.OPEN) ws.close(1000);
    },
  };

  /** Resolves with the `hello` message; rejects if the socket closes first (refused upgrade, no network). */
  sig.ready = new Promise((resolve, reject) => {
    sig.on('hello', resolve);
    sig.on('close', () => { if (!helloSeen) reject(Object.assign(new Error('socket refused'), { code: 'refused' })); });
  });
  sig.ready.catch(() => {});

  const onMessage = (ev) => {
    if (typeof ev.data !== 'string') return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    if (msg.type === 'hello') {
      helloSeen = true;
      identity = { participant_id: msg.participant_id, resume_token: msg.resume_token };
    }
    emit(msg.type, msg);
    emit('*', msg);
  };

  // One attempt: a new socket, its hello, our resume; resolves true when resumed.
  const tryResume = (old) => new Promise((resolve) => {
    const next = new WebSocket(url);
    let settled = false;
    const settle = (ok) => {
      if (settled) return;
      settled = true;
      if (!ok) { next.onclose = null; try { next.close(); } catch { /* already closed */ } }
      resolve(ok);
    };
    next.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg?.type === 'hello') {
        next.send(JSON.stringify({ type: 'resume', participant_id: old.participant_id, token: old.resume_token, restart_media: Boolean(sig.restartMedia()) }));
        identity = { participant_id: old.participant_id, resume_token: msg.resume_token };
      } else if (msg?.type === 'resumed') {
        ws = next;
        ws.onmessage = onMessage;
        ws.onclose = onClose;
        settle(true);
        emit('resumed', msg);
      } else if (msg?.type === 'error') {
        settled = true;
        next.onclose = null;
        next.close();
        resolve('refused');
      }
    };
    next.onclose = () => settle(false);
  });

  async function reconnect(old) {
    emit('reconnecting', {});
    for (const pause of RETRY_MS) {
      await new Promise((r) => setTimeout(r, pause));
      if (closedByUs) return;
      const result = await tryResume(old);
      if (result === true) return;
      if (result === 'refused') break;
    }
    emit('close', { code: 1006, byUs: false });
  }

  const onClose = (ev) => {
    const resumable = !closedByUs && inCall && identity && ev.code !== 1000 && ev.code !== 1008;
    if (resumable) {
      reconnect(identity);
      return;
    }
    emit('close', { code: ev.code, byUs: closedByUs });
  };

  ws.onmessage = onMessage;
  ws.onclose = onClose;
  return sig;
}

/** Opens the socket and sends `join`; resolves { signaling, reply } or rejects (code `unsupported` on a server without rooms). */
export async function joinRoom(query, joinMsg, replyTypes) {
  const signaling = openSignaling(query);
  try {
    await signaling.ready;
    const reply = await signaling.request(joinMsg, replyTypes);
    return { signaling, reply };
  } catch (err) {
    signaling.close();
    throw err;
  }
}
