// The candidate shortcuts (scan.ts, people.ts, redact.ts) must find what the plain regex scans find. Each value
// is looked for twice: alone in a short line (dense: the detectors' own global regex scans run) and inside ~16 KiB
// of ASCII prose whose few capitals and digits send every detector down its memchr candidate path.
import { describe, expect, it } from 'vitest';
import { findPii, redactText } from './redact.ts';

const PROSE = 'The quick brown fox jumps over the lazy dog while the model explains tokenization. '.repeat(200);

const CASES: readonly [string, string, string][] = [
  ['person_name', 'The review went well, thanks to Jane Doe today.', 'Jane Doe'],
  ['person_name', 'Thanks Kenji, that fixed it.', 'Kenji'],
  ['person_name', 'Ask Ludwig van Beethoven about it.', 'Ludwig van Beethoven'],
  ['person_name', 'Prof. Gunnar Eriksen will chair the session.', 'Gunnar Eriksen'],
  ['person_name', 'Invite Hye-jin Cho to the retro.', 'Hye-jin Cho'],
  ['person_name', 'From: Aleksander Nowicki', 'Aleksander Nowicki'],
  ['phone', 'Call (415) 555-2671 after lunch.', '(415) 555-2671'],
  ['phone', 'Call +44 20 7946 0958 after lunch.', '+44 20 7946 0958'],
  ['phone', 'Call 0044 20 7946 0958 after lunch.', '0044 20 7946 0958'],
  ['credit_card', 'The card is 4111 1111 1111 1111 now.', '4111 1111 1111 1111'],
  ['ssn', 'My SSN is 123-45-6789 here.', '123-45-6789'],
  ['ip_address', 'The host is 192.168.10.20 today.', '192.168.10.20'],
  ['ip_address', 'The host is 2001:db8:85a3::8a2e:370:7334 today.', '2001:db8:85a3::8a2e:370:7334'],
  ['iban', 'Pay to DE89 3704 0044 0532 0130 00 please.', 'DE89 3704 0044 0532 0130 00'],
  ['street_address', 'Send it to 221B Baker Street today.', '221B Baker Street'],
  ['street_address', 'Send it to Calle Mayor 10 today.', 'Calle Mayor 10'],
  ['street_address', 'Send it to Via Roma, 15 today.', 'Via Roma, 15'],
  ['street_address', 'Send it to Prinsengracht 263 today.', 'Prinsengracht 263'],
  ['street_address', 'Send it to PO Box 123 today.', 'PO Box 123'],
  ['secret', 'key sk-proj-abcdEFGH1234ijklMNOP5678 here', 'sk-proj-abcdEFGH1234ijklMNOP5678'],
  ['secret', 'key rk_live_abcdEFGH1234ijklMNOP here', 'rk_live_abcdEFGH1234ijklMNOP'],
  ['secret', 'key AKIAIOSFODNN7EXAMPLE here', 'AKIAIOSFODNN7EXAMPLE'],
  ['secret', 'key ghp_abcdefghijklmnopqrstuvwxyz0123456789 here', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'],
  ['secret', 'key github_pat_abcdefghijklmnopqrstuv0123 here', 'github_pat_abcdefghijklmnopqrstuv0123'],
  ['secret', 'Authorization: Bearer abcdefghijklmnop0123456789', 'abcdefghijklmnop0123456789'],
  ['secret', 'token eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4 here', 'eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4'],
];

const values = (text: string, type: string): string[] => findPii(text).filter((s) => s.type === type).map((s) => text.slice(s.start, s.end));

describe('candidate shortcuts find what the regex scans find', () => {
  it.each(CASES)('%s: %s', (type, line, value) => {
    expect(values(line, type)).toContain(value);
    expect(values(PROSE + line + '\n' + PROSE, type)).toContain(value);
  });

  it('finds the same spans in prose as in the line alone, shifted', () => {
    for (const [, line] of CASES) {
      const shifted = findPii(PROSE + line).map((s) => ({ ...s, start: s.start - PROSE.length, end: s.end - PROSE.length }));
      expect(shifted).toEqual(findPii(line));
    }
  });

  it('an escaped printable character in a JSON body is still unescaped before the scan', () => {
    // The JSON text carries `jane\u0040example.com`: only the unescape step (its memchr pre-test) reveals the address.
    const body = JSON.stringify({ content: PROSE + 'mail jane@example.com' }).replace('@', '\\u0040');
    expect(body).toContain('jane\\u0040example.com');
    expect(JSON.parse(redactText(body, undefined, { json: true }))).toEqual({ content: PROSE + 'mail [EMAIL_1]' });
  });
});
