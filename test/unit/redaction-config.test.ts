// The `redaction` section of sightline.yaml as the ingest worker applies it: global switches, opt-in detectors,
// custom patterns, allowlist, and per-organisation overrides.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/index.ts';
import { redactorFromConfig } from '../../ingest/pipeline.ts';
import { makeEvent } from '../helpers/events.ts';

const yaml = `
redaction:
  disabled_types: [ip_address]
  optional_types: [person_name]
  custom:
    employee_id: 'EMP-\\d{6}'
  allowlist: [support@acme.example]
  organizations:
    org_hr:
      disabled_types: [email]
    org_off:
      enabled: false
`;
const redact = redactorFromConfig(parseConfig(yaml, {}).redaction);
const body = (text: string) => JSON.stringify({ messages: [{ role: 'user', content: text }] });
const text = 'Dear Maria Gonzalez, mail jo@example.com or support@acme.example, host 10.1.2.3, badge EMP-123456';

describe('redaction config', () => {
  it('applies the global policy: custom pattern, opt-in names, allowlist, a disabled type', () => {
    const out = redact(makeEvent({ organization_id: 'org_any', request_body: body(text) }));
    const content = (JSON.parse(out.request_body) as { messages: { content: string }[] }).messages[0]!.content;
    expect(content).toContain('[EMAIL_1]');
    expect(content).toContain('[EMPLOYEE_ID_1]');
    expect(content).toContain('[NAME_1]');
    expect(content).toContain('support@acme.example');
    expect(content).toContain('10.1.2.3');
    expect(content).not.toContain('jo@example.com');
    expect(content).not.toContain('EMP-123456');
  });

  it('an organisation can switch types off or redaction altogether; its custom patterns add to the global ones', () => {
    const hr = redact(makeEvent({ organization_id: 'org_hr', request_body: body(text) })).request_body;
    expect(hr).toContain('jo@example.com');
    expect(hr).toContain('[EMPLOYEE_ID_1]');
    expect(redact(makeEvent({ organization_id: 'org_off', request_body: body(text) })).request_body).toBe(body(text));
  });

  it('rejects an unknown opt-in detector at config time, naming the field', () => {
    expect(() => parseConfig('redaction:\n  optional_types: [passport]\n', {})).toThrow(/redaction\.optional_types\.0/);
  });
});
