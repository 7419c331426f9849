// A deliberately tiny Markdown renderer for the privacy notice: HTML is
// escaped first, then only headings, list items, paragraphs and **bold** are
// recognised. Nothing from the text can become a tag or an attribute.

function escape(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function inline(s) {
  return escape(s).replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>');
}

/** Markdown text → HTML string (safe to assign to innerHTML). */
export function renderMarkdown(text, { headingLevel = 2 } = {}) {
  const out = [];
  for (const block of text.replace(/\r\n/g, '\n').split(/\n{2,}/)) {
    const lines = block.trim().split('\n');
    if (!lines[0]) continue;
    const heading = /^(#{1,6})\s+(.*)$/.exec(lines[0]);
    if (heading && lines.length === 1) {
      const level = Math.min(6, headingLevel + heading[1].length - 1);
      out.push(`<h${level}>${inline(heading[2])}</h${level}>`);
    } else if (lines.every((l) => /^\s*[-*]\s+/.test(l))) {
      out.push(`<ul>${lines.map((l) => `<li>${inline(l.replace(/^\s*[-*]\s+/, ''))}</li>`).join('')}</ul>`);
    } else {
      out.push(`<p>${lines.map(inline).join(' ')}</p>`);
    }
  }
  return out.join('\n');
}
