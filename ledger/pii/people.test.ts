// Person names and street addresses on sentences written by hand, apart from the generated corpus and its
// templates (the corpus tunes the detectors; these check that they carry over). Each case says what must be
// redacted; a held-out miss is listed in HELD_OUT_MISSES with why, and bench/redaction-eval.md reports the rate.
import { describe, expect, it } from 'vitest';
import { findPii, redactText } from './redact.ts';

const found = (text: string, type: string): string[] => findPii(text).filter((s) => s.type === type).map((s) => text.slice(s.start, s.end));

export const HELD_OUT_NAMES: readonly [string, string][] = [
  ['Could you proofread the cover letter Hamid Rezaei sent this morning?', 'Hamid Rezaei'],
  ['Last week I spoke with Bongani Dlamini about the migration.', 'Bongani Dlamini'],
  ['Set up a call with Ewa Kamińska for Thursday.', 'Ewa Kamińska'],
  ['Hi Rafael, the invoice is attached.', 'Rafael'],
  ['The customer, Mrs. Hoang, wants a refund.', 'Hoang'],
  ['Draft a thank-you note to Isabella Conti and her team.', 'Isabella Conti'],
  ['Our new hire Tariq Hussain starts Monday.', 'Tariq Hussain'],
  ['Please ask Sunita Kapoor if she approved it.', 'Sunita Kapoor'],
  ['Regards,\nMarta Oliveira', 'Marta Oliveira'],
  ['From: Aleksander Nowicki', 'Aleksander Nowicki'],
  ['Can you translate this for Keiko Nakamura?', 'Keiko Nakamura'],
  ['Emeka Obi said the tests are flaky.', 'Emeka Obi'],
  ['I need a birthday message for my friend Astrid Holm.', 'Astrid Holm'],
  ['Prof. Gunnar Eriksen will chair the session.', 'Gunnar Eriksen'],
  ['Write a reference letter for Nadia Benali.', 'Nadia Benali'],
  ['Thanks Kenji, that fixed it.', 'Kenji'],
  ['The ticket was opened by Lucas Ferreira.', 'Lucas Ferreira'],
  ['Invite Hye-jin Cho to the retro.', 'Hye-jin Cho'],
  ['Mr. Abdullah bin Zayed arrives at noon.', 'Abdullah bin Zayed'],
  ['Tell Pedro Alvarez the build is fixed.', 'Pedro Alvarez'],
];

export const HELD_OUT_ADDRESSES: readonly [string, string][] = [
  ['Send the samples to 742 Evergreen Terrace, please.', '742 Evergreen Terrace'],
  ['Our warehouse is at 55 Water Street, Brooklyn.', '55 Water Street'],
  ['New office: 10 Downing Street, London.', '10 Downing Street'],
  ['Meet me at 3 rue des Rosiers at noon.', '3 rue des Rosiers'],
  ['Die Rechnung geht an Lindenstraße 14, 50674 Köln.', 'Lindenstraße 14'],
  ['Entrega en Calle de Alcalá 48, Madrid.', 'Calle de Alcalá 48'],
  ['Il negozio è in Via Montenapoleone 8, Milano.', 'Via Montenapoleone 8'],
  ['Ship to 1 Infinite Loop, Cupertino.', '1 Infinite Loop'],
  ['Address: Keizersgracht 123, Amsterdam', 'Keizersgracht 123'],
  ['Apartment is at 88 Collins Street, Melbourne.', '88 Collins Street'],
];

export const HELD_OUT_NEGATIVES: readonly string[] = [
  'Summarise the attached Annual Report for the Board.',
  'Is Google Chrome faster than Mozilla Firefox?',
  'We are hosting the event in Cape Town this year.',
  'Convert this Jupyter Notebook to a Python Script.',
  'The Eiffel Tower is closed on Monday.',
  'Our Customer Success Team will reply soon.',
  'Try the New Relic dashboard.',
  'Read chapter 4 of Clean Code before the review.',
  'The Golden Gate Bridge was painted in 1937.',
  'Buy 2 Pack Street Tacos at the stand.',
  'I have 3 Main Concerns about the plan.',
  'Flight 370 Boston to Dallas departs at 9.',
  'Open Visual Studio and run the Unit Tests.',
  'The Federal Reserve raised rates again.',
  'Welcome to Acme Corp, the best in town.',
];

/**
 * Held-out cases the detectors get wrong, with why: the honest list, not a skip (each is asserted to still be
 * wrong, so a fix shows up here). First run on this set, before any change for it: names 19 / 20 (`Mrs. Hoang`),
 * addresses 9 / 10, lookalikes kept 13 / 15 (`The Eiffel Tower is`, `2 Pack Street`); the title and article rules
 * were added after, so the figures below are no longer held out (bench/redaction-eval.md keeps both).
 */
const HELD_OUT_MISSES = new Set<string>([
  'Ship to 1 Infinite Loop, Cupertino.', // `Loop` is not a street word the detector knows
  'Buy 2 Pack Street Tacos at the stand.', // reads as a street address to any shape-based detector
]);

describe('person names on hand-written sentences', () => {
  it.each(HELD_OUT_NAMES)('%s', (text, name) => {
    if (HELD_OUT_MISSES.has(text)) expect(found(text, 'person_name')).not.toContain(name);
    else expect(found(text, 'person_name')).toContain(name);
  });
});

describe('street addresses on hand-written sentences', () => {
  it.each(HELD_OUT_ADDRESSES)('%s', (text, street) => {
    if (HELD_OUT_MISSES.has(text)) expect(found(text, 'street_address')).not.toContain(street);
    else expect(found(text, 'street_address')).toContain(street);
  });
});

describe('lookalikes are kept', () => {
  it.each(HELD_OUT_NEGATIVES.map((t) => [t]))('%s', (text) => {
    if (HELD_OUT_MISSES.has(text)) expect(findPii(text).length).toBeGreaterThan(0);
    else expect(findPii(text).filter((s) => s.type === 'person_name' || s.type === 'street_address')).toEqual([]);
  });
});

describe('what LLM traffic is full of is not a person', () => {
  it.each([
    ['Hi Claude, can you help me with Python Flask?'], ['Thanks ChatGPT!'], ['Ask Gemini to summarise it'], ['I built it with React Native and Node'],
    ['Deploy to Kubernetes with Docker Compose'], ['Tell Siri to call home'], ['Migrate from MySQL to Postgres'],
  ])('%s', (text) => {
    expect(found(text, 'person_name')).toEqual([]);
  });
});

describe('in JSON bodies', () => {
  it('redacts names and streets inside string values, and the body still parses to the same shape', () => {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Dear Ngozi Eze,\nyour parcel goes to Hauptstraße 5 "as agreed".' }] });
    const out = redactText(body, undefined, { json: true });
    expect(JSON.parse(out)).toEqual({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Dear [NAME_1],\nyour parcel goes to [ADDRESS_1] "as agreed".' }] });
  });

  it('a name right after a JSON escape is found, a word inside an escape never starts one', () => {
    const body = JSON.stringify({ content: 'Regards,\nTomasz Nowak' });
    expect(found(body, 'person_name')).toEqual(['Tomasz Nowak']);
  });
});
