// Candidate positions without a regex pass over the text. V8 runs a one-character `indexOf` as a vectorised
// memchr (~0.01 ns a character over prose), while any regex whose first character is a class (`\d`, `\p{Lu}`,
// `[A-Z]`) or a multi-character literal steps through the text at ~0.5–0.9 ns a character (bench/README.md,
// "Redaction cost (session 4)"). A detector whose every match starts at (or a fixed distance before) one of a
// few characters finds those characters with one `indexOf` per character and runs its regex, sticky, only there.

/**
 * Every position of any of `chars` in `text`, ascending, or undefined when there are more than `max` (dense
 * text: then the detector's own global regex scan is cheaper than one call per candidate). One indexOf loop per
 * character (4.5 µs for the 26 capitals over 16 KB of prose, against 14 µs for a cursor taking the minimum of
 * 26 next positions at each step), then one sort.
 */
export function positionsOf(text: string, chars: string, max: number): Int32Array | undefined {
  const found: number[] = [];
  for (let c = 0; c < chars.length; c++) {
    const ch = chars[c]!;
    for (let i = text.indexOf(ch); i !== -1; i = text.indexOf(ch, i + 1)) {
      if (found.length === max) return undefined;
      found.push(i);
    }
  }
  return Int32Array.from(found).sort();
}

export const DIGITS = '0123456789';
/** Texts shorter than this keep the plain regex scans: for them finding candidates first measured no cheaper. */
export const SHORT_TEXT = 1024;
export const ASCII_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** True when every character is ASCII: UTF-8 length equals UTF-16 length only then (and V8 computes it fast). */
export const isAscii = (text: string): boolean => Buffer.byteLength(text, 'utf8') === text.length;
