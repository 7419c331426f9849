// Camera and microphone access for the device check: asking for them,
// naming what went wrong in words a patient can act on, measuring the
// microphone level, and a speaker test tone made with WebAudio (no file to
// download on a slow link).

/** In-app browsers (WhatsApp, Facebook, Instagram…) often block the camera. */
export function inAppBrowser(ua = navigator.userAgent) {
  if (/WhatsApp/i.test(ua)) return 'WhatsApp';
  if (/FBAN|FBAV|FB_IAB|FBIOS|Messenger/i.test(ua)) return 'Facebook';
  if (/Instagram/i.test(ua)) return 'Instagram';
  if (/\bLine\//i.test(ua)) return 'LINE';
  if (/MicroMessenger/i.test(ua)) return 'WeChat';
  if (/TikTok|musical_ly|BytedanceWebview/i.test(ua)) return 'TikTok';
  return null;
}

/** One word for a getUserMedia failure: denied, in_use, not_found, unsupported. */
export function classify(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return 'denied';
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return 'in_use';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return 'not_found';
    default:
      return 'unsupported';
  }
}

/**
 * Asks for camera and microphone; if there is no camera, for the microphone
 * alone. Resolves { stream, videoProblem } or rejects with the audio failure.
 */
export async function openDevices() {
  if (!navigator.mediaDevices?.getUserMedia) {
    const e = new Error('no getUserMedia');
    e.name = 'NotSupportedError';
    throw e;
  }
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio,
      video: { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } },
    });
    return { stream, videoProblem: null };
  } catch (err) {
    const kind = classify(err);
    if (kind !== 'not_found' && kind !== 'in_use') throw err;
    // The camera is missing or busy: the consult can still go on by voice.
    const stream = await navigator.mediaDevices.getUserMedia({ audio });
    return { stream, videoProblem: kind };
  }
}

let sharedContext = null;
function audioContext() {
  if (!sharedContext) sharedContext = new (window.AudioContext || window.webkitAudioContext)();
  if (sharedContext.state === 'suspended') sharedContext.resume();
  return sharedContext;
}

/** Calls onLevel(0..1) about ten times a second; returns a stop function. */
export function watchLevel(stream, onLevel) {
  const ctx = audioContext();
  const source = ctx.createMediaStreamSource(stream);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const rms = Math.sqrt(sum / samples.length);
    // Speech at a normal distance is around 0.02-0.2 RMS; scale so it fills the bar.
    onLevel(Math.min(1, rms * 5));
  }, 100);
  return () => {
    clearInterval(timer);
    source.disconnect();
  };
}

/** Plays three rising notes (about one second). Resolves when done. */
export function playTestSound() {
  const ctx = audioContext();
  const start = ctx.currentTime + 0.05;
  [523.25, 659.25, 783.99].forEach((freq, i) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    const t0 = start + i * 0.35;
    gain.gain.setValueAtTime(0.0001, t0);
    gain.gain.exponentialRampToValueAtTime(0.4, t0 + 0.03);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.32);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t0);
    osc.stop(t0 + 0.34);
  });
  return new Promise((resolve) => setTimeout(resolve, 1200));
}

export function stopStream(stream) {
  stream?.getTracks().forEach((track) => track.stop());
}
