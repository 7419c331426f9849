// Step 4: the video call, once the specialist admitted the patient. The call
// survives redraws (language switch); leaving the page leaves the room.

import { replace } from '../dom.js';
import { startCall } from '../call/session.js';
import { say } from './main.js';

export function callStep(main, flow) {
  clearTimeout(flow.waitTimer);
  if (!flow.call) {
    flow.call = startCall({
      signaling: flow.room.signaling,
      selfId: flow.room.selfId,
      staff: false,
      announce: say,
      onFinished: () => document.body.classList.remove('in-call'),
    });
    window.addEventListener('pagehide', () => flow.call?.leave());
  } else {
    flow.call.view.relabel();
  }
  document.body.classList.toggle('in-call', !flow.call.view.state.ended);
  replace(main, flow.call.view.el);
}
