// Small line icons for the call controls (decorative: every button also has
// its words). Static markup, never built from user input.

const PATHS = {
  mic: '<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3M8 21h8"/>',
  cam: '<rect x="3" y="6" width="12" height="12" rx="2"/><path d="M15 10l6-3v10l-6-3z"/>',
  switch: '<path d="M4 8h14l-3-3M20 16H6l3 3"/>',
  audio: '<path d="M4 10h4l5-4v12l-5-4H4z"/><path d="M16 9a4 4 0 0 1 0 6M18.5 6.5a8 8 0 0 1 0 11"/>',
  chat: '<path d="M4 5h16v11H9l-5 4z"/>',
  hangup: '<path d="M2.5 15.5c5.2-4.7 13.8-4.7 19 0l-2.6 2.8-3.9-1.4v-2.6c-2.6-1-5.4-1-8 0v2.6l-3.9 1.4z" fill="currentColor"/>',
  slash: '<path d="M3 3l18 18"/>',
};

export function icon(name, off = false) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', 'icon');
  svg.innerHTML = PATHS[name] + (off ? PATHS.slash : '');
  return svg;
}
