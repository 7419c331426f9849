// The call's own camera and microphone: open them (camera optional), list
// cameras for "Cambiar cámara", and open the next camera.

const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
// 30 fps where the camera gives it: motion (a patient showing how a joint
// moves, a tremor) matters in a consult; the encoder lowers it under load.
const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30, max: 30 } };

/** Microphone and camera; if the camera fails, the microphone alone; if that fails too, an empty stream. */
export async function openCallMedia() {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: AUDIO, video: { ...VIDEO, facingMode: 'user' } });
  } catch {
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: AUDIO });
    } catch {
      return new MediaStream();
    }
  }
}

export async function cameras() {
  try {
    return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
  } catch {
    return [];
  }
}

/** A video track from the camera after `currentId` (or any camera). */
export async function openCamera(currentId) {
  const list = await cameras();
  const i = list.findIndex((d) => d.deviceId === currentId);
  const next = list.length > 1 ? list[(i + 1) % list.length] : null;
  const video = next ? { ...VIDEO, deviceId: { exact: next.deviceId } } : { ...VIDEO, facingMode: 'user' };
  const s = await navigator.mediaDevices.getUserMedia({ video });
  return s.getVideoTracks()[0];
}

export function stopTracks(stream) {
  stream?.getTracks().forEach((track) => track.stop());
}
