// Where a PII match may begin in text that may be raw JSON: shared by every detector (ledger/pii/).
export interface PiiSpan { start: number; end: number; type: string }

// ---------------------------------------------------------------------------------------------------
// Boundaries are checked in code, not with a leading lookbehind: a pattern that starts with a lookbehind
// defeats irregexp's first-character scan and costs ~10× on prose. A match may start where the previous
// character is not a word character, or where it is the letter of a JSON escape (`\n`, `\t`, `\uXXXX`),
// which in the decoded text is a separator.
export function startsAtBoundary(text: string, i: number, alsoReject: string): boolean {
  if (i === 0) return true;
  const c = text.charCodeAt(i - 1);
  if (alsoReject.includes(text[i - 1]!)) return false;
  const word = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
  if (!word && c !== 92) return true;
  if (c === 92) return false; // the match would begin inside an escape
  if (i >= 2 && text.charCodeAt(i - 2) === 92 && 'nrtbf'.includes(text[i - 1]!)) return true;
  return i >= 6 && text[i - 6] === '\\' && text[i - 5] === 'u' && /^[0-9A-Fa-f]{4}$/.test(text.slice(i - 4, i));
}
