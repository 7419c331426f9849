// The WebSocket to /ws (docs/protocol.md): JSON messages in and out, handlers
// by message `type`, and a promise for the server's `hello`. No reconnection:
// a dropped socket is reported once as a `close` event.

export function openSignaling(query = '') {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/ws${query}`);
  const handlers = new Map();
  let closedByUs = false;
  let helloSeen = false;

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

  ws.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string') return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    if (msg.type === 'hello') helloSeen = true;
    emit(msg.type, msg);
    emit('*', msg);
  });
  ws.addEventListener('close', (ev) => emit('close', { code: ev.code, byUs: closedByUs }));
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
