// How the rural benchmark shows figures in its Markdown tables.

/** A share to a hundredth of a percent, for the per-profile tables. */
export const pctFine = (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(2)} %`);

/** What a profile without targets (the fiber reference) is summed up by. */
export function referenceFigures(a) {
  const [p, s] = [a.directions['to-patient'], a.directions['to-specialist']];
  return `fps ${p.fpsMedian}/${s.fpsMedian}, ${p.heightMedian}p/${s.heightMedian}p, ` +
    `concealed ${pctFine(p.audioConcealed)}/${pctFine(s.audioConcealed)}`;
}
