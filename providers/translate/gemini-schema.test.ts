import { describe, expect, it } from 'vitest';
import { TranslationError } from './errors.ts';
import { toGeminiSchema } from './gemini-schema.ts';

function convert(schema: Record<string, unknown>): { schema: Record<string, unknown>; notes: string[] } {
  const notes: string[] = [];
  return { schema: toGeminiSchema(schema, 'schema', notes), notes };
}

function refused(schema: Record<string, unknown>): string {
  try {
    convert(schema);
  } catch (err) {
    if (err instanceof TranslationError) return err.message;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('JSON Schema → Gemini Schema', () => {
  it('converts a strict OpenAI schema (types upper-cased, nullable unions, additionalProperties false dropped as equivalent)', () => {
    // As OpenAI's strict mode wants it: every property required, no additional ones.
    const city = { type: 'string', description: 'City name' };
    const temperature = { type: 'number', minimum: -90, maximum: 60 };
    const conditions = { type: 'string', enum: ['sunny', 'cloudy', 'rain'] };
    const required = ['city', 'temperature_c', 'conditions', 'alerts', 'wind_kph'];
    const strict = {
      type: 'object',
      properties: { city, temperature_c: temperature, conditions, alerts: { type: 'array', items: { type: 'string' }, maxItems: 5 }, wind_kph: { type: ['integer', 'null'] } },
      required,
      additionalProperties: false,
    };
    expect(convert(strict)).toEqual({
      schema: {
        type: 'OBJECT',
        properties: {
          city: { ...city, type: 'STRING' },
          temperature_c: { ...temperature, type: 'NUMBER' },
          conditions: { ...conditions, type: 'STRING' },
          alerts: { type: 'ARRAY', items: { type: 'STRING' }, maxItems: 5 },
          wind_kph: { type: 'INTEGER', nullable: true },
        },
        required,
      },
      notes: [],
    });
  });

  it('inlines $defs references (pydantic and zod-to-json-schema output) and maps const and oneOf', () => {
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { home: { $ref: '#/$defs/Address', description: 'Where they live' }, kind: { const: 'person' }, contact: { oneOf: [{ type: 'string' }, { type: 'integer' }] } },
      $defs: { Address: { type: 'object', properties: { street: { type: 'string' } }, required: ['street'] } },
    };
    expect(convert(schema)).toEqual({
      schema: {
        type: 'OBJECT',
        properties: {
          home: { type: 'OBJECT', properties: { street: { type: 'STRING' } }, required: ['street'], description: 'Where they live' },
          kind: { type: 'STRING', enum: ['person'] },
          contact: { anyOf: [{ type: 'STRING' }, { type: 'INTEGER' }] },
        },
      },
      notes: ['schema.properties.contact.oneOf'],
    });
  });

  it('notes the keywords Gemini does not enforce instead of dropping them silently', () => {
    const { schema, notes } = convert({
      type: 'object',
      properties: { email: { type: 'string', format: 'email' }, when: { type: 'string', format: 'date-time' }, n: { type: 'integer', multipleOf: 5 } },
      additionalProperties: { type: 'string' },
    });
    expect(schema).toEqual({ type: 'OBJECT', properties: { email: { type: 'STRING' }, when: { type: 'STRING', format: 'date-time' }, n: { type: 'INTEGER' } } });
    expect(notes).toEqual(['schema.properties.email.format', 'schema.properties.n.multipleOf', 'schema.additionalProperties']);
  });

  it('refuses what the subset cannot express, naming the keyword', () => {
    expect(refused({ type: 'object', properties: { node: { $ref: '#/$defs/Node' } }, $defs: { Node: { type: 'object', properties: { next: { $ref: '#/$defs/Node' } } } } })).toBe(
      "schema.properties.node.properties.next.$ref is not supported when the model is served by Gemini: #/$defs/Node is recursive, which Gemini's schema cannot express",
    );
    expect(refused({ type: 'integer', enum: [1, 2, 3] })).toBe('schema.enum is not supported when the model is served by Gemini: Gemini enums are strings only');
    expect(refused({ type: ['string', 'number'] })).toMatch(/^schema.type is not supported/);
    expect(refused({ type: 'array', items: [{ type: 'string' }, { type: 'number' }] })).toMatch(/^schema.items is not supported/);
    expect(refused({ allOf: [{ type: 'object' }, { required: ['a'] }] })).toMatch(/^schema.allOf is not supported/);
    expect(refused({ $ref: 'https://example.com/schema.json' })).toMatch(/^schema.\$ref is not supported .* only local references/);
    expect(refused({ type: 'decimal' })).toBe('schema.type: "decimal" is not a JSON Schema type');
  });
});
